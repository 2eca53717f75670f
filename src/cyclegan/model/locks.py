"""One writer per folder: an advisory lock on a file inside it, held for a process's life.

The lock is ``flock`` on POSIX and ``msvcrt.locking`` on Windows. The operating
system drops it when the process ends in any way, ``kill -9`` and power cuts
included, so a lock is never stale: the file may stay, the lock does not. The
file holds who took it (process id, host, time, command) so that a second
process can name the first. A training run's folder (``RUN/.lock``,
``training/runfolder.py``) and a translation's output folder (its manifest's
lock, ``inference/manifest.py``) are guarded this way.

The lock is advisory and local: two machines that mount one folder over a
network file system may not see each other's locks (NFS without lockd, some
FUSE mounts). Multi-machine jobs run under torchrun, where rank 0 alone takes it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from cyclegan.errors import ConfigError

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


class FolderLock:
    """The lock file ``path``, held from ``acquire`` to ``release``. ``refusal`` is the
    error when another process holds it, with ``{holder}`` where to name that one."""

    def __init__(self, path: Path, refusal: str):
        self.path, self.refusal = Path(path), refusal
        self.fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock or raise a ``ConfigError`` naming the process that has it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            holder = _holder(fd)
            os.close(fd)
            raise ConfigError(self.refusal.format(holder=holder))
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

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        about = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {int(about['pid'])} on {about['host']}, since {about['since']}"
    except (ValueError, KeyError, TypeError, OSError, RecursionError):
        return "its process id is not recorded yet"


def is_lock_file(path: Path) -> bool:
    """Whether ``path`` is a lock file this module wrote (empty, or naming its holder)."""
    try:
        text = path.read_text()[:4096]
        return not text.strip() or "pid" in json.loads(text)
    except (OSError, ValueError, TypeError, RecursionError):
        return False
