"""A curation project's state: one SQLite file, safe for several labelers at once.

``Project`` is the one object the commands and the labeling server use; its
queries are split by concern: the file, its schema and settings
(``database.py``), images, features and suggestions (``images.py``), labels and
final labels (``labels.py``), review, audit and the overview (``review.py``).
"""

from __future__ import annotations

from cyclegan.curate.database import (
    DEFAULT_TAXONOMY,
    Conflict,
    CurationError,
    Forbidden,
    NotFound,
    ProjectDatabase,
    validate_taxonomy,
)
from cyclegan.curate.images import ImageRecords
from cyclegan.curate.labels import LEASE_SECONDS, Labeling, key_hash
from cyclegan.curate.review import Progress, ReviewAndAudit, wilson_interval


class Project(ImageRecords, Labeling, ReviewAndAudit, ProjectDatabase):
    """A curation project folder: ``curation.sqlite`` and ``cache/`` (views, thumbnails)."""


__all__ = [
    "DEFAULT_TAXONOMY",
    "LEASE_SECONDS",
    "Conflict",
    "CurationError",
    "Forbidden",
    "NotFound",
    "Progress",
    "Project",
    "key_hash",
    "validate_taxonomy",
    "wilson_interval",
]
