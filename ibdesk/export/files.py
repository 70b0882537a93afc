"""Reading originals and writing exported files safely, with problems worded for people.

Every file is written under a temporary ``.part-NAME`` in its final folder, flushed to disk
and only then renamed: a file with its final name is always complete, even after a crash.
Exported files hold patient data: each is this account's only (0600) whatever the umask, and
the patient folders are 0700.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ibdesk import private, safefiles
from ibdesk.i18n import gettext as _
from ibdesk.safefiles import FileProblem

TEMP_PREFIX = ".part-"
_CHUNK = 1 << 20


class ItemProblem(Exception):
    """A problem with one media file, worded for the administrator."""


def temp_name(target: Path) -> Path:
    """Return the temporary name a file is written under before it gets its final name."""
    return target.with_name(f"{TEMP_PREFIX}{target.name}")


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """Yield the temporary name to write ``target`` under; rename it into place at the end.

    When the block raises, the temporary file is removed and the error passes on, so a file
    with its final name is never half-written. The file is made this account's only before
    it gets its final name.
    """
    temp = temp_name(target)
    try:
        temp.unlink(missing_ok=True)  # a crashed run's leftover, perhaps with another mode
        yield temp
        private.restrict(temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def create_private(path: Path) -> BinaryIO:
    """Create a new file for writing that only this account can read (0600, whatever the umask).

    An existing file (or link) of that name is removed first: it is never written through.
    """
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), private.FILE_MODE)
    return os.fdopen(fd, "wb")


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


def _original(problem: FileProblem) -> ItemProblem:
    return ItemProblem(_("the original %(problem)s", problem=problem))


def read_source(root: str, relative: str, size: int | None, sha256: str | None) -> bytes:
    """Return an original's bytes once they match its record, or say why they cannot be used."""
    try:
        return safefiles.read_verified(root, relative, size=size, sha256=sha256)
    except FileProblem as problem:
        raise _original(problem) from problem


def hash_source(root: str, relative: str, size: int | None, sha256: str | None) -> tuple[str, int]:
    """Return an original's SHA-256 and size once they match its record, or say why not."""
    try:
        return safefiles.hash_verified(root, relative, size=size, sha256=sha256)
    except FileProblem as problem:
        raise _original(problem) from problem


def copy_verified(
    source: tuple[str, str],
    target: Path,
    *,
    record: tuple[int | None, str | None] = (None, None),
    check: Callable[[Path], None] | None = None,
) -> tuple[str, int, str, int]:
    """Copy a file under a temporary name, verify the copy, then rename it into place.

    ``source`` is (image folder, media path), opened through ``safefiles``; ``record`` is the
    size and SHA-256 the row says the original has: a file that differs is never copied into
    place. ``check`` may inspect the complete temporary copy (and raise ``ItemProblem``).
    Return the copy's SHA-256 and size, and the original's SHA-256 and size as they were read.
    """
    root, relative = source
    source_hash = hashlib.sha256()
    try:
        with replacing(target) as temp:
            with safefiles.open_file(root, relative) as reader, create_private(temp) as writer:
                safefiles.check_size(reader, relative, record[0])
                read = _copy_hashing(reader, writer, relative, source_hash)
            if record[0] is not None and read != record[0]:
                raise ItemProblem(
                    _(
                        "the original %(relative)s changed while it was being copied",
                        relative=relative,
                    )
                )
            safefiles.check_hash(source_hash.hexdigest(), relative, record[1])
            if check is not None:
                check(temp)
            digest, size = sha256_file(temp), temp.stat().st_size
            if digest != source_hash.hexdigest():
                raise ItemProblem(
                    _("the copy of %(name)s does not match the original", name=Path(relative).name)
                )
    except FileProblem as problem:
        raise _original(problem) from problem
    except OSError as error:
        raise ItemProblem(write_problem(error, target)) from error
    return digest, size, source_hash.hexdigest(), read


def _copy_hashing(reader: BinaryIO, writer: BinaryIO, relative: str, digest: Any) -> int:
    """Copy ``reader`` to ``writer`` (flushed to disk), feeding ``digest``; return the bytes."""
    read = 0
    while True:
        try:
            block = reader.read(_CHUNK)
        except OSError as error:
            raise safefiles.read_problem(error, relative) from error
        if not block:
            break
        digest.update(block)
        read += len(block)
        writer.write(block)
    writer.flush()
    os.fsync(writer.fileno())
    return read


def write_with(target: Path, write: Callable[[Path], None]) -> tuple[str, int]:
    """Let ``write`` make the file under a temporary name, then rename it into place.

    Return the written file's SHA-256 and size.
    """
    try:
        with replacing(target) as temp:
            # glymur refuses to write over a file that exists, so ``write`` makes a new one
            # with the umask's mode: it lies in a patient folder (0700) that no one else can
            # open, and is made 0600 here before anything reads it or it gets its final name.
            write(temp)
            private.restrict(temp)
            digest, size = sha256_file(temp), temp.stat().st_size
            sync(temp)
    except OSError as error:
        raise ItemProblem(write_problem(error, target)) from error
    return digest, size


def write_problem(error: OSError, target: Path) -> str:
    """Say why an exported file cannot be written."""
    folder, name = target.parent, target.name
    if error.errno == errno.ENOSPC or _disk_full(folder):
        return _(
            "%(name)s could not be written: the disk of %(folder)s is full",
            name=name,
            folder=folder,
        )
    if isinstance(error, PermissionError) or error.errno == errno.EROFS:
        return _(
            "%(name)s could not be written: %(folder)s is not writable", name=name, folder=folder
        )
    return _(
        "%(name)s could not be written to %(folder)s (%(value)s)",
        name=name,
        folder=folder,
        value=error.strerror or error,
    )


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _CHUNK
    except OSError:
        return False
