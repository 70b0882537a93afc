"""Manifests of an export folder, in the format ``sha256sum`` reads and writes.

Each patient folder has its own ``manifest.sha256``: a journal while the patient is being
exported (a line is appended as each file lands, so a rerun skips what is already there),
rewritten in full when the patient is done. The export folder's ``manifest.sha256`` lists
every exported file (paths relative to the export folder); it is rebuilt from the patient
manifests at the end of every run, so ``sha256sum -c manifest.sha256`` works in the folder.
Manifests name patients (their folders): like every exported file they are 0600.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from ibdesk import filelock, private
from ibdesk.errors import Refused
from ibdesk.export.files import create_private, replacing, sha256_file
from ibdesk.i18n import gettext as _

MANIFEST = "manifest.sha256"
LOCK_FILE = ".ibdesk-export.lock"
PATIENT_FOLDER = re.compile(r"^[0-9]{12}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](\S.*)$")


def parse_line(line: str) -> tuple[str, str] | None:
    """Return (SHA-256, path) of a manifest line, or None if it is not one."""
    match = _LINE.match(line.rstrip("\r\n"))
    return (match.group(1), match.group(2)) if match else None


def format_line(digest: str, path: str) -> str:
    """Return one manifest line (text mode, as ``sha256sum`` writes it)."""
    return f"{digest}  {path}\n"


def read(path: Path) -> dict[str, str]:
    """Return {file name: SHA-256} of a patient manifest (the last line for a name wins).

    A missing manifest is empty; lines that are not well-formed (the torn last line of a
    killed export) are ignored.
    """
    entries: dict[str, str] = {}
    try:
        handle = path.open("r", encoding="utf-8", errors="replace", newline="")
    except FileNotFoundError:
        return entries
    with handle:
        for line in handle:
            if not line.endswith("\n"):
                continue
            parsed = parse_line(line)
            if parsed and FILE_NAME.fullmatch(parsed[1]):
                entries[parsed[1]] = parsed[0]
    return entries


def end_line(path: Path) -> None:
    """Make sure a journal ends with a newline, so the next append starts a fresh line."""
    try:
        with path.open("rb+") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
    except FileNotFoundError:
        return


def append(path: Path, name: str, digest: str) -> None:
    """Append one file to a patient's journal (created 0600)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), private.FILE_MODE)
    with open(fd, "a", encoding="utf-8", newline="\n") as handle:
        private.restrict(path)  # a journal an earlier export left readable by others
        handle.write(format_line(digest, name))


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file under a temporary name, flush it to disk, then rename it into place."""
    with replacing(path) as temp, create_private(temp) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write(path: Path, entries: Iterable[tuple[str, str]]) -> None:
    """Replace a patient manifest with these (name, SHA-256) entries, sorted by name."""
    text = "".join(format_line(digest, name) for name, digest in sorted(entries))
    write_atomic(path, text.encode("utf-8"))


def patient_folders(folder: Path) -> list[str]:
    """Return the names of the patient folders in an export folder, sorted."""
    with os.scandir(folder) as found:
        return sorted(e.name for e in found if PATIENT_FOLDER.fullmatch(e.name) and e.is_dir())


def rebuild_root(folder: Path, root_files: Iterable[str]) -> int:
    """Rewrite the export folder's manifest from the patient manifests; return its lines."""
    lines = 0
    with (
        replacing(folder / MANIFEST) as temp,
        io.TextIOWrapper(create_private(temp), encoding="utf-8", newline="\n") as out,
    ):
        for name in sorted(root_files):
            out.write(format_line(sha256_file(folder / name), name))
            lines += 1
        for patient in patient_folders(folder):
            journal = folder / patient / MANIFEST
            entries = read(journal)
            if not entries:
                continue
            for name, digest in sorted(entries.items()):
                out.write(format_line(digest, f"{patient}/{name}"))
            out.write(format_line(sha256_file(journal), f"{patient}/{MANIFEST}"))
            lines += len(entries) + 1
        out.flush()
        os.fsync(out.fileno())
    return lines


def iter_root(folder: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) of the export folder's manifest, streamed."""
    with (folder / MANIFEST).open("r", encoding="utf-8", errors="replace", newline="") as handle:
        yield from enumerate(handle, start=1)


@contextmanager
def lock(folder: Path, *, create: bool = True) -> Iterator[None]:
    """Hold the export folder's lock: one export (or check) at a time, released if killed.

    Without ``create`` (checking a folder, perhaps on read-only media) a folder whose lock
    file is missing or cannot be opened is checked unlocked.
    """
    path = folder / LOCK_FILE
    try:
        handle = filelock.open_lock(path) if create else path.open("rb")
    except OSError as error:
        if not create:
            yield
            return
        raise Refused(
            _(
                "%(folder)s cannot be locked for the export (%(strerror)s).",
                folder=folder,
                strerror=error.strerror,
            )
        ) from error
    with handle:
        if not filelock.try_lock(handle) or (create and not filelock.still_there(path, handle)):
            raise Refused(
                _(
                    "Another export is using %(folder)s right now; wait for it to finish first.",
                    folder=folder,
                )
            )
        try:
            yield
        finally:
            if create and sys.platform != "win32":
                # Removed while still held, so nothing is left behind; a rival that opened
                # the old file meanwhile sees it gone (filelock.still_there) and refuses.
                path.unlink(missing_ok=True)
            _unlock(handle)
    if create and sys.platform == "win32":
        with suppress(OSError):  # Windows removes no open file; another export may hold it
            path.unlink(missing_ok=True)


def _unlock(handle: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
