"""Checking the image folder against the database: missing, unknown and changed files.

A long job (see ibdesk.progress): it walks the media rows in id pages and checks each file
(exists, size, SHA-256), then walks the folder and asks the database, a batch of paths at a
time, which files no row names. Memory stays flat at any size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select

from ibdesk import clinic_settings, csvsafe, safefiles
from ibdesk.db import session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import MediaItem
from ibdesk.progress import Job, LogLine, Progress

PAGE = 1000
# Which list of the report each kind of file problem goes into, and its title.
_SORTED = {
    safefiles.MISSING: ("missing", _l("Missing on disk")),
    safefiles.SIZE: ("size_differs", _l("Size differs")),
    safefiles.HASH: ("hash_differs", _l("SHA-256 differs")),
}
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
            (_("Missing on disk"), self.missing),
            (_("On disk but in no row"), self.unknown),
            (_("Size differs"), self.size_differs),
            (_("SHA-256 differs"), self.hash_differs),
            (_("Cannot be read"), self.unreadable),
        ):
            for item in items:
                yield csvsafe.tsv_line(title, item)


def image_folder(engine: Engine) -> Path:
    """Return the configured image folder, or say why it cannot be checked."""
    with session_scope(engine, read_only=True) as session:
        value = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    if not value:
        raise UserError(_("The image folder is not set; set it under General settings first."))
    folder = Path(value)
    if not folder.is_dir():
        raise UserError(
            _(
                "The image folder %(folder)s cannot be reached; is the share connected?",
                folder=folder,
            )
        )
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
            yield from _check_row(folder, path, size, digest, report, hashes)
            after = media_id
            report.checked_rows += 1
        yield Progress(report.checked_rows, total, _("media rows checked"))
    yield LogLine(_("Looking for files that no media row names…"))
    batch: list[str] = []
    for relative in _walk(folder):
        report.checked_files += 1
        if not _encodable(relative):
            # A name that is no valid UTF-8 (an old Windows share's): no row can name it, and
            # it cannot go into a query. It is listed as it is, bytes shown as escapes.
            report.unknown.append(
                relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            )
            continue
        batch.append(relative)
        if len(batch) >= 500:
            report.unknown += _unknown(engine, batch)
            batch = []
    if batch:
        report.unknown += _unknown(engine, batch)
    for path in report.unknown:
        yield LogLine(_("On disk but in no row: %(path)s", path=path), "warning")
    yield LogLine(
        _("Database and image folder agree.")
        if report.ok
        else _("Database and image folder disagree: see the list."),
        "info" if report.ok else "error",
    )
    return report


def _check_row(
    folder: Path, relative: str, size: int, digest: str, report: CheckReport, hashes: bool
) -> Iterator[LogLine]:
    try:
        if hashes:
            safefiles.hash_verified(folder, relative, size=size, sha256=digest)
        else:
            with safefiles.open_file(folder, relative) as handle:
                safefiles.check_size(handle, relative, size)
    except safefiles.FileProblem as problem:
        listed, title = _SORTED.get(problem.kind, ("unreadable", _("Cannot be read")))
        getattr(report, listed).append(relative)
        yield LogLine(f"{title}: {problem}", "error")


def _walk(folder: Path) -> Iterator[str]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name in IGNORED or name.startswith("."):
                continue
            yield (Path(root) / name).relative_to(folder).as_posix()


def _encodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unknown(engine: Engine, paths: list[str]) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        known = set(session.scalars(select(MediaItem.path).where(MediaItem.path.in_(paths))))
    return [p for p in paths if p not in known]
