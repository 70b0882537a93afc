"""Counts of patients, image sets and media by kind, read from trigger-kept counters.

Triggers (see the first migration) add a ``stat_delta`` row for every change that moves a
count; reading adds the folded ``stat_counter`` rows to the sum of the pending deltas, so
the answer is exact at any moment and costs the same at 100 000 or 10 million rows.
``fold`` moves pending deltas into the counters now and then; ``recount`` counts rows the
slow way, to check the counters.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, delete, func, select, text, update
from sqlalchemy.orm import Session

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


def counters(session: Session) -> dict[str, Count]:
    """Return every subject's exact count: folded counters plus pending deltas."""
    pending = (
        select(
            StatDelta.subject,
            func.sum(StatDelta.live_count).label("lc"),
            func.sum(StatDelta.deleted_count).label("dc"),
            func.sum(StatDelta.live_bytes).label("lb"),
            func.sum(StatDelta.deleted_bytes).label("db"),
        )
        .group_by(StatDelta.subject)
        .subquery()
    )
    rows = session.execute(
        select(
            StatCounter.subject,
            StatCounter.live_count + func.coalesce(pending.c.lc, 0),
            StatCounter.deleted_count + func.coalesce(pending.c.dc, 0),
            StatCounter.live_bytes + func.coalesce(pending.c.lb, 0),
            StatCounter.deleted_bytes + func.coalesce(pending.c.db, 0),
        ).outerjoin(pending, pending.c.subject == StatCounter.subject)
    ).all()
    return {row[0]: Count(*(int(v) for v in row[1:])) for row in rows}


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
        select(
            StatDelta.subject,
            func.sum(StatDelta.live_count),
            func.sum(StatDelta.deleted_count),
            func.sum(StatDelta.live_bytes),
            func.sum(StatDelta.deleted_bytes),
            func.count(),
        )
        .where(StatDelta.id <= last)
        .group_by(StatDelta.subject)
    ).all()
    for subject, lc, dc, lb, db, _n in sums:
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
    for subject in session.scalars(select(StatCounter.subject)):
        result.setdefault(subject, Count())
    return result
