"""One ImageBank SysAdmin per user: the instance lock and what the running one publishes."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ibdesk import config

LOCK_NAME = "ibdesk.lock"


@dataclass(frozen=True)
class RunningInstance:
    """What a running ImageBank SysAdmin wrote into its lock file."""

    pid: int | None
    port: int | None
    mode: str | None  # "window" or "serve"
    token: str | None


class AlreadyRunning(Exception):
    """Another ImageBank SysAdmin of this user holds the lock."""

    def __init__(self, other: RunningInstance) -> None:
        """Carry what the other instance published."""
        super().__init__(f"ImageBank SysAdmin is already running (process {other.pid}).")
        self.other = other


class InstanceLock:
    """One ImageBank SysAdmin per user: an OS lock on a file in the configuration folder.

    The operating system drops the lock when the process ends, however it ends, so a crash
    leaves no stale lock. The file (readable by this user only) says where the running
    instance listens, so a second start can bring the user there.
    """

    def __init__(self, fd: int, path: Path) -> None:
        """Hold an already locked file; use ``InstanceLock.acquire``."""
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, path: Path | None = None) -> InstanceLock:
        """Take the lock, or raise AlreadyRunning with what the holder published."""
        if path is None:
            folder = config.config_dir()
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            if not _try_lock(fd):
                raise AlreadyRunning(_read_instance(fd))
        except BaseException:
            os.close(fd)
            raise
        lock = cls(fd, path)
        lock._write({"pid": os.getpid(), "port": None, "mode": None, "token": None})
        return lock

    def publish(self, *, port: int, token: str, mode: str) -> None:
        """Record where this instance listens, for a second start to find it."""
        self._write({"pid": os.getpid(), "port": port, "mode": mode, "token": token})

    def release(self) -> None:
        """Empty the file and drop the lock (the file stays: removing it would race)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        _unlock(self._fd)
        os.close(self._fd)
        self._fd = None

    def _write(self, data: dict[str, Any]) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, json.dumps(data).encode())


if sys.platform == "win32":
    import msvcrt

    _WIN_LOCK_OFFSET = 1 << 30  # lock a byte far past the text, so others can still read it

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_instance(fd: int) -> RunningInstance:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        data = json.loads(os.read(fd, 65536).decode() or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}

    def pick(key: str, kind: type) -> Any:
        value = data.get(key)
        return value if isinstance(value, kind) else None

    return RunningInstance(
        pick("pid", int), pick("port", int), pick("mode", str), pick("token", str)
    )
