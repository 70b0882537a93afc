"""Writing 1.2 rows in batches: the source-key map in the same transaction, bad rows retried alone.

A batch is one transaction holding the new 2.1 rows, their ``conversion_map`` rows and their
``conversion_issue`` rows, so after a kill -9 a rerun skips exactly the committed keys. The
rows go in through ``ibdesk.bulkwrite`` (COPY on PostgreSQL, executemany elsewhere) with
their ids reserved up front, so a converter can point a child row (an audit event, a medium)
at its parent at once. When a batch fails, it is rolled back and retried row by row (as
pgloader does): the sound rows go in and the one bad row is recorded as rejected with the
database's reason. Any other error converting one row (a file or a value no check foresaw)
is handled the same way: that row is rejected with the error as its reason and the
traceback logged, so a rerun does not meet it again. Only a ``UserError`` (a full disk, an
image folder that cannot be written: the same for every row) stops the step.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ibdesk import bulkwrite, display
from ibdesk.conversion import checks
from ibdesk.conversion.source import KEYS, Source
from ibdesk.db import DatabaseError
from ibdesk.errors import UserError
from ibdesk.i18n import ngettext
from ibdesk.models import (
    AuditEvent,
    ConversionIssue,
    ConversionMap,
    ImageSet,
    LoginEvent,
    MediaItem,
    Patient,
)
from ibdesk.progress import Job, Progress

logger = logging.getLogger(__name__)
CONVERTED, MERGED, REJECTED = "converted", "merged", "rejected"
# Parents before the rows that point at them.
_ORDER = {
    model: rank
    for rank, model in enumerate(
        (Patient, ImageSet, MediaItem, AuditEvent, LoginEvent, ConversionMap, ConversionIssue)
    )
}
_FAILED = (SQLAlchemyError, DatabaseError)


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
    target: Any = None  # the 2.1 id of the map's target, or an ORM object flushed with the batch
    detail: str = ""
    issues: list[Issue] = field(default_factory=list)


def rejected(reason: str, column: str = "", raw: Any = None) -> Outcome:
    """Return the outcome of a row that is not carried over, with its reason."""
    return Outcome(REJECTED, issues=[Issue(reason, column, raw, rejected=True)])


class Batch:
    """The 2.1 rows one batch of source rows becomes, written together when it ends."""

    def __init__(self, session: Session, size: int) -> None:
        """Collect rows for ``session``'s transaction; reserve ids ``size`` at a time."""
        self.session = session
        self.ids = bulkwrite.IdPool(session, block=size)
        self._rows: dict[type[Any], list[dict[str, Any]]] = {}
        self._updates: dict[type[Any], list[dict[str, Any]]] = {}

    def add(self, model: type[Any], values: dict[str, Any]) -> int:
        """Queue a new row of ``model``; return the id it will have."""
        values["id"] = row_id = self.ids.take(model)
        self._rows.setdefault(model, []).append(values)
        return row_id

    def queue(self, model: type[Any], values: dict[str, Any]) -> None:
        """Queue a new row whose id nothing needs (the map, the issues)."""
        self._rows.setdefault(model, []).append(values)

    def update(self, model: type[Any], row_id: int, **values: Any) -> None:
        """Queue new values for an existing row."""
        self._updates.setdefault(model, []).append({"id": row_id, **values})

    def write(self) -> None:
        """Write what the ORM holds, then every queued row, parents first, then the updates."""
        self.session.flush()
        for model in sorted(self._rows, key=lambda m: _ORDER.get(m, -1)):
            bulkwrite.insert_rows(self.session, model, self._rows[model], returning=False)
        for model, changes in self._updates.items():
            bulkwrite.update_rows(self.session, model, changes)


class Converter(ABC):
    """Converts source rows of one table; ``prepare`` looks up what a batch needs at once."""

    def prepare(self, session: Session, rows: list[dict[str, Any]]) -> None:  # noqa: B027
        """Look up whatever the rows refer to, in a few queries (called before each attempt).

        A hook: settings and users need nothing looked up, so it does nothing unless overridden.
        """

    @abstractmethod
    def convert(self, batch: Batch, row: dict[str, Any]) -> Outcome:
        """Convert one row (its 2.1 rows queued on the batch)."""


def _text(value: Any) -> str | None:
    return None if value is None else checks.shown(str(value))


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


def _record(batch: Batch, step: int, table: str, key: str, result: Outcome) -> None:
    target = result.target
    batch.queue(
        ConversionMap,
        {
            "source_table": table,
            "source_key": key,
            "target_id": target if isinstance(target, int) or target is None else target.id,
            "outcome": result.outcome,
            "detail": result.detail[:40],
        },
    )
    for issue in result.issues:
        batch.queue(
            ConversionIssue,
            {
                "step": step,
                "source_table": table,
                "source_key": key,
                "column_name": issue.column,
                "reason": issue.reason,
                "rejected": issue.rejected,
                "raw_value": _text(issue.raw),
                "new_value": _text(issue.new),
            },
        )


def _attempt(
    session: Session,
    step: int,
    table: str,
    keys: list[str],
    rows: list[dict[str, Any]],
    converter: Converter,
) -> list[Outcome]:
    """Convert the rows and commit them with their map in one transaction."""
    bulkwrite.prepare(session)
    batch = Batch(session, len(rows) + 1)
    converter.prepare(session, rows)
    with session.no_autoflush:
        results = [converter.convert(batch, row) for row in rows]
    session.flush()  # ORM-made targets (settings, accounts) get their ids
    for key, result in zip(keys, results, strict=True):
        _record(batch, step, table, key, result)
    batch.write()
    session.commit()
    return results


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
            results = _attempt(session, step, table, [key_of(r) for r in todo], todo, converter)
            for result in results:
                counts[result.outcome] += 1
            return counts
        except _FAILED as error:
            session.rollback()
            logger.info("batch of %s failed (%s); retrying row by row", table, error)
        except UserError:
            raise
        except Exception as error:
            session.rollback()
            logger.info("batch of %s failed (%r); retrying row by row", table, error)
    for row in todo:
        result = _write_row(engine, step, table, key_of(row), row, converter)
        counts[result.outcome] += 1
    return counts


def _write_row(
    engine: Engine,
    step: int,
    table: str,
    key: str,
    row: dict[str, Any],
    converter: Converter,
) -> Outcome:
    """Convert and commit one row alone; record it as rejected, with the reason, if it fails."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            (result,) = _attempt(session, step, table, [key], [row], converter)
            return result
        except _FAILED as error:
            session.rollback()
            reason = getattr(error, "orig", None) or error.__cause__ or error
            result = rejected(checks.WRITE_FAILED, "", str(reason)[:400])
        except UserError:
            raise
        except Exception as error:
            session.rollback()
            logger.exception("converting %s %s failed; the row is rejected", table, key)
            result = rejected(checks.CONVERT_FAILED, "", f"{type(error).__name__}: {error}"[:400])
        batch = Batch(session, 1)
        _record(batch, step, table, key, result)
        batch.write()
        session.commit()
        return result


def add(total: dict[str, int], more: dict[str, int]) -> None:
    """Add one batch's counts to a running total."""
    for key, value in more.items():
        total[key] = total.get(key, 0) + value


def write_table(
    engine: Engine,
    step: int,
    source: Source,
    table: Table,
    converter: Converter,
    *,
    batch: int,
    done: int = 0,
    total: int | None = None,
) -> Job[tuple[dict[str, int], int]]:
    """Convert a whole 1.2 table batch by batch, keyed by its primary key; yield progress.

    ``done`` and ``total`` count rows over the whole step; return the table's counts by
    outcome and the rows done after it.
    """
    column = KEYS[table.name]

    def source_key(row: dict[str, Any]) -> str:  # a text key as the report shows it
        return checks.shown(str(row[column]))

    counts: dict[str, int] = {}
    for rows in source.rows(table, batch):
        add(counts, write_batch(engine, step, table.name, source_key, rows, converter))
        done += len(rows)
        yield Progress(
            done,
            total,
            ngettext(
                "%(table)s: %(count)s row",
                "%(table)s: %(count)s rows",
                done,
                table=table.name,
                count=display.number(done),
            ),
        )
    return counts, done


def lookup(session: Session, table: str, keys: list[str], *columns: Any) -> dict[str, Any]:
    """Return these columns of the 2.1 rows the source keys went to (rejected keys left out).

    The first column is the target's id; each value is a row with the columns as attributes.
    """
    ids = targets(session, table, sorted(set(keys)))
    wanted = sorted({v for v in ids.values() if v is not None})
    found = (
        {row[0]: row for row in session.execute(select(*columns).where(columns[0].in_(wanted)))}
        if wanted
        else {}
    )
    return {key: found[v] for key, v in ids.items() if v is not None and v in found}
