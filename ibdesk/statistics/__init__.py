"""Counts of patients, image sets and media by kind, read from trigger-kept counters.

Triggers (see the first migration) add a ``stat_delta`` row for every change that moves a
count; reading adds the folded ``stat_counter`` rows to the sum of the pending deltas, so
the answer is exact at any moment and costs the same at 100 000 or 10 million rows.
``fold`` moves pending deltas into the counters now and then; ``recount`` counts rows the
slow way, to check the counters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import shutil
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, insert, select, text, union_all, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, licensing
from ibdesk.db import DatabaseError, explain
from ibdesk.i18n import gettext as _
from ibdesk.models import ImageSet, MediaItem, Patient, StatCounter, StatDelta

# Fold when this many deltas are pending: reading stays a sum over a small table.
FOLD_THRESHOLD = 5_000


@dataclass(frozen=True)
class Count:
    """Live and deleted rows (and their bytes) of one subject."""

    live: int = 0
    deleted: int = 0
    live_bytes: int = 0
    deleted_bytes: int = 0


# Each subject with the sums of its pending deltas, in the order of Count's fields.
_DELTA_SUMS = (
    StatDelta.subject,
    func.sum(StatDelta.live_count),
    func.sum(StatDelta.deleted_count),
    func.sum(StatDelta.live_bytes),
    func.sum(StatDelta.deleted_bytes),
)


def counters(session: Session) -> dict[str, Count]:
    """Return every subject's exact count: folded counters plus pending deltas.

    One statement, so one snapshot: read in two, a fold committed in between (by another
    window, the conversion or the demo) would be missed by both reads on PostgreSQL.
    """
    columns = ("subject", "live_count", "deleted_count", "live_bytes", "deleted_bytes")
    both = union_all(
        select(*(getattr(StatCounter, c).label(c) for c in columns)),
        select(*(getattr(StatDelta, c).label(c) for c in columns)),
    ).subquery()
    sums = select(both.c.subject, *(func.sum(both.c[c]) for c in columns[1:]))
    folded = {
        row[0]: Count(*(int(v or 0) for v in row[1:]))
        for row in session.execute(sums.group_by(both.c.subject))
    }
    return {
        subject: count
        for subject, count in folded.items()
        if not subject.startswith("m") or count != Count()
    }


def pending_deltas(session: Session) -> int:
    """Return how many deltas wait to be folded."""
    return session.scalar(select(func.count()).select_from(StatDelta)) or 0


def fold(session: Session) -> int:
    """Move pending deltas into the counters; return how many were folded.

    Writers are held off the delta table for the moment it takes, so no delta committed
    between summing and deleting can be lost.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("LOCK TABLE stat_delta IN EXCLUSIVE MODE"))
    elif dialect == "mssql":
        session.execute(text("SELECT COUNT(*) FROM stat_delta WITH (TABLOCKX, HOLDLOCK)"))
    # SQLite: this transaction began IMMEDIATE, so it is the only writer already.
    last = session.scalar(select(func.max(StatDelta.id)))
    if last is None:
        return 0
    sums = session.execute(
        select(*_DELTA_SUMS, func.count()).where(StatDelta.id <= last).group_by(StatDelta.subject)
    ).all()
    existing = set(session.scalars(select(StatCounter.subject)))
    for subject, lc, dc, lb, db, _n in sums:
        if subject not in existing:
            # A new month's counter: its first delta becomes its row.
            session.add(
                StatCounter(
                    subject=subject,
                    live_count=int(lc),
                    deleted_count=int(dc),
                    live_bytes=int(lb),
                    deleted_bytes=int(db),
                )
            )
            continue
        session.execute(
            update(StatCounter)
            .where(StatCounter.subject == subject)
            .values(
                live_count=StatCounter.live_count + int(lc),
                deleted_count=StatCounter.deleted_count + int(dc),
                live_bytes=StatCounter.live_bytes + int(lb),
                deleted_bytes=StatCounter.deleted_bytes + int(db),
            )
        )
    session.execute(delete(StatDelta).where(StatDelta.id <= last))
    return sum(int(row[5]) for row in sums)


def fold_if_needed(session: Session) -> int:
    """Fold the deltas when enough are pending; return how many were folded."""
    if pending_deltas(session) < FOLD_THRESHOLD:
        return 0
    return fold(session)


def recount(session: Session) -> dict[str, Count]:
    """Count every subject row by row (slow on large data: for checking the counters)."""
    result: dict[str, Count] = {}
    live = case((MediaItem.deleted_at.is_(None), 1), else_=0)
    dead = case((MediaItem.deleted_at.is_(None), 0), else_=1)
    live_b = case((MediaItem.deleted_at.is_(None), MediaItem.byte_size), else_=0)
    dead_b = case((MediaItem.deleted_at.is_(None), 0), else_=MediaItem.byte_size)
    for kind, lc, dc, lb, db in session.execute(
        select(
            MediaItem.kind, func.sum(live), func.sum(dead), func.sum(live_b), func.sum(dead_b)
        ).group_by(MediaItem.kind)
    ):
        result[kind] = Count(int(lc), int(dc), int(lb), int(db))
    p_live, p_dead = session.execute(
        select(
            func.coalesce(func.sum(case((Patient.deleted_at.is_(None), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Patient.deleted_at.is_(None), 0), else_=1)), 0),
        )
    ).one()
    result["patient"] = Count(int(p_live), int(p_dead))
    sets, signed = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((ImageSet.signed_at.is_(None), 0), else_=1)), 0),
        ).select_from(ImageSet)
    ).one()
    result["image_set"] = Count(int(sets))
    result["signed_set"] = Count(int(signed))
    month = _month_of(session, MediaItem.created_at)
    for subject, lc, dc, lb, db in session.execute(
        select(month, func.sum(live), func.sum(dead), func.sum(live_b), func.sum(dead_b)).group_by(
            month
        )
    ):
        result[f"m{subject}"] = Count(int(lc), int(dc), int(lb), int(db))
    for subject in session.scalars(select(StatCounter.subject)):
        result.setdefault(subject, Count())
    return {
        subject: count
        for subject, count in result.items()
        if not subject.startswith("m") or count != Count()
    }


def settle(session: Session) -> int:
    """Add the deltas that bring every counter to a fresh recount; return how many.

    For a bulk load that wrote its rows with the counter triggers dropped
    (``bulkload.triggers_after``): its rows are counted once, in its transaction.
    """
    now, truth = counters(session), recount(session)
    deltas = []
    for subject in sorted(now.keys() | truth.keys()):
        a, b = now.get(subject, Count()), truth.get(subject, Count())
        delta = Count(
            b.live - a.live,
            b.deleted - a.deleted,
            b.live_bytes - a.live_bytes,
            b.deleted_bytes - a.deleted_bytes,
        )
        if delta != Count():
            deltas.append(
                {
                    "subject": subject,
                    "live_count": delta.live,
                    "deleted_count": delta.deleted,
                    "live_bytes": delta.live_bytes,
                    "deleted_bytes": delta.deleted_bytes,
                }
            )
    if deltas:
        session.execute(insert(StatDelta), deltas)
    return len(deltas)


def _month_of(session: Session, column: Any) -> Any:
    """Return the SQL expression for "YYYY-MM" of a timestamp column on this backend."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return func.strftime("%Y-%m", column)
    if dialect == "mssql":
        return func.format(column, "yyyy-MM")
    return func.to_char(column, "YYYY-MM")


@dataclass(frozen=True)
class DiskSpace:
    """Space on the disk holding the image folder."""

    total: int
    used: int
    free: int


def disk_space(folder: str | None, timeout: float = 3.0) -> tuple[DiskSpace | None, str]:
    """Return the image folder's disk space, or why it could not be had (never hangs)."""
    if not folder:
        return None, _("The image folder is not set.")
    result: list[DiskSpace | OSError] = []

    def probe() -> None:
        # Only the call happens on the thread; the sentence is worded on the caller's, in the
        # caller's language (the thread has no request).
        try:
            usage = shutil.disk_usage(folder)
            result.append(DiskSpace(usage.total, usage.used, usage.free))
        except OSError as error:
            result.append(error)

    # A daemon thread: a dead network share may block the call forever, but not ibdesk.
    thread = threading.Thread(target=probe, name="disk-space", daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        return None, _(
            "The image folder %(folder)s did not answer within %(timeout)s seconds.",
            folder=folder,
            timeout=format(timeout, "g"),
        )
    value = result[0]
    if isinstance(value, DiskSpace):
        return value, ""
    if isinstance(value, FileNotFoundError):
        return None, _(
            "The image folder %(folder)s does not exist or cannot be reached.", folder=folder
        )
    return None, _(
        "The image folder %(folder)s cannot be read: %(strerror)s.",
        folder=folder,
        strerror=value.strerror,
    )


MEDIA_SUBJECTS = ("intraoral", "panoramic", "photo", "video", "audio", "document")


@dataclass(frozen=True)
class MonthCount:
    """Media added in one month."""

    month: str  # "YYYY-MM"
    count: int
    bytes: int


@dataclass(frozen=True)
class StatsReport:
    """What the Statistics tab shows and prints."""

    generated_at: dt.datetime
    patients: Count
    image_sets: int
    signed_sets: int
    media: dict[str, Count]
    months: list[MonthCount]
    disk: DiskSpace | None
    disk_message: str
    milliseconds: float

    @property
    def media_live(self) -> int:
        """Return the number of live media items of every kind."""
        return sum(c.live for c in self.media.values())

    @property
    def bytes_live(self) -> int:
        """Return the bytes of every live media item."""
        return sum(c.live_bytes for c in self.media.values())


def last_months(today: dt.date, count: int = 24) -> list[str]:
    """Return the labels "YYYY-MM" of the last `count` months, oldest first."""
    year, month = today.year, today.month
    labels = []
    for _month in range(count):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return labels[::-1]


def generate(
    session: Session,
    *,
    image_folder: str | None,
    today: dt.date | None = None,
    measure_disk: bool = True,
) -> StatsReport:
    """Build the statistics from the counters: milliseconds at any database size.

    With ``measure_disk=False`` the disk is left out, so that a caller can measure it after
    committing: a dead network share must not hold the SQLite writer lock meanwhile.
    """
    started = time.perf_counter()
    if pending_deltas(session) >= FOLD_THRESHOLD:
        fold(session)
    counts = counters(session)
    months = [
        MonthCount(
            label,
            counts.get(f"m{label}", Count()).live + counts.get(f"m{label}", Count()).deleted,
            counts.get(f"m{label}", Count()).live_bytes
            + counts.get(f"m{label}", Count()).deleted_bytes,
        )
        # The triggers count each file in the UTC month it was added: so do the labels.
        for label in last_months(today or dt.datetime.now(dt.UTC).date())
    ]
    disk, message = disk_space(image_folder) if measure_disk else (None, "")
    return StatsReport(
        generated_at=dt.datetime.now(dt.UTC),
        patients=counts.get("patient", Count()),
        image_sets=counts.get("image_set", Count()).live,
        signed_sets=counts.get("signed_set", Count()).live,
        media={kind: counts.get(kind, Count()) for kind in MEDIA_SUBJECTS},
        months=months,
        disk=disk,
        disk_message=message,
        milliseconds=(time.perf_counter() - started) * 1000,
    )


def clinic_name(session: Session) -> str:
    """Return the clinic's name for printouts: the clinic_name setting, else the licensee."""
    name = " ".join((clinic_settings.get(session, clinic_settings.CLINIC_NAME) or "").split())
    if name:
        return name
    current = licensing.current_license(session)
    return current.licensee if current is not None else ""


@dataclass(frozen=True)
class Gathered:
    """The statistics with the clinic and image folder, or what could be had and why not."""

    clinic: str
    image_folder: str | None
    report: StatsReport | None
    disk: DiskSpace | None
    disk_message: str
    problem: str | None


def gather(session: Session, *, today: dt.date | None = None) -> Gathered:
    """Read clinic, image folder and statistics, committing any fold; survive a lost database.

    When the database fails part of the way, the answer keeps what was read before and the
    disk space (which needs no database), with the failure as one sentence in ``problem``.
    """
    clinic, folder, report, problem = "", None, None, None
    try:
        folder = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
        clinic = clinic_name(session)
        report = generate(session, image_folder=folder, today=today, measure_disk=False)
        session.commit()
    except (SQLAlchemyError, DatabaseError) as error:
        with contextlib.suppress(SQLAlchemyError):
            session.rollback()
        problem = explain(error, session.get_bind().engine.url)
    if folder is not None:
        # Measured after the commit: a share that hangs holds no database lock.
        disk, disk_message = disk_space(folder)
    elif report is not None:
        disk, disk_message = None, _("The image folder is not set.")
    else:
        disk, disk_message = None, _("The image folder is not known: the database did not say.")
    if report is not None:
        report = dataclasses.replace(report, disk=disk, disk_message=disk_message)
    return Gathered(clinic, folder, report, disk, disk_message, problem)
