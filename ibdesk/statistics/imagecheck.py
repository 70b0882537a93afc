"""Checking the image folder against the database: missing, unknown and changed files.

A long job (see ibdesk.progress): it walks the media rows in id pages and checks each file
(exists, size, SHA-256), then walks the folder and asks the database, a batch of paths at a
time, which files no row names. Memory stays flat at any size.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select

from ibdesk import clinic_settings
from ibdesk.db import session_scope
from ibdesk.errors import UserError
from ibdesk.models import MediaItem
from ibdesk.progress import Job, LogLine, Progress

PAGE = 1000
# Files the workstations or the system leave that are not media.
IGNORED = {"Thumbs.db", ".DS_Store", "desktop.ini"}


@dataclass
class CheckReport:
    """What the check found."""

    checked_rows: int = 0
    checked_files: int = 0
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    size_differs: list[str] = field(default_factory=list)
    hash_differs: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether database and disk agree."""
        return not (
            self.missing
            or self.unknown
            or self.size_differs
            or self.hash_differs
            or self.unreadable
        )

    def lines(self) -> Iterator[str]:
        """Yield the report as text lines (for saving)."""
        for title, items in (
            ("Missing on disk", self.missing),
            ("On disk but in no row", self.unknown),
            ("Size differs", self.size_differs),
            ("SHA-256 differs", self.hash_differs),
            ("Cannot be read", self.unreadable),
        ):
            for item in items:
                yield f"{title}\t{item}"


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def image_folder(engine: Engine) -> Path:
    """Return the configured image folder, or say why it cannot be checked."""
    with session_scope(engine, read_only=True) as session:
        value = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    if not value:
        raise UserError("The image folder is not set; set it under General settings first.")
    folder = Path(value)
    if not folder.is_dir():
        raise UserError(f"The image folder {folder} cannot be reached; is the share connected?")
    return folder


def check(engine: Engine, *, hashes: bool = True) -> Job[CheckReport]:
    """Compare every media row with its file, then find files that no row names."""
    folder = image_folder(engine)
    report = CheckReport()
    with session_scope(engine, read_only=True) as session:
        total = session.scalar(select(func.count()).select_from(MediaItem)) or 0
    after = 0
    while True:
        with session_scope(engine, read_only=True) as session:
            rows = session.execute(
                select(MediaItem.id, MediaItem.path, MediaItem.byte_size, MediaItem.sha256)
                .where(MediaItem.id > after)
                .order_by(MediaItem.id)
                .limit(PAGE)
            ).all()
        if not rows:
            break
        for media_id, path, size, digest in rows:
            yield from _check_row(folder / path, path, size, digest, report, hashes)
            after = media_id
            report.checked_rows += 1
        yield Progress(report.checked_rows, total, "media rows checked")
    yield LogLine("Looking for files that no media row names…")
    batch: list[str] = []
    for relative in _walk(folder):
        report.checked_files += 1
        batch.append(relative)
        if len(batch) >= 500:
            report.unknown += _unknown(engine, batch)
            batch = []
    if batch:
        report.unknown += _unknown(engine, batch)
    for path in report.unknown:
        yield LogLine(f"On disk but in no row: {path}", "warning")
    yield LogLine(
        "Database and image folder agree."
        if report.ok
        else "Database and image folder disagree: see the list.",
        "info" if report.ok else "error",
    )
    return report


def _check_row(
    path: Path, relative: str, size: int, digest: str, report: CheckReport, hashes: bool
) -> Iterator[LogLine]:
    try:
        actual_size = path.stat().st_size
    except FileNotFoundError:
        report.missing.append(relative)
        yield LogLine(f"Missing on disk: {relative}", "error")
        return
    except OSError as error:
        report.unreadable.append(relative)
        yield LogLine(f"Cannot be read: {relative} ({error.strerror})", "error")
        return
    if actual_size != size:
        report.size_differs.append(relative)
        yield LogLine(f"Size differs: {relative} ({actual_size} bytes, row says {size})", "error")
        return
    if hashes:
        try:
            actual = _sha256(path)
        except OSError as error:
            report.unreadable.append(relative)
            yield LogLine(f"Cannot be read: {relative} ({error.strerror})", "error")
            return
        if actual != digest:
            report.hash_differs.append(relative)
            yield LogLine(f"SHA-256 differs: {relative}", "error")


def _walk(folder: Path) -> Iterator[str]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name in IGNORED or name.startswith("."):
                continue
            yield (Path(root) / name).relative_to(folder).as_posix()


def _unknown(engine: Engine, paths: list[str]) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        known = set(session.scalars(select(MediaItem.path).where(MediaItem.path.in_(paths))))
    return [p for p in paths if p not in known]
