"""Placing one 1.2 file into the 2.1 image folder: a hard link or a verified copy.

The source file is opened through ``safefiles`` (no link followed, a regular file inside the
1.2 folder) and hashed from that open handle. Where both folders share a file system the 2.1
name becomes a hard link to the same inode (checked to be the one that was hashed); otherwise
the bytes are copied to a temporary name, fsynced, renamed into place and read back, and the
copy's SHA-256 must equal the source's.

The 2.1 folder is a share other people can write to, so its side is as hostile as the
source: every folder on the way is created and opened relative to the one before without
following a link (``dir_fd`` and ``O_NOFOLLOW``), the temporary file is created new
(``O_EXCL``, never through a link planted under its name) and the placed name is checked to
be the file written. Anything in the way is a ``Blocked`` problem for that one row; a full
or read-only disk stops the step (``UserError``), since every row after it would fail alike.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ibdesk import safefiles
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

LINKED, COPIED = "linked", "copied"
CHUNK = 4 << 20  # read in large blocks, into one reused buffer
HEAD = 64 << 10  # the start of each file is kept: image headers are read from it, not the disk
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_DIR_FLAGS = os.O_RDONLY | _CLOEXEC | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
_READ_BACK = os.O_RDONLY | _NOFOLLOW | _CLOEXEC
_CANNOT_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)
_WHOLE_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # not one row's fault: stop the step
_LINK_NOFOLLOW = os.link in os.supports_follow_symlinks


@dataclass(frozen=True)
class Placed:
    """A file in the 2.1 folder: how it got there, its size and its SHA-256."""

    how: str
    size: int
    sha256: str
    head: bytes = b""  # the file's first bytes (up to HEAD), as hashed


class Empty(Exception):
    """The source file holds no bytes: nothing to carry over."""


class Mismatch(Exception):
    """The placed file's SHA-256 differs from the source's."""


class Blocked(safefiles.FileProblem):
    """Something in the 2.1 folder is in the way (a link, a folder, a file not ours)."""


def _blocked(error: OSError, target: str) -> Exception:
    """Say why a 2.1 name cannot be written: this row is blocked, or the whole disk is."""
    if error.errno in _WHOLE_DISK:
        return UserError(
            _(
                "The 2.1 image folder cannot be written (%(error)s): "
                "make room or fix it, then run the step again.",
                error=error.strerror or str(error),
            )
        )
    kind = safefiles.LINK if error.errno == errno.ELOOP else safefiles.NOT_REGULAR
    return Blocked(
        kind,
        _(
            "%(target)s in the 2.1 image folder cannot be written (%(error)s)",
            target=target,
            error=error.strerror or str(error),
        ),
    )


def _unusable_root(root: str, error: OSError, *, opening: bool) -> UserError:
    """Say that the 2.1 folder itself cannot be opened or written: the step stops."""
    words = {"folder": root, "error": error.strerror or str(error)}
    if opening:
        return UserError(
            _("The 2.1 image folder %(folder)s cannot be opened (%(error)s).", **words)
        )
    return UserError(_("The 2.1 image folder %(folder)s cannot be written (%(error)s).", **words))


def _stream(
    handle: BinaryIO, buffer: bytearray, relative: str, out: BinaryIO | None = None
) -> tuple[str, int, bytes]:
    """Hash an open file in large blocks (copying it to ``out``); return hash, size, head."""
    digest = hashlib.sha256()
    view = memoryview(buffer)
    size = 0
    head = b""
    while True:
        try:
            n = handle.readinto(view)  # type: ignore[attr-defined]
        except OSError as error:  # the source's disk or share failed mid-file
            raise safefiles.read_problem(error, relative) from error
        if not n:
            return digest.hexdigest(), size, head
        block = view[:n]
        digest.update(block)
        if out is not None:
            out.write(block)
        if size < HEAD:
            head += bytes(block[: HEAD - size])
        size += n


@dataclass(frozen=True)
class _Dir:
    """An open folder of the 2.1 tree (``fd``), or its checked path where there is no dir_fd."""

    fd: int | None
    path: str

    def at(self, name: str) -> str:
        """Return what to pass with ``dir_fd=self.fd`` to name a file in this folder."""
        return name if self.fd is not None else os.path.join(self.path, name)


def _enter(folder: int, name: str, shown: str) -> int:
    """Open (creating it if need be) the subfolder ``name`` of an open folder, never a link."""
    try:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            with suppress(FileExistsError):  # made meanwhile: open it all the same
                os.mkdir(name, dir_fd=folder)
            return os.open(name, _DIR_FLAGS, dir_fd=folder)
    except OSError as error:
        if error.errno == errno.ENOTDIR and _is_link(folder, name):
            # Linux says "not a folder" for a link opened with O_NOFOLLOW: name it a link.
            error = OSError(errno.ELOOP, _("a symbolic link"), name)
        raise _blocked(error, shown) from error


def _is_link(folder: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=folder).st_mode)
    except OSError:
        return False


@contextmanager
def _open_dir(root: str, names: list[str]) -> Iterator[_Dir]:
    """Open the 2.1 folder that holds the last name, made and reached without following links."""
    if not safefiles.DIR_FD:
        yield _Dir(None, _checked_dirs(root, names))
        return
    try:
        folder = os.open(root, _DIR_FLAGS & ~_NOFOLLOW)  # the 2.1 folder itself is the clinic's
    except OSError as error:
        raise _unusable_root(root, error, opening=True) from error
    try:
        for depth, name in enumerate(names[:-1], start=1):
            inner = _enter(folder, name, "/".join(names[:depth]))
            os.close(folder)
            folder = inner
        yield _Dir(folder, os.path.join(root, *names[:-1]))
    finally:
        os.close(folder)


def _checked_dirs(root: str, names: list[str]) -> str:
    # Where there is no dir_fd (Windows): each folder is made, then must be a folder that
    # is no link or junction.
    path = root
    for depth, name in enumerate(names[:-1], start=1):
        path = os.path.join(path, name)
        try:
            with suppress(FileExistsError):
                os.mkdir(path)
            info = os.lstat(path)
        except OSError as error:
            raise _blocked(error, "/".join(names[:depth])) from error
        if stat.S_ISLNK(info.st_mode) or getattr(info, "st_file_attributes", 0) & 0x400:
            raise _blocked(OSError(errno.ELOOP, _("a symbolic link")), "/".join(names[:depth]))
        if not stat.S_ISDIR(info.st_mode):
            raise _blocked(OSError(errno.ENOTDIR, _("not a folder")), "/".join(names[:depth]))
    return path


def _same_inode(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def _lstat(parent: _Dir, name: str) -> os.stat_result | None:
    try:
        return os.lstat(parent.at(name), dir_fd=parent.fd)
    except FileNotFoundError:
        return None


class Placer:
    """Places files from one 1.2 folder into one 2.1 folder, linking while it can."""

    def __init__(self, source_root: Path, target_root: Path, *, link: bool = True) -> None:
        """Remember both folders; ``link=False`` always copies."""
        self.source_root = source_root
        self.target_root = target_root
        self.link = link
        self._source = safefiles.Folder(source_root)
        self._root_ready = False
        self._buffer = bytearray(CHUNK)

    def _root(self) -> str:
        """Return the 2.1 folder, made once; one that cannot be written stops the step."""
        root = os.fspath(self.target_root)
        if not self._root_ready:
            try:
                os.makedirs(root, exist_ok=True)
                if not os.access(root, os.W_OK | os.X_OK):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), root)
            except OSError as error:
                raise _unusable_root(root, error, opening=False) from error
            self._root_ready = True
        return root

    def place(self, relative: str, target_relative: str) -> Placed:
        """Place the source file at the target path; raise FileProblem, Empty or Mismatch.

        A ``Blocked`` (a FileProblem) says something in the 2.1 folder is in the way.
        """
        names = safefiles.parts(target_relative)
        with self._source.open(relative) as handle:
            info = os.fstat(handle.fileno())
            if info.st_size == 0:
                raise Empty(relative)
            with _open_dir(self._root(), names) as parent:
                if self.link and self._link(relative, parent, names[-1], info):
                    # The link is the inode that is open: hashing the handle reads it once.
                    expected, size, head = _stream(handle, self._buffer, relative)
                    return Placed(LINKED, size, expected, head)
                return self._copy(handle, relative, parent, names[-1], target_relative)

    def _link(self, relative: str, parent: _Dir, name: str, info: os.stat_result) -> bool:
        """Hard-link the 2.1 name to the source file that is open; say whether it is so."""
        try:
            self._hard_link(relative, parent, name, info)
        except NotImplementedError:
            self.link = False
            return False
        except OSError as error:
            if error.errno in _CANNOT_LINK:
                self.link = False  # another file system (or no links there): copy from now on
            # Otherwise (the source renamed or gone since it was opened, a folder in the
            # way): this file is copied from the open handle, which names what was opened.
            return False
        found = _lstat(parent, name)
        if found is None or not _same_inode(found, info):
            if found is not None and not stat.S_ISDIR(found.st_mode):
                _discard(parent, parent.at(name))  # swapped since it was opened
            return False
        return True

    def _hard_link(self, relative: str, parent: _Dir, name: str, info: os.stat_result) -> None:
        names = safefiles.parts(relative)
        base = self._source.base()
        # The source's folders are reached as safefiles opened the file: never through a link.
        source = safefiles.open_parent(base, names) if parent.fd is not None else None
        src = names[-1] if source is not None else os.path.join(base, *names)
        extra = {"follow_symlinks": False} if _LINK_NOFOLLOW else {}
        try:
            for _attempt in range(2):
                try:
                    os.link(src, parent.at(name), src_dir_fd=source, dst_dir_fd=parent.fd, **extra)
                    return
                except FileExistsError:
                    # A rerun after a kill: the name may be this very file, or a stale one.
                    found = _lstat(parent, name)
                    if found is not None and _same_inode(found, info):
                        return
                    if found is not None and not stat.S_ISDIR(found.st_mode):
                        os.unlink(parent.at(name), dir_fd=parent.fd)  # unlink never follows
            raise OSError(errno.EEXIST, _("the name is taken"), name)
        finally:
            if source is not None:
                os.close(source)

    def _copy(self, handle: BinaryIO, relative: str, parent: _Dir, name: str, shown: str) -> Placed:
        """Copy the open file to a new temporary name, rename it into place, read it back."""
        tmp = parent.at(f".{name}.part")
        try:
            with suppress(FileNotFoundError):  # a stale one, or a link planted there:
                os.unlink(tmp, dir_fd=parent.fd)  # unlink removes the link, never its target
            fd = os.open(tmp, _NEW_FILE, 0o666, dir_fd=parent.fd)
        except OSError as error:
            raise _blocked(error, shown) from error
        try:
            with os.fdopen(fd, "wb") as out:
                expected, size, head = _stream(handle, self._buffer, relative, out)
                out.flush()
                os.fsync(out.fileno())
                if hasattr(os, "posix_fadvise"):
                    # Drop the cached pages, so the read-back below checks what is on disk.
                    os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                written = os.fstat(out.fileno())
            os.replace(tmp, parent.at(name), src_dir_fd=parent.fd, dst_dir_fd=parent.fd)
        except OSError as error:
            _discard(parent, tmp)
            raise _blocked(error, shown) from error
        except BaseException:
            _discard(parent, tmp)
            raise
        self._check_copy(parent, name, shown, written, expected)
        return Placed(COPIED, size, expected, head)

    def _check_copy(
        self, parent: _Dir, name: str, shown: str, written: os.stat_result, expected: str
    ) -> None:
        """Read the copy back once, through its name but never a link, to check the disk."""
        try:
            if parent.fd is not None:
                os.fsync(parent.fd)
            fd = os.open(parent.at(name), _READ_BACK, dir_fd=parent.fd)
        except OSError as error:
            raise _blocked(error, shown) from error
        with os.fdopen(fd, "rb") as back:
            if not _same_inode(os.fstat(back.fileno()), written):
                raise _blocked(OSError(errno.EEXIST, _("replaced while it was placed")), shown)
            actual = _stream(back, self._buffer, shown)[0]
        if actual != expected:
            _discard(parent, parent.at(name))
            raise Mismatch(shown)


def _discard(parent: _Dir, name: str) -> None:
    """Remove a name of ours if it is there (unlink never follows a link)."""
    with suppress(OSError):
        os.unlink(name, dir_fd=parent.fd)
