"""Who may write a run folder: one training process at a time, and only into a folder
that is empty or already a run of ours.

A training process holds an advisory lock on ``RUN/.lock`` for its whole life
(``flock`` on POSIX, ``msvcrt.locking`` on Windows). The operating system drops
the lock when the process ends in any way, ``kill -9`` and power cuts included,
so a lock is never stale: the file may stay, the lock does not. The file holds
who took it (process id, host, time, command) so that a second process can name
the first. Readers (``report``, ``results``, ``evaluate``, ``translate``) never
take it: every file they read is replaced atomically or appended whole.

A fresh run starts only in a folder that does not exist, is empty, or is a run of
ours (``options.json`` written by this toolkit): a folder holding other files is
refused untouched, since a run would write ``losses.jsonl``, ``index.html`` and
others over whatever has those names.

The lock is advisory and local: two machines that mount one run folder over a
network file system may not see each other's locks (NFS without lockd, some
FUSE mounts). Run multi-machine jobs with torchrun, where rank 0 alone writes.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from cyclegan.errors import ConfigError
from cyclegan.model.layout import LOCK, RunFiles
from cyclegan.model.run_checkpoints import read_run_options

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False


class RunLock:
    """The one-writer lock of a run folder, held from ``acquire`` to ``release``."""

    def __init__(self, folder: Path):
        self.path = RunFiles(folder).lock
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise a ``ConfigError`` naming the process that has it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            holder = _holder(fd)
            os.close(fd)
            raise ConfigError(
                f"run folder {self.path.parent} is in use by another training process "
                f"({holder}); wait for it to end, stop it, or choose another --run folder"
            )
        # Who holds it, for the next one to read; written only while holding the lock.
        about = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join(sys.argv)[:300],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(about) + "\n").encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        about = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {int(about['pid'])} on {about['host']}, since {about['since']}"
    except (ValueError, KeyError, TypeError, OSError, RecursionError):
        return "its process id is not recorded yet"


def _our_lock(path: Path) -> bool:
    """Whether ``path`` is a lock file this module wrote (empty, or naming its holder)."""
    try:
        text = path.read_text()[:4096]
        return not text.strip() or "pid" in json.loads(text)
    except (OSError, ValueError, TypeError, RecursionError):
        return False


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
    found = sorted(p.name for p in folder.iterdir() if p.name != LOCK or not _our_lock(p))
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ConfigError(
            f"--run {folder} is not empty and not a cyclegan run (it holds {shown}); a run "
            "writes files such as losses.jsonl and index.html there, so it starts only in "
            "a new or empty folder. Choose another --run folder"
        )
