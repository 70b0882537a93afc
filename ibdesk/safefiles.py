"""Opening a file that a database row names: inside the image folder, a regular file, as recorded.

A media path comes from the database, which the workstations (and anyone with write access to
the database) fill in, and the image folder is a share other people can write to. So a path
is never simply joined and opened: every component is opened without following symbolic links
(``O_NOFOLLOW``, relative to the folder already opened), the result must be a regular file
(no device, FIFO or socket) and its size and SHA-256 must match the row before the content is
used. Every refusal is a ``FileProblem`` whose ``kind`` says which.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ibdesk.i18n import gettext as _

CHUNK = 1 << 20
# Kinds of FileProblem, so callers can sort them (the image check lists them apart).
MISSING, OUTSIDE, LINK, NOT_REGULAR, UNREADABLE, SIZE, HASH = (
    "missing",
    "outside",
    "link",
    "not-regular",
    "unreadable",
    "size",
    "hash",
)
_DRIVE = re.compile(r"^[A-Za-z]:")
# Files can be opened relative to an open folder, never through a link (not on Windows).
DIR_FD = os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")
_REPARSE_POINT = getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0x400)


class FileProblem(Exception):
    """A file a row names cannot be used; ``kind`` says why, the message says it to people."""

    def __init__(self, kind: str, message: str) -> None:
        """Keep the kind of problem with its sentence."""
        super().__init__(message)
        self.kind = kind


def parts(relative: str) -> list[str]:
    """Return the components of a media path, refusing one that could leave its folder."""
    cleaned = relative.replace("\\", "/").strip()
    normal = posixpath.normpath(cleaned) if cleaned else ""
    names = normal.split("/") if normal else []
    if (
        not names
        or normal.startswith("/")
        or _DRIVE.match(normal)
        or any(name in ("", ".", "..") for name in names)
        or "\0" in normal
    ):
        raise FileProblem(
            OUTSIDE,
            _(
                "the path %(relative)s does not name a file inside the image folder",
                relative=repr(relative),
            ),
        )
    return names


def read_problem(error: OSError, relative: str) -> FileProblem:
    """Say why a file a row names cannot be opened or read."""
    if error.errno in (errno.ELOOP, errno.EMLINK):
        return FileProblem(
            LINK,
            _("%(relative)s is a symbolic link, and links are never followed", relative=relative),
        )
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        return FileProblem(
            MISSING, _("%(relative)s is missing from the image folder", relative=relative)
        )
    if isinstance(error, PermissionError):
        return FileProblem(
            UNREADABLE, _("%(relative)s cannot be read (permission denied)", relative=relative)
        )
    return FileProblem(
        UNREADABLE,
        _(
            "%(relative)s cannot be read (%(value)s)",
            relative=relative,
            value=error.strerror or error,
        ),
    )


_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def open_parent(root: Path, names: list[str]) -> int:
    """Return the open folder that holds the last name, reached without following a link."""
    folder = os.open(root, _FLAGS | os.O_DIRECTORY)
    try:
        for name in names[:-1]:
            try:
                inner = os.open(name, _FLAGS | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            except NotADirectoryError:
                # Linux says "not a folder" for a link to one: name it a link.
                if stat.S_ISLNK(os.lstat(name, dir_fd=folder).st_mode):
                    raise OSError(errno.ELOOP, _("a symbolic link"), name) from None
                raise
            os.close(folder)
            folder = inner
    except BaseException:
        os.close(folder)
        raise
    return folder


def _open_posix(root: Path, names: list[str]) -> int:
    folder = open_parent(root, names)
    try:
        # O_NONBLOCK: opening a FIFO must not hang; it is refused just below.
        leaf_flags = _FLAGS | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
        return os.open(names[-1], leaf_flags, dir_fd=folder)
    finally:
        os.close(folder)


def _checked_path(root: Path, names: list[str]) -> Path:
    # Where open() cannot be relative to a folder (Windows): no component may be a link
    # or a junction, and the resolved file must still lie inside the folder.
    current = root
    for name in names:
        current = current / name
        info = os.lstat(current)
        attributes = getattr(info, "st_file_attributes", 0)
        if stat.S_ISLNK(info.st_mode) or attributes & _REPARSE_POINT:
            raise OSError(errno.ELOOP, _("a symbolic link"), str(current))
    if not current.resolve().is_relative_to(root):
        raise OSError(errno.ELOOP, _("outside the folder"), str(current))
    return current


def _open_checked_path(root: Path, names: list[str]) -> int:
    return os.open(_checked_path(root, names), os.O_RDONLY | getattr(os, "O_BINARY", 0))


def _not_regular(relative: str) -> FileProblem:
    return FileProblem(
        NOT_REGULAR,
        _(
            "%(relative)s is not a regular file (a device, pipe or folder), so it is not read",
            relative=relative,
        ),
    )


class Folder:
    """A folder to open many files inside: resolved once, at the first file opened."""

    def __init__(self, root: Path | str) -> None:
        """Remember the folder (nothing is read yet)."""
        self.root = root
        self._base: Path | None = None

    def base(self) -> Path:
        """Return the folder resolved, or raise FileProblem when it cannot be reached."""
        if self._base is None:
            try:
                self._base = Path(self.root).resolve(strict=True)
            except OSError as error:
                raise FileProblem(
                    UNREADABLE, _("the image folder %(root)s cannot be reached", root=self.root)
                ) from error
        return self._base

    @contextmanager
    def open(self, relative: str) -> Iterator[BinaryIO]:
        """Open the regular file a media path names inside the folder, never through a link."""
        names = parts(relative)
        base = self.base()
        try:
            fd = _open_posix(base, names) if DIR_FD else _open_checked_path(base, names)
        except OSError as error:
            raise read_problem(error, relative) from error
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise FileProblem(
                    NOT_REGULAR, _("%(relative)s is a folder, not a file", relative=relative)
                )
            if not stat.S_ISREG(mode):
                raise _not_regular(relative)
            handle = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        with handle:
            yield handle

    def remove(self, relative: str) -> bool:
        """Remove the regular file a media path names inside the folder; return False when
        it is not there.

        No component is followed through a link, so a path stored as ``../x``, ``/etc/x``
        or through a linked subfolder never removes anything outside the folder; a name
        that is itself a link, a folder or a device is refused (``FileProblem``), not
        removed.
        """
        names = parts(relative)
        base = self.base()
        try:
            if DIR_FD:
                folder = open_parent(base, names)
                try:
                    mode = os.lstat(names[-1], dir_fd=folder).st_mode
                    if stat.S_ISLNK(mode):
                        raise OSError(errno.ELOOP, _("a symbolic link"), relative)
                    if not stat.S_ISREG(mode):
                        raise _not_regular(relative)
                    os.unlink(names[-1], dir_fd=folder)
                finally:
                    os.close(folder)
            else:
                path = _checked_path(base, names)
                if not path.is_file():
                    raise _not_regular(relative)
                os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise read_problem(error, relative) from error
        return True


@contextmanager
def open_file(root: Path | str, relative: str) -> Iterator[BinaryIO]:
    """Open the regular file a media path names inside ``root``, never through a link."""
    with Folder(root).open(relative) as handle:
        yield handle


def check_size(handle: BinaryIO, relative: str, expected: int | None) -> int:
    """Return the open file's size, refusing one that differs from the row's."""
    size = os.fstat(handle.fileno()).st_size
    if expected is not None and size != expected:
        raise FileProblem(
            SIZE,
            _(
                "%(relative)s has %(size)s bytes but its record says %(expected)s",
                relative=relative,
                size=size,
                expected=expected,
            ),
        )
    return size


def check_hash(actual: str, relative: str, expected: str | None) -> None:
    """Refuse a file whose SHA-256 differs from the row's."""
    if expected is not None and actual != expected.lower():
        raise FileProblem(
            HASH,
            _("%(relative)s does not match its record (its SHA-256 differs)", relative=relative),
        )


def read_verified(
    root: Path | str, relative: str, *, size: int | None, sha256: str | None
) -> bytes:
    """Return a row's file content once it is known to be the file the row records."""
    with open_file(root, relative) as handle:
        check_size(handle, relative, size)
        try:
            data = handle.read()
        except OSError as error:
            raise read_problem(error, relative) from error
    if size is not None and len(data) != size:
        raise FileProblem(SIZE, _("%(relative)s changed while it was read", relative=relative))
    check_hash(hashlib.sha256(data).hexdigest(), relative, sha256)
    return data


def hash_verified(
    root: Path | str, relative: str, *, size: int | None, sha256: str | None
) -> tuple[str, int]:
    """Check a row's file against its size and SHA-256 (read in blocks); return both."""
    digest = hashlib.sha256()
    read = 0
    with open_file(root, relative) as handle:
        check_size(handle, relative, size)
        try:
            while block := handle.read(CHUNK):
                digest.update(block)
                read += len(block)
        except OSError as error:
            raise read_problem(error, relative) from error
    if size is not None and read != size:
        raise FileProblem(SIZE, _("%(relative)s changed while it was read", relative=relative))
    check_hash(digest.hexdigest(), relative, sha256)
    return digest.hexdigest(), read
