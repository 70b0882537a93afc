"""Lock files that one process at a time holds, released by the system if it is killed.

The export locks its folder (one export or check at a time); a backup locks this computer's
staging folder, which the window's [Backup now] and the scheduled ``ibdesk backup run``
share. ``held`` takes such a lock or refuses with the caller's sentence.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from ibdesk import private
from ibdesk.errors import Refused


def open_lock(path: Path) -> IO[bytes]:
    """Open (or create) a lock file, readable by this account only."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), private.FILE_MODE)
    handle = open(fd, "a+b")  # noqa: SIM115 - lock() holds it open and closes it
    with suppress(OSError):  # an empty file some other account left behind: lock it as it is
        private.restrict(path)
    return handle


def still_there(path: Path, handle: IO[bytes]) -> bool:
    """Tell whether the locked file is still the one at path (not removed by its last owner)."""
    if sys.platform == "win32":
        return True
    try:
        now = path.stat()
    except OSError:
        return False
    held = os.fstat(handle.fileno())
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def try_lock(handle: IO[bytes]) -> bool:
    """Take the lock without waiting; return whether it was free."""
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextmanager
def held(path: Path, busy: str) -> Iterator[None]:
    """Hold the lock file at ``path`` (its folder must exist), or refuse with ``busy``."""
    with open_lock(path) as handle:
        if not try_lock(handle) or not still_there(path, handle):
            raise Refused(busy)
        yield
