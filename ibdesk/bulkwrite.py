"""The one bulk-write path: many rows per statement, ids reserved before the rows go in.

Used by ``ibdesk demo`` and by every batch of the 1.2 conversion. PostgreSQL loads rows with
COPY (psycopg's ``cursor.copy()``); SQLite with the driver's ``executemany`` of values already
in SQLite's stored form, inside the one ``BEGIN IMMEDIATE`` transaction of the batch; other
backends get SQLAlchemy Core's ``insert()`` executemany (insertmanyvalues). Ids are reserved
per batch (``IdPool``), so child rows carry their parents' ids and need no round trip.

These writers bypass the ORM and its Python-side column defaults, so ``insert_rows`` fills
in each column's scalar or callable default for a key a row leaves out. ``insert_values``
takes tuples already in stored form and converts and fills in nothing: for a writer that
makes its own rows (the demo), the fastest path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from ibdesk.db import DatabaseError, explain
from ibdesk.models import UTCDateTime

if TYPE_CHECKING:
    import psycopg


def prepare(session: Session, *, cache_mib: int = 64) -> None:
    """Set the connection up for a bulk load (SQLite: the page cache; nothing elsewhere).

    The cache is a cap, not an allocation: the indexes a load touches at random places stay
    in it. WAL with synchronous=NORMAL (every connection, ibdesk.db) already survives
    kill -9 with every committed batch; temp_store cannot change inside a transaction.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"PRAGMA cache_size = {-1024 * int(cache_mib)}"))


class IdPool:
    """Ids reserved for new rows of one transaction, per table.

    PostgreSQL: drawn from the table's sequence in blocks (gaps are harmless). SQLite and
    SQL Server: counted up from the table's highest id, read once per transaction under the
    writer's lock (SQLite's BEGIN IMMEDIATE; SQL Server's TABLOCKX), so no one else can take
    the same ids before the rows are written.
    """

    def __init__(self, session: Session, block: int = 500) -> None:
        """Reserve for ``session``'s transaction, ``block`` ids at a time on PostgreSQL."""
        self.session = session
        self.block = max(1, block)
        self.dialect = session.get_bind().dialect.name
        self._free: dict[str, list[int]] = {}
        self._next: dict[str, int] = {}

    def take(self, model: type[Any]) -> int:
        """Return a new id for a row of this model."""
        table = model.__table__
        if self.dialect != "postgresql":
            if table.name not in self._next:
                self._next[table.name] = highest_id(self.session, model) + 1
            row_id = self._next[table.name]
            self._next[table.name] = row_id + 1
            return row_id
        free = self._free.setdefault(table.name, [])
        if not free:
            free.extend(reversed(_sequence_ids(self.session, table, self.block)))
        return free.pop()


def highest_id(session: Session, model: type[Any]) -> int:
    """Return the highest id in the model's table (0 when empty); SQL Server: lock it."""
    table = model.__table__
    if session.get_bind().dialect.name == "mssql":
        found = session.execute(
            text(f"SELECT MAX(id) FROM {table.name} WITH (TABLOCKX, HOLDLOCK)")
        ).scalar()
    else:
        found = session.scalar(select(func.max(table.c.id)))
    return int(found or 0)


def _sequence_ids(session: Session, table: Table, count: int) -> list[int]:
    # One array, not a row per id, and the sequence looked up once: both cost more than
    # drawing the ids.
    ids = session.scalar(
        text(
            "SELECT array_agg(nextval(q.s)) FROM generate_series(1, :n), "
            "(SELECT CAST(pg_get_serial_sequence(:t, 'id') AS regclass) AS s) q"
        ),
        {"t": table.name, "n": count},
    )
    return list(ids or [])


def reserve_ids(session: Session, model: type[Any], count: int) -> list[int]:
    """Reserve ``count`` new ids of this model's table (the transaction must then write them)."""
    table = model.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _sequence_ids(session, table, count)
    start = highest_id(session, model)
    return list(range(start + 1, start + 1 + count))


def insert_rows(
    session: Session, model: type[Any], rows: list[dict[str, Any]], *, returning: bool = True
) -> list[int]:
    """Insert the rows into the model's table; return their ids in order (if ``returning``).

    With ``returning``, ids are reserved first and set on the rows; rows that already carry
    their ``id`` (from an ``IdPool``) are written as they are.
    """
    if not rows:
        return []
    table = model.__table__
    if returning:
        for row_id, row in zip(reserve_ids(session, model, len(rows)), rows, strict=True):
            row["id"] = row_id
    columns = _complete(table, rows)
    dialect = session.get_bind().dialect.name
    ids = [row["id"] for row in rows] if returning else []
    if dialect in ("postgresql", "sqlite"):
        driver_error = session.get_bind().dialect.loaded_dbapi.Error
        try:
            if dialect == "postgresql":
                _copy(session, table, columns, rows)
            else:
                _sqlite_insert(session, table, columns, rows)
        except driver_error as error:
            # Straight to the driver, so no SQLAlchemy wrapping: word it here.
            raise DatabaseError(explain(error, session.get_bind().engine.url)) from error
        return ids
    # SQL Server: SQLAlchemy sets IDENTITY_INSERT itself when the rows carry their ids.
    session.execute(insert(table), rows)
    return ids


def insert_values(
    session: Session, model: type[Any], columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows given as tuples in ``columns`` order, their values already in stored form.

    Stored form is what SQLite keeps and PostgreSQL's COPY reads as text: a timestamp as
    naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``, a date as ``YYYY-MM-DD``, a boolean as 0 or 1,
    None for NULL. No default is filled in (a left-out column gets the table's own), and no
    value is converted on SQLite and PostgreSQL: the fastest path, for writers that make
    their rows themselves (the demo).
    """
    if not rows:
        return
    table = model.__table__
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        named = [dict(zip(columns, _parsed(table, columns, row), strict=True)) for row in rows]
        session.execute(insert(table), named)
        return
    driver_error = session.get_bind().dialect.loaded_dbapi.Error
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    try:
        if dialect == "postgresql":
            statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            pg = cast("psycopg.Connection[Any]", raw)
            with pg.cursor() as cursor, cursor.copy(statement) as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
        else:
            marks = ", ".join("?" for _ in columns)
            raw.cursor().executemany(
                f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows
            )
    except driver_error as error:
        raise DatabaseError(explain(error, session.get_bind().engine.url)) from error


def _parsed(table: Table, columns: Sequence[str], row: tuple[Any, ...]) -> list[Any]:
    """Turn stored-form values back into Python ones (for SQLAlchemy's own insert)."""
    out = list(row)
    for i, name in enumerate(columns):
        value, kind = out[i], table.c[name].type
        if value is None:
            continue
        if isinstance(kind, UTCDateTime | DateTime):
            out[i] = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
        elif isinstance(kind, Date):
            out[i] = dt.date.fromisoformat(value)
        elif isinstance(kind, Boolean):
            out[i] = bool(value)
    return out


def _complete(table: Table, rows: list[dict[str, Any]]) -> list[str]:
    """Give every row the same keys: a left-out column gets its Python-side default."""
    columns = list(rows[0])
    first = rows[0].keys()
    odd = [row for row in rows if row.keys() != first]
    seen = set(columns)
    for row in odd:
        for name in row:
            if name not in seen:
                seen.add(name)
                columns.append(name)
    missing = [
        c.name
        for c in table.columns
        if c.name not in seen and c.default is not None and not c.primary_key
    ]
    columns += missing
    if odd or missing:
        for row in rows:
            if len(row) != len(columns):
                for name in columns:
                    if name not in row:
                        row[name] = _default(table, name)
    return columns


def _default(table: Table, name: str) -> Any:
    default: Any = table.c[name].default
    if default is None:
        return None
    if default.is_callable:
        return default.arg(None)  # SQLAlchemy wraps it to take an execution context
    return default.arg if default.is_scalar else None


def _sqlite_insert(
    session: Session, table: Table, columns: list[str], rows: list[dict[str, Any]]
) -> None:
    """Insert with the driver's executemany, values already in SQLite's stored form.

    SQLAlchemy's per-value processing costs more than SQLite's own work here, so each
    column gets at most one conversion, chosen once from its type.
    """
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    raw.cursor().executemany(statement, _values(table, columns, rows, _SQLITE_FORMS))


def _copy(session: Session, table: Table, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Load rows with PostgreSQL's COPY."""
    raw = cast("psycopg.Connection[Any]", session.connection().connection.dbapi_connection)
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for values in _values(table, columns, rows, _COPY_FORMS):
            copy.write_row(values)


def _values(
    table: Table,
    columns: list[str],
    rows: list[dict[str, Any]],
    forms: dict[type[Any], Callable[[Any], Any]],
) -> list[list[Any]]:
    """Return each row's values in column order, converted where the column's type asks."""
    get = itemgetter(*columns)
    special = []
    for i, name in enumerate(columns):
        for kind, form in forms.items():
            if isinstance(table.c[name].type, kind):
                special.append((i, form))
                break
    out = []
    for row in rows:
        values = list(get(row)) if len(columns) > 1 else [get(row)]
        for i, form in special:
            value = values[i]
            if value is not None:
                values[i] = form(value)
        out.append(values)
    return out


def update_rows(session: Session, model: type[Any], changes: list[dict[str, Any]]) -> None:
    """Update rows by id in one executemany (each dict: ``id`` and the new values)."""
    if not changes:
        return
    table = model.__table__
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        names = tuple(sorted(k for k in change if k != "id"))
        by_columns.setdefault(names, []).append(change)
    for names, group in by_columns.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}") for name in names})
        )
        session.connection().execute(
            statement, [{f"b_{k}": v for k, v in change.items()} for change in group]
        )


def _naive_utc(value: dt.datetime) -> dt.datetime:
    # The columns hold naive UTC (models.UTCDateTime); COPY bypasses that type.
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def _sqlite_time(value: dt.datetime) -> str:
    # What SQLAlchemy's SQLite DateTime stores: naive UTC text with microseconds.
    if value.tzinfo is dt.UTC and value.year >= 1000:
        return value.isoformat(" ", "microseconds")[:26]  # without "+00:00"
    return _naive_utc(value).isoformat(" ", "microseconds")


def _iso_date(value: dt.date) -> str:
    return value.isoformat()


_SQLITE_FORMS: dict[type[Any], Callable[[Any], Any]] = {
    UTCDateTime: _sqlite_time,
    DateTime: _sqlite_time,
    Date: _iso_date,
    Boolean: int,
}
_COPY_FORMS: dict[type[Any], Callable[[Any], Any]] = {UTCDateTime: _naive_utc, DateTime: _naive_utc}
