"""Placing one 1.2 file into the 2.1 image folder: a hard link or a verified copy.

The source file is opened through ``safefiles`` (no link followed, a regular file inside the
1.2 folder) and hashed from that open handle. Where both folders share a file system the 2.1
name becomes a hard link to the same inode (checked to be the one that was hashed); otherwise
the bytes are copied to a temporary name, fsynced, renamed into place and read back, and the
copy's SHA-256 must equal the source's.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ibdesk import safefiles

LINKED, COPIED = "linked", "copied"
CHUNK = 4 << 20  # read in large blocks, into one reused buffer
HEAD = 64 << 10  # the start of each file is kept: image headers are read from it, not the disk


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


def _stream(
    handle: BinaryIO, buffer: bytearray, out: BinaryIO | None = None
) -> tuple[str, int, bytes]:
    """Hash an open file in large blocks (copying it to ``out``); return hash, size, head."""
    digest = hashlib.sha256()
    view = memoryview(buffer)
    size = 0
    head = b""
    while n := handle.readinto(view):  # type: ignore[attr-defined]
        block = view[:n]
        digest.update(block)
        if out is not None:
            out.write(block)
        if size < HEAD:
            head += bytes(block[: HEAD - size])
        size += n
    return digest.hexdigest(), size, head


def _hash_file(path: Path, buffer: bytearray) -> str:
    with open(path, "rb") as fh:
        return _stream(fh, buffer)[0]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Placer:
    """Places files from one 1.2 folder into one 2.1 folder, linking while it can."""

    def __init__(self, source_root: Path, target_root: Path, *, link: bool = True) -> None:
        """Remember both folders; ``link=False`` always copies."""
        self.source_root = source_root
        self.target_root = target_root
        self.link = link
        self._source = safefiles.Folder(source_root)
        self._made: set[str] = set()  # folders known to exist
        self._buffer = bytearray(CHUNK)

    def place(self, relative: str, target_relative: str) -> Placed:
        """Place the source file at the target path; raise FileProblem or Mismatch."""
        # Plain strings, not Path objects: this runs once per file of the clinic.
        target = os.path.join(self.target_root, target_relative)
        parent = os.path.dirname(target)
        if parent not in self._made:
            if len(self._made) > 4096:  # keep memory flat over a big folder
                self._made.clear()
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)
        with self._source.open(relative) as handle:
            info = os.fstat(handle.fileno())
            if info.st_size == 0:
                raise Empty(relative)
            if self.link and self._link(relative, target, info):
                # The link is the inode that is open: hashing the handle reads it once.
                expected, size, head = _stream(handle, self._buffer)
                return Placed(LINKED, size, expected, head)
            tmp = Path(parent) / f".{os.path.basename(target)}.part"
            with open(tmp, "wb") as out:
                expected, size, head = _stream(handle, self._buffer, out)
                out.flush()
                os.fsync(out.fileno())
                if hasattr(os, "posix_fadvise"):
                    # Drop the cached pages, so the read-back below checks what is on disk.
                    os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        os.replace(tmp, target)
        _fsync_dir(Path(parent))
        # The copy is read back once, to check what reached the disk.
        if _hash_file(Path(target), self._buffer) != expected:
            os.unlink(target)
            raise Mismatch(relative)
        return Placed(COPIED, size, expected, head)

    def _link(self, relative: str, target: str, info: os.stat_result) -> bool:
        """Hard-link the 2.1 name to the source file that is open; say whether it is so."""
        source = os.path.join(self._source.base(), relative)
        try:
            _hard_link(source, target, info)
        except OSError as error:
            if error.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                self.link = False  # another file system (or no links there): copy from now on
                return False
            raise
        if not _same_inode(os.lstat(target), info):
            os.unlink(target)  # the name was swapped since it was opened: copy what was opened
            return False
        return True


def _hard_link(source: str, target: str, info: os.stat_result) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        # A rerun after a kill: the name may already be this very file, or a stale one.
        if not _same_inode(os.lstat(target), info):
            os.unlink(target)
            os.link(source, target, follow_symlinks=False)


def _same_inode(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)
