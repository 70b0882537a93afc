"""A large load into empty tables: indexes built and counters counted once after it.

Keeping six indexes of a table up to date row by row costs more than the rows themselves
(random places in every B-tree); building them once over the loaded rows is a sort. So a
load that fills empty tables drops their secondary indexes in its transaction, writes, and
re-creates each index from the very definition the database had for it (SQLite: the
``CREATE INDEX`` text it keeps; PostgreSQL: ``pg_get_indexdef``), in the same transaction:
killed halfway, the transaction rolls back and the indexes were never gone. Unique
constraints and primary keys stay (they are what keeps the rows right). Other backends
keep their indexes (no SQL Server here to measure it on).

The statistics counters' triggers go the same way (``triggers_after``): on SQLite they
add two ``stat_delta`` rows per media row, which cost as much as the media rows; the load
counts its rows once at the end instead (``statistics.settle``), in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ibdesk import bulkwrite


def secondary_indexes(session: Session, models: Sequence[type[Any]]) -> list[tuple[str, ...]]:
    """Return (name, definition) of the models' declared non-unique indexes in the database."""
    names = sorted(
        str(index.name)
        for model in models
        for index in model.__table__.indexes
        if not index.unique and index.name
    )
    if not names:
        return []
    return _catalogue(
        session,
        {
            "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND sql IS NOT NULL AND name IN (SELECT value FROM json_each(:names)) "
            "ORDER BY name",
            "postgresql": "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND NOT i.indisunique "
            "AND c.relname IN (SELECT json_array_elements_text(CAST(:names AS json))) "
            "ORDER BY c.relname",
        },
        names,
    )


def _catalogue(
    session: Session, queries: dict[str, str], names: list[str]
) -> list[tuple[str, ...]]:
    """Run this backend's catalogue query (none: no rows) with ``:names`` bound to ``names``."""
    query = queries.get(session.get_bind().dialect.name)
    if query is None:
        return []
    rows = session.execute(text(query), {"names": json.dumps(names)})
    return [tuple(str(value) for value in row) for row in rows]


def tables_empty(session: Session, models: Sequence[type[Any]]) -> bool:
    """Return whether none of the models' tables holds a row."""
    return all(
        session.scalar(
            select(func.count()).select_from(select(m.__table__.c.id).limit(1).subquery())
        )
        == 0
        for m in models
    )


def foreign_keys(session: Session, models: Sequence[type[Any]]) -> list[tuple[str, ...]]:
    """Return (table, name, definition) of the foreign keys of the models' tables (PostgreSQL).

    PostgreSQL checks a foreign key with a trigger and a lookup per row; adding the
    constraint after the load checks every row in one join. SQLite's check is a lookup in
    the parent's primary key, about as cheap as it gets: its keys stay.
    """
    return _catalogue(
        session,
        {
            "postgresql": "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = current_schema() AND c.contype = 'f' "
            "AND t.relname IN (SELECT json_array_elements_text(CAST(:names AS json))) "
            "ORDER BY t.relname, c.conname",
        },
        _table_names(models),
    )


def _table_names(models: Sequence[type[Any]]) -> list[str]:
    return sorted(str(m.__table__.name) for m in models)


@contextmanager
def indexes_after(session: Session, models: Sequence[type[Any]]) -> Iterator[None]:
    """Drop the models' secondary indexes now; re-create them exactly when the block ends.

    PostgreSQL: their foreign keys too, and the tables are locked against other writers
    until the transaction ends. Meant for a load into empty tables, all in ``session``'s
    one transaction.
    """
    if session.get_bind().dialect.name == "postgresql":
        # Readers may read; no one else writes these tables until the load commits.
        names = ", ".join(m.__table__.name for m in models)
        session.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    indexes = secondary_indexes(session, models)
    keys = foreign_keys(session, models)
    for table, name, _definition in keys:
        session.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
    for name, _definition in indexes:
        session.execute(text(f"DROP INDEX {name}"))
    yield
    if session.get_bind().dialect.name == "postgresql":
        # Sorting for an index build in memory rather than in temporary files (this
        # transaction only; a cap, not an allocation).
        session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _name, definition in indexes:
        session.execute(text(definition))
    for table, name, definition in keys:
        session.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))


def triggers(session: Session, models: Sequence[type[Any]]) -> list[tuple[str, ...]]:
    """Return (table, name, definition) of the user triggers on the models' tables."""
    return _catalogue(
        session,
        {
            "sqlite": "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN (SELECT value FROM json_each(:names)) ORDER BY tbl_name, name",
            "postgresql": "SELECT t.relname, g.tgname, pg_get_triggerdef(g.oid) "
            "FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = current_schema() AND NOT g.tgisinternal "
            "AND t.relname IN (SELECT json_array_elements_text(CAST(:names AS json))) "
            "ORDER BY t.relname, g.tgname",
        },
        _table_names(models),
    )


@contextmanager
def triggers_after(session: Session, models: Sequence[type[Any]]) -> Iterator[None]:
    """Drop the triggers on the models' tables now; re-create them exactly when the block ends.

    What the triggers would have done for the rows written meanwhile is the caller's to do,
    in the same transaction (the counters: ``statistics.settle``). Meant, like
    ``indexes_after``, for a load into empty tables that holds them alone.
    """
    found = triggers(session, models)
    postgresql = session.get_bind().dialect.name == "postgresql"
    for table, name, _definition in found:
        session.execute(text(f"DROP TRIGGER {name}" + (f" ON {table}" if postgresql else "")))
    yield
    for _table, _name, definition in found:
        session.execute(text(definition))


class LocalIds:
    """New ids counted here, up from each table's highest, for a load that holds its tables.

    Only inside ``indexes_after``, whose EXCLUSIVE lock keeps every other writer off the
    tables until the load commits (SQLite's single writer holds everything anyway): no id
    is asked of the database per chunk, so another process can build the rows
    (``demo.producer``). PostgreSQL's sequences learn the ids at the end
    (``advance_sequences``).
    """

    def __init__(self, highest: dict[str, int]) -> None:
        """Count up from ``highest``: table name -> its highest id."""
        self.next = dict(highest)

    @classmethod
    def of(cls, session: Session, models: Sequence[type[Any]]) -> LocalIds:
        """Count up from the highest ids the models' tables have now."""
        return cls({m.__table__.name: bulkwrite.highest_id(session, m) for m in models})

    def __call__(self, model: type[Any], count: int) -> range:
        """Return the next ``count`` ids of the model's table."""
        name = model.__table__.name
        first = self.next[name] + 1
        self.next[name] += count
        return range(first, first + count)


def advance_sequences(session: Session, models: Sequence[type[Any]]) -> None:
    """PostgreSQL: move each table's id sequence up to its highest id (never back)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        name = model.__table__.name
        session.execute(
            text(
                "SELECT setval(q.s, GREATEST(q.m, COALESCE(pg_sequence_last_value(q.s), 0))) "
                "FROM (SELECT CAST(pg_get_serial_sequence(:t, 'id') AS regclass) AS s, "
                f"(SELECT max(id) FROM {name}) AS m) q WHERE q.m IS NOT NULL"
            ),
            {"t": name},
        )
