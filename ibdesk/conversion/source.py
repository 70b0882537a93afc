"""The ImageBank 1.2 source: its tables (SPEC.md of the 1.2 format), opened read-only.

SQLite is opened through a ``mode=ro`` URI, so not even a journal can be written; a file in
WAL mode is opened ``immutable`` (a reader of a WAL file would otherwise make ``-wal`` and
``-shm`` files beside it) and refused while a ``-wal`` file still holds changes; a
PostgreSQL session is set to read-only transactions before its first statement; SQL Server
offers no such switch for a plain login, so there only SELECTs are ever sent. Rows are read
in primary-key order, one batch at a time (keyset paging), so memory stays flat.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ibdesk import folders
from ibdesk.db import display_url, explain
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

meta = MetaData()
SETTINGS = Table(
    "Installningar",
    meta,
    Column("Nyckel", String(60), primary_key=True),
    Column("Varde", String(400)),
)
PATIENTS = Table(
    "Patienter",
    meta,
    Column("PatientId", Integer, primary_key=True, autoincrement=False),
    Column("PersonNr", String(20)),
    Column("Fornamn", String(60)),
    Column("Efternamn", String(60)),
    Column("Adress", String(100)),
    Column("Postnr", String(10)),
    Column("Ort", String(60)),
    Column("Telefon", String(30)),
    Column("Anteckning", Text),
    Column("Skapad", String(19)),
    Column("Raderad", SmallInteger, nullable=False),
)
STATUSES = Table(
    "Status",
    meta,
    Column("StatusId", Integer, primary_key=True, autoincrement=False),
    Column("PatientId", Integer, nullable=False),
    Column("Datum", String(19)),
    Column("Beskrivning", String(200)),
    Column("Signerad", SmallInteger, nullable=False),
    Column("SigneradAv", String(40)),
)
ITEMS = Table(
    "Bilder",
    meta,
    Column("BildId", Integer, primary_key=True, autoincrement=False),
    Column("StatusId", Integer),
    Column("PatientId", Integer, nullable=False),
    Column("Filnamn", String(260), nullable=False),
    Column("Typ", SmallInteger, nullable=False),
    Column("Tander", String(100)),
    Column("Tagen", String(19)),
    Column("Kommentar", Text),
    Column("Raderad", SmallInteger, nullable=False),
)
LOG = Table(
    "Logg",
    meta,
    Column("LoggId", Integer, primary_key=True, autoincrement=False),
    Column("Tid", String(19)),
    Column("Anvandare", String(40)),
    Column("PatientId", Integer),
    Column("Handelse", String(40), nullable=False),
    Column("Detaljer", Text),
)
USERS = Table(
    "Anvandare",
    meta,
    Column("AnvandarId", Integer, primary_key=True, autoincrement=False),
    Column("Namn", String(40), nullable=False),
    Column("LosenordMD5", String(32)),
    Column("Admin", SmallInteger, nullable=False),
)
TABLES = (SETTINGS, USERS, PATIENTS, STATUSES, ITEMS, LOG)
KEYS = {t.name: next(iter(t.primary_key.columns)).name for t in TABLES}


def _sqlite_readonly_url(path: str) -> str:
    """Return a read-only URL for a 1.2 SQLite file that opening leaves untouched."""
    absolute = os.path.abspath(path)
    options = "mode=ro"
    if _wal_mode(absolute):
        wal = absolute + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            raise UserError(
                _(
                    "The 1.2 database %(path)s has changes not yet saved into it (in "
                    "%(wal)s): close ImageBank 1.2 on every workstation, then try again.",
                    path=absolute,
                    wal=wal,
                )
            )
        # Everything is in the file itself: read it as a file that never changes, so that
        # SQLite makes no -wal or -shm file beside it.
        options += "&immutable=1"
    return f"sqlite:///file:{quote(absolute)}?{options}&uri=true"


def _wal_mode(path: str) -> bool:
    """Say whether an SQLite file is in WAL mode (its header's format versions are 2)."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return header.startswith(b"SQLite format 3\0") and 2 in (header[18], header[19])


def _readonly_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(_("%(url)s is not a database URL.", url=display_url(url))) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database or ""
        if not path or not folders.is_file(path):
            raise UserError(_("The 1.2 database file %(path)s does not exist.", path=path))
        return create_engine(_sqlite_readonly_url(path))
    try:
        engine = create_engine(parsed)
    except (ImportError, ArgumentError) as error:  # no such dialect, or its driver is missing
        raise UserError(
            _(
                "ibdesk cannot read a 1.2 database at %(url)s: no driver for %(kind)s "
                "databases is installed (use SQLite, PostgreSQL or SQL Server).",
                url=display_url(url),
                kind=parsed.drivername,
            )
        ) from error
    if backend == "postgresql":

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cursor.close()
            dbapi_conn.commit()

    return engine


@dataclass
class Source:
    """An ImageBank 1.2 installation: its database (read-only) and its image folder."""

    url: str
    images: Path
    engine: Engine

    @property
    def label(self) -> str:
        """Return the source as people read it (no password)."""
        return f"{display_url(self.url)} + {self.images}"

    def count(self, table: Table) -> int:
        """Return the number of rows in a 1.2 table."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)

    def rows(
        self, table: Table, batch: int = 1000, *, columns: tuple[str, ...] = ()
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield a table's rows in key order, one batch (list of dicts) at a time.

        With ``columns``, only those (and the key) are read.
        """
        key = table.c[KEYS[table.name]]
        wanted = [key, *(table.c[name] for name in columns)] if columns else [table]
        after: Any = None
        while True:
            query = select(*wanted).order_by(key).limit(batch)
            if after is not None:
                query = query.where(key > after)
            with self.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            after = rows[-1][key.name]

    def close(self) -> None:
        """Release the source's connections."""
        self.engine.dispose()


def open_source(url: str, images: str | Path) -> Source:
    """Open a 1.2 installation read-only, or say in one sentence why it cannot be."""
    folder = Path(images)
    if not folders.is_folder(folder):
        raise UserError(_("The 1.2 image folder %(path)s does not exist.", path=str(folder)))
    engine = _readonly_engine(url)
    try:
        with engine.connect() as conn:
            missing = [t.name for t in TABLES if not engine.dialect.has_table(conn, t.name)]
    except SQLAlchemyError as error:
        engine.dispose()
        raise UserError(explain(error, url)) from error
    if missing:
        engine.dispose()
        raise UserError(
            _(
                "This is not an ImageBank 1.2 database: the tables %(tables)s are missing.",
                tables=", ".join(missing),
            )
        )
    return Source(url=url, images=folder.resolve(), engine=engine)
