"""Who may write a run folder: one training process at a time, and only into a folder
that is empty or already a run of ours.

A training process holds an advisory lock on ``RUN/.lock`` for its whole life
(``model/locks.py``: never stale, names its holder). Readers (``report``,
``results``, ``evaluate``, ``translate``) never take it: every file they read is
replaced atomically or appended whole.

A fresh run starts only in a folder that does not exist, is empty, or is a run of
ours (``options.json`` written by this toolkit): a folder holding other files is
refused untouched, since a run would write ``losses.jsonl``, ``index.html`` and
others over whatever has those names.
"""

from __future__ import annotations

from pathlib import Path

from cyclegan.errors import ConfigError
from cyclegan.model.layout import LOCK, RunFiles
from cyclegan.model.locks import FolderLock, is_lock_file
from cyclegan.model.run_checkpoints import read_run_options


class RunLock(FolderLock):
    """The one-writer lock of a run folder (``RUN/.lock``), held from ``acquire`` to
    ``release``."""

    def __init__(self, folder: Path):
        super().__init__(
            RunFiles(folder).lock,
            f"run folder {Path(folder)} is in use by another training process ({{holder}}); "
            "wait for it to end, stop it, or choose another --run folder",
        )


def is_our_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run this toolkit made: options it wrote itself."""
    return {"data", "run", "network"} <= set(read_run_options(folder))


def check_fresh_folder(folder: Path) -> None:
    """Refuse to start a new run in a folder that holds files of someone else's."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--run {folder} is a file, not a folder")
    if not folder.is_dir() or is_our_run(folder):
        return
    # Our own lock file (a run that died before writing its options) does not count;
    # a user's own file named .lock does, and is never truncated.
    found = sorted(p.name for p in folder.iterdir() if p.name != LOCK or not is_lock_file(p))
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ConfigError(
            f"--run {folder} is not empty and not a cyclegan run (it holds {shown}); a run "
            "writes files such as losses.jsonl and index.html there, so it starts only in "
            "a new or empty folder. Choose another --run folder"
        )
