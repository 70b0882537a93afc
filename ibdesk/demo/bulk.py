"""Fast multi-row inserts for the demo: COPY on PostgreSQL, the driver's executemany on SQLite.

Other backends get SQLAlchemy's insertmanyvalues (multi-row INSERT ... RETURNING).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from ibdesk.db import DatabaseError, explain

if TYPE_CHECKING:
    import psycopg


def insert_rows(
    session: Session, model: type[Any], rows: list[dict[str, Any]], *, returning: bool = True
) -> list[int]:
    """Insert the rows into the model's table; return their ids in order (if ``returning``)."""
    if not rows:
        return []
    table = model.__table__
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        driver_error = session.get_bind().dialect.loaded_dbapi.Error
        try:
            if dialect == "postgresql":
                return _copy(session, table, rows, returning=returning)
            return _sqlite_insert(session, table, rows, returning=returning)
        except driver_error as error:
            # Straight to the driver, so no SQLAlchemy wrapping: word it here.
            raise DatabaseError(explain(error, session.get_bind().engine.url)) from error
    if not returning:
        session.execute(insert(table), rows)
        return []
    result = session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return [row[0] for row in result]


def _sqlite_insert(
    session: Session, table: Any, rows: list[dict[str, Any]], *, returning: bool
) -> list[int]:
    """Insert with the driver's executemany, values already in SQLite's stored form.

    SQLite cannot return the ids of a multi-row INSERT in order, and SQLAlchemy's
    per-value processing costs more than SQLite's own work here. This transaction is
    the only writer (BEGIN IMMEDIATE), so the next ids are known.
    """
    ids: list[int] = []
    if returning:
        start = session.scalar(select(func.max(table.c.id))) or 0
        ids = list(range(start + 1, start + 1 + len(rows)))
        for row_id, row in zip(ids, rows, strict=True):
            row["id"] = row_id
    columns = list(rows[0])
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    raw.cursor().executemany(statement, [[_sqlite_value(row[c]) for c in columns] for row in rows])
    return ids


def _copy(
    session: Session, table: Any, rows: list[dict[str, Any]], *, returning: bool
) -> list[int]:
    """Load rows with PostgreSQL's COPY (ids reserved from the table's sequence first)."""
    ids: list[int] = []
    if returning:
        ids = list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": table.name, "n": len(rows)},
            )
        )
        for row_id, row in zip(ids, rows, strict=True):
            row["id"] = row_id
    columns = list(rows[0])
    raw = cast("psycopg.Connection[Any]", session.connection().connection.dbapi_connection)
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([_naive_utc(row[c]) for c in columns])
    return ids


def _sqlite_value(value: Any) -> Any:
    # What SQLAlchemy's SQLite types store: naive UTC text with microseconds, ISO dates.
    if isinstance(value, dt.datetime):
        return _naive_utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _naive_utc(value: Any) -> Any:
    # The columns hold naive UTC (models.UTCDateTime); COPY bypasses that type.
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
