"""Keeping this computer's own data private to the account that runs ibdesk.

The data folder holds the embedded database (patient data), its ``-wal`` and ``-shm`` files,
the thumbnail cache and local backups: the folder and its sub-folders are 0700 and every file
ibdesk or the database engine makes in it 0600, whatever the umask. SQLite creates its ``-wal``
and ``-shm`` files with the permissions of the database file, so restricting that file on
every connect covers the files it makes later too. On Windows the folder lies in the user's
profile (``%LOCALAPPDATA%``), whose inherited ACL already grants only that user, SYSTEM and
the administrators; nothing is changed there.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ibdesk import config

FOLDER_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")
_POSIX = os.name == "posix"


def make_folder(folder: Path) -> Path:
    """Create a folder (and each missing parent) readable by this account only."""
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(mode=FOLDER_MODE, exist_ok=True)
        restrict(path, FOLDER_MODE)
    return folder


def restrict(path: Path, mode: int = FILE_MODE) -> None:
    """Make an existing file (or folder) this account's only; a file gone meanwhile is fine."""
    if not _POSIX:
        return
    try:
        os.chmod(path, mode, follow_symlinks=False)
    except FileNotFoundError:
        pass
    except NotImplementedError:
        # Where chmod cannot leave links alone (glibc before 2.32, or no /proc): through a
        # descriptor opened without following a link; a link itself is left as it is.
        _restrict_by_descriptor(path, mode)


def _restrict_by_descriptor(path: Path, mode: int) -> None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return
    except OSError as error:
        if error.errno == errno.ELOOP:
            return
        raise
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def data_dir() -> Path:
    """Return the data folder, created 0700 and with its own files made 0600."""
    folder = config.data_dir()
    make_folder(folder)
    restrict(folder, FOLDER_MODE)
    for entry in folder.iterdir():
        if entry.is_symlink():
            continue
        restrict(entry, FOLDER_MODE if entry.is_dir() else FILE_MODE)
    return folder


def is_inside_data_dir(path: Path) -> bool:
    """Return whether a path lies in this computer's data folder."""
    return path.expanduser().resolve().is_relative_to(config.data_dir().expanduser().resolve())


def restrict_sqlite(database: Path) -> None:
    """Make a SQLite database and the files the engine keeps beside it 0600."""
    for suffix in SQLITE_SUFFIXES:
        restrict(database.with_name(database.name + suffix))
