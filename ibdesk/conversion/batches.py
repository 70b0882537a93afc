"""Writing 1.2 rows in batches: the source-key map in the same transaction, bad rows retried alone.

A batch is one transaction holding the new 2.1 rows, their ``conversion_map`` rows and their
``conversion_issue`` rows, so after a kill -9 a rerun skips exactly the committed keys. When
a batch fails, it is rolled back and retried row by row (as pgloader does): the sound rows
go in and the one bad row is recorded as rejected with the database's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ibdesk.conversion import checks
from ibdesk.models import ConversionIssue, ConversionMap

logger = logging.getLogger(__name__)
CONVERTED, MERGED, REJECTED = "converted", "merged", "rejected"


@dataclass
class Issue:
    """One problem with one source row: a reject (not carried over) or a flag."""

    reason: str
    column: str = ""
    raw: Any = None
    new: Any = None
    rejected: bool = False


@dataclass
class Outcome:
    """What converting one source row produced."""

    outcome: str
    target: Any = None  # an ORM object whose id becomes the map's target, or an int
    detail: str = ""
    issues: list[Issue] = field(default_factory=list)
    # Called after the batch is flushed (ids known): add audit events and the like.
    after: Callable[[Session], None] | None = None


def rejected(reason: str, column: str = "", raw: Any = None) -> Outcome:
    """Return the outcome of a row that is not carried over, with its reason."""
    return Outcome(REJECTED, issues=[Issue(reason, column, raw, rejected=True)])


class Converter:
    """Converts source rows of one table; ``prepare`` looks up what a batch needs at once."""

    def prepare(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Look up whatever the rows refer to, in a few queries (called before each attempt)."""

    def convert(self, session: Session, row: dict[str, Any]) -> Outcome:
        """Convert one row (objects added to the session, flushed with the batch)."""
        raise NotImplementedError


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def mapped_keys(session: Session, table: str, keys: list[str]) -> set[str]:
    """Return which of these source keys are in the map already."""
    if not keys:
        return set()
    rows = session.scalars(
        select(ConversionMap.source_key).where(
            ConversionMap.source_table == table, ConversionMap.source_key.in_(keys)
        )
    )
    return set(rows)


def targets(session: Session, table: str, keys: list[str]) -> dict[str, int | None]:
    """Return the 2.1 ids of these source keys (None for a rejected row)."""
    if not keys:
        return {}
    rows = session.execute(
        select(ConversionMap.source_key, ConversionMap.target_id).where(
            ConversionMap.source_table == table, ConversionMap.source_key.in_(keys)
        )
    )
    return {key: target for key, target in rows}


def _write(session: Session, step: int, table: str, key: str, result: Outcome) -> ConversionMap:
    entry = ConversionMap(
        source_table=table, source_key=key, outcome=result.outcome, detail=result.detail[:40]
    )
    session.add(entry)
    for issue in result.issues:
        session.add(
            ConversionIssue(
                step=step,
                source_table=table,
                source_key=key,
                column_name=issue.column,
                reason=issue.reason,
                rejected=issue.rejected,
                raw_value=_text(issue.raw),
                new_value=_text(issue.new),
            )
        )
    return entry


def _finish(session: Session, pairs: list[tuple[ConversionMap, Outcome]]) -> None:
    session.flush()
    for entry, result in pairs:
        target = result.target
        entry.target_id = target if isinstance(target, int) or target is None else target.id
        if result.after is not None:
            result.after(session)
    session.commit()


def write_batch(
    engine: Engine,
    step: int,
    table: str,
    key_of: Callable[[dict[str, Any]], str],
    rows: list[dict[str, Any]],
    converter: Converter,
) -> dict[str, int]:
    """Convert and commit one batch of source rows; return counts by outcome."""
    counts = {CONVERTED: 0, MERGED: 0, REJECTED: 0, "skipped": 0}
    with Session(engine, expire_on_commit=False) as session:
        done = mapped_keys(session, table, [key_of(r) for r in rows])
        todo = [r for r in rows if key_of(r) not in done]
        counts["skipped"] = len(rows) - len(todo)
        if not todo:
            return counts
        try:
            pairs = []
            converter.prepare(session, todo)
            with session.no_autoflush:
                for row in todo:
                    result = converter.convert(session, row)
                    pairs.append((_write(session, step, table, key_of(row), result), result))
            _finish(session, pairs)
            for _entry, result in pairs:
                counts[result.outcome] += 1
            return counts
        except SQLAlchemyError as error:
            session.rollback()
            logger.info("batch of %s failed (%s); retrying row by row", table, error)
    for row in todo:
        with Session(engine, expire_on_commit=False) as session:
            try:
                converter.prepare(session, [row])
                result = converter.convert(session, row)
                _finish(session, [(_write(session, step, table, key_of(row), result), result)])
            except SQLAlchemyError as error:
                session.rollback()
                result = rejected(
                    checks.WRITE_FAILED, "", str(getattr(error, "orig", None) or error)[:400]
                )
                _write(session, step, table, key_of(row), result)
                session.commit()
            counts[result.outcome] += 1
    return counts


def add(total: dict[str, int], more: dict[str, int]) -> None:
    """Add one batch's counts to a running total."""
    for key, value in more.items():
        total[key] = total.get(key, 0) + value


def lookup(session: Session, table: str, keys: list[str], model: Any) -> dict[str, Any]:
    """Return the 2.1 objects these source keys went to (rejected keys left out)."""
    ids = targets(session, table, sorted(set(keys)))
    wanted = sorted({v for v in ids.values() if v is not None})
    found = (
        {o.id: o for o in session.scalars(select(model).where(model.id.in_(wanted)))}
        if wanted
        else {}
    )
    return {key: found[v] for key, v in ids.items() if v is not None and v in found}
