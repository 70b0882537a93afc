"""Reading originals and writing exported files safely, with problems worded for people.

Every file is written under a temporary ``.part-NAME`` in its final folder, flushed to disk
and only then renamed: a file with its final name is always complete, even after a crash.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

TEMP_PREFIX = ".part-"
_CHUNK = 1 << 20


class ItemProblem(Exception):
    """A problem with one media file, worded for the administrator."""


def temp_name(target: Path) -> Path:
    """Return the temporary name a file is written under before it gets its final name."""
    return target.with_name(f"{TEMP_PREFIX}{target.name}")


def sha256_file(path: Path) -> str:
    """Return the SHA-256 (hex) of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sync(path: Path) -> None:
    """Flush a written file's data to disk."""
    # Windows only flushes a handle opened for writing.
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_source(source: Path) -> bytes:
    """Return an original's bytes, or say why it cannot be read."""
    try:
        return source.read_bytes()
    except OSError as error:
        raise ItemProblem(read_problem(error, source)) from error


def hash_source(source: Path) -> tuple[str, int]:
    """Return an original's SHA-256 and size, or say why it cannot be read."""
    try:
        return sha256_file(source), source.stat().st_size
    except OSError as error:
        raise ItemProblem(read_problem(error, source)) from error


def copy_verified(
    source: Path, target: Path, *, check: Callable[[Path], None] | None = None
) -> tuple[str, int, str, int]:
    """Copy a file under a temporary name, verify the copy, then rename it into place.

    ``check`` may inspect the complete temporary copy (and raise ``ItemProblem``). Return
    the copy's SHA-256 and size, and the original's SHA-256 and size as they were read.
    """
    temp = temp_name(target)
    source_hash, read = hashlib.sha256(), 0
    try:
        reader = source.open("rb")
    except OSError as error:
        raise ItemProblem(read_problem(error, source)) from error
    try:
        with reader, temp.open("wb") as writer:
            while True:
                try:
                    block = reader.read(_CHUNK)
                except OSError as error:
                    raise ItemProblem(read_problem(error, source)) from error
                if not block:
                    break
                source_hash.update(block)
                read += len(block)
                writer.write(block)
            writer.flush()
            os.fsync(writer.fileno())
        if check is not None:
            check(temp)
        digest, size = sha256_file(temp), temp.stat().st_size
        if digest != source_hash.hexdigest():
            raise ItemProblem(f"the copy of {source.name} does not match the original")
        os.replace(temp, target)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise ItemProblem(write_problem(error, target)) from error
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return digest, size, source_hash.hexdigest(), read


def write_with(target: Path, write: Callable[[Path], None]) -> tuple[str, int]:
    """Let ``write`` make the file under a temporary name, then rename it into place.

    Return the written file's SHA-256 and size.
    """
    temp = temp_name(target)
    try:
        write(temp)
        digest, size = sha256_file(temp), temp.stat().st_size
        sync(temp)
        os.replace(temp, target)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise ItemProblem(write_problem(error, target)) from error
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return digest, size


def read_problem(error: OSError, source: Path) -> str:
    """Say why an original cannot be read."""
    if isinstance(error, FileNotFoundError):
        return f"the original {source} is missing"
    if isinstance(error, IsADirectoryError):
        return f"the original {source} is a folder, not a file"
    if isinstance(error, PermissionError):
        return f"the original {source} cannot be read (permission denied)"
    return f"the original {source} cannot be read ({error.strerror or error})"


def write_problem(error: OSError, target: Path) -> str:
    """Say why an exported file cannot be written."""
    folder, name = target.parent, target.name
    if error.errno == errno.ENOSPC or _disk_full(folder):
        return f"{name} could not be written: the disk of {folder} is full"
    if isinstance(error, PermissionError) or error.errno == errno.EROFS:
        return f"{name} could not be written: {folder} is not writable"
    return f"{name} could not be written to {folder} ({error.strerror or error})"


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _CHUNK
    except OSError:
        return False
