"""Curation: from a raw pile of scraped images to clean domain folders.

``store`` (the SQLite project), ``scan`` (decode checks and duplicates),
``server`` and ``page.html`` (the labeling page), ``export`` (training folders
and labels), ``suggest`` (optional label proposals), ``cli`` (the commands).
Needs the ``curate`` extra: ``pip install 'cyclegan[curate]'``.
"""
