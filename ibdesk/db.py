"""Engines, sessions and plain-language database errors for the three backends.

SQLite is the embedded default (WAL, foreign keys on, writers take the lock at BEGIN so
concurrent workstations wait for each other instead of failing), PostgreSQL goes through
psycopg 3 and Microsoft SQL Server through pyodbc.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from flask_babel import LazyString
from sqlalchemy import Engine, Row, create_engine, event, exc, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l

CONNECT_TIMEOUT_S = 5
SQLITE_BUSY_TIMEOUT_MS = 30_000
BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mssql": "Microsoft SQL Server"}
# The SQL Server version the program targets when compiling statements without a server.
MSSQL_TARGET_VERSION = (16, 0)


class DatabaseError(UserError):
    """A database problem, worded for the administrator (one sentence, no traceback)."""


def normalize_url(url: str) -> URL:
    """Parse a database URL and pick ibdesk's driver for its backend."""
    try:
        parsed = make_url(url)
    except ValueError as error:  # a port that is not a number
        raise DatabaseError(
            _(
                "The port in '%(url)s' is not a number; write the URL as "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE with PORT in digits.",
                url=_unparsed_masked(url),
            )
        ) from error
    except exc.ArgumentError as error:
        raise DatabaseError(
            _(
                "'%(url)s' is not a database URL; use sqlite:///PATH, "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE or "
                "mssql+pyodbc://...",
                url=_unparsed_masked(url),
            )
        ) from error
    backend = parsed.get_backend_name()
    try:
        driver = parsed.get_driver_name()
    except exc.NoSuchModuleError:  # a dialect SQLAlchemy does not know: unsupported below
        driver = ""
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    if backend == "postgresql":
        if driver not in ("psycopg", "postgresql", "psycopg2"):
            raise DatabaseError(
                _(
                    "PostgreSQL driver '%(driver)s' is not supported; use "
                    "postgresql://... (ibdesk connects with psycopg 3).",
                    driver=driver,
                )
            )
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "mssql":
        if driver != "pyodbc":
            raise DatabaseError(
                _(
                    "SQL Server driver '%(driver)s' is not supported; use mssql+pyodbc://...",
                    driver=driver,
                )
            )
        return parsed
    raise DatabaseError(
        _(
            "Unsupported database type '%(drivername)s': ImageBank runs on "
            "SQLite, PostgreSQL (postgresql://) or Microsoft SQL Server "
            "(mssql+pyodbc://).",
            drivername=parsed.drivername,
        )
    )


_ODBC_PASSWORD = re.compile(r"(?i)(?<![A-Za-z_])(PWD|Password)=(\{(?:[^}]|\}\})*\}|[^;]*)")


def parse_odbc(text: str) -> dict[str, str]:
    """Return the key=value fields of an ODBC connection string, braced values unbraced.

    A value in braces may hold ``;`` and ``=``; ``}}`` inside braces stands for ``}``.
    """
    fields: dict[str, str] = {}
    at, end = 0, len(text)
    while at < end:
        equals = text.find("=", at)
        semicolon = text.find(";", at)
        if equals == -1 or -1 < semicolon < equals:  # a part without "=": skip it
            if semicolon == -1:
                break
            at = semicolon + 1
            continue
        key = text[at:equals].strip()
        start = equals + 1
        brace = start
        while brace < end and text[brace] == " ":
            brace += 1
        if brace < end and text[brace] == "{":
            value, at = _braced(text, brace + 1)
            semicolon = text.find(";", at)
            at = end if semicolon == -1 else semicolon + 1
        else:
            semicolon = text.find(";", start)
            stop = end if semicolon == -1 else semicolon
            value, at = text[start:stop], stop + 1
        if key:
            fields[key] = value
    return fields


def _braced(text: str, at: int) -> tuple[str, int]:
    # Read a braced value from just after its "{"; return it and where reading stopped.
    chars: list[str] = []
    while at < len(text):
        if text[at] == "}":
            if text.startswith("}}", at):
                chars.append("}")
                at += 2
                continue
            return "".join(chars), at + 1
        chars.append(text[at])
        at += 1
    return "".join(chars), at  # no closing brace: the rest is the value


def _unparsed_masked(url: str) -> str:
    """Return a URL that could not be parsed with its password masked, as far as it shows."""
    return _ODBC_PASSWORD.sub(r"\1=***", re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url))


def display_url(url: str | URL) -> str:
    """Return the URL for logs and screens: every password masked (ODBC's PWD= too).

    Percent-escapes are undone so that Swedish characters read as typed; SQL Server's
    connection string is shown as the driver reads it.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    odbc = parsed.query.get("odbc_connect")
    if isinstance(odbc, str):
        masked = _ODBC_PASSWORD.sub(r"\1=***", odbc)
        return f"{parsed.drivername}://?odbc_connect={masked}"
    return unquote(parsed.render_as_string(hide_password=True))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" listener issue BEGIN itself (pysqlite's own is off).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys = ON")
    mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "wal" and not getattr(dbapi_conn, "_ibdesk_memory", False):
        cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    # 64 MB of page cache (the default is 2 MB): index lookups on a large clinic's tables
    # stay in memory instead of going to disk.
    cur.execute("PRAGMA cache_size = -65536")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the write lock at BEGIN: a deferred transaction that later writes
    # fails at once with "database is locked" when another writer got there first.
    read_only = conn.get_execution_options().get("ibdesk_read_only", False)
    conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str | URL, *, create: bool = False, **kwargs: Any) -> Engine:
    """Create an engine for a supported URL, with ibdesk's settings for its backend.

    A SQLite file is only created when ``create`` is true; otherwise a missing file is an
    error, so that checking a mistyped path writes nothing.
    """
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    parsed = normalize_url(text)
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {"future": True}
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser().resolve()
            if not path.parent.is_dir():
                raise DatabaseError(
                    _(
                        "The folder %(parent)s for the SQLite database does not exist; "
                        "create it or choose another.",
                        parent=path.parent,
                    )
                )
            if not create and not path.exists():
                raise DatabaseError(
                    _(
                        "The SQLite database %(path)s does not exist; create it with the "
                        "setup wizard.",
                        path=path,
                    )
                )
            if path.is_dir():
                raise DatabaseError(
                    _("%(path)s is a folder, not a SQLite database file.", path=path)
                )
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    elif backend == "postgresql":
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        options["pool_pre_ping"] = True
    elif backend == "mssql":
        query = dict(parsed.query)
        query.setdefault("timeout", str(CONNECT_TIMEOUT_S))
        parsed = parsed.set(query=query)
        options["pool_pre_ping"] = True
        options["fast_executemany"] = True
    options.update(kwargs)
    engine = create_engine(parsed, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        _keep_private(engine, parsed.database or "")
    return engine


def _keep_private(engine: Engine, database: str) -> None:
    # The embedded database holds patient data: in the data folder it and its -wal/-shm
    # files are 0600 (SQLite gives the files it makes later the database file's mode).
    from ibdesk import private

    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser().resolve()
    if not private.is_inside_data_dir(path):
        return

    def restrict(_dbapi_conn: Any, _record: Any) -> None:
        private.restrict_sqlite(path)

    event.listen(engine, "connect", restrict)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to the engine."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """Open a session that commits on success and rolls back on any error."""
    bind = engine.execution_options(ibdesk_read_only=True) if read_only else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            if read_only:
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise


def keyset_scan(
    session: Session, entity: type[Any], key: InstrumentedAttribute[Any], size: int
) -> Iterator[Row[Any]]:
    """Yield every row of ``entity``'s table whose ``key`` is above 0, in ``key`` order.

    Plain rows (every column by name, no ORM object to build), a batch of ``size`` per query
    after the last key seen (keyset paging), so time and memory stay flat on any table.
    """
    columns = entity.__table__.c
    after = 0
    while True:
        batch = session.execute(select(*columns).where(key > after).order_by(key).limit(size)).all()
        if not batch:
            return
        yield from batch
        after = int(getattr(batch[-1], key.key) or 0)


@dataclass(frozen=True)
class ServerInfo:
    """What the status bar and the wizard say about a database."""

    backend: str
    server: str
    database: str

    @property
    def label(self) -> str:
        """Return one line naming backend, server and database."""
        return f"{BACKENDS.get(self.backend, self.backend)} · {self.server} · {self.database}"


def server_info(url: str | URL) -> ServerInfo:
    """Describe a URL's backend, server and database without connecting."""
    parsed = normalize_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return ServerInfo(backend, "embedded", parsed.database or ":memory:")
    server = parsed.host or "localhost"
    if parsed.port:
        server = f"{server}:{parsed.port}"
    if backend == "mssql" and "odbc_connect" in parsed.query:
        server = _("ODBC connection string")
    return ServerInfo(backend, server, parsed.database or "")


_PG_PATTERNS: list[tuple[str, LazyString]] = [
    (
        r"could not translate host name|Name or service not known|nodename nor servname",
        _l("The database server's host name %(host)s was not found; check the spelling."),
    ),
    (
        r"Connection refused",
        _l(
            "The database server at %(host)s refused the connection; is it running and "
            "listening on port %(port)s?"
        ),
    ),
    (
        r"password authentication failed|no password supplied",
        _l("The database server refused the user name or password."),
    ),
    (
        r"database \"[^\"]+\" does not exist",
        _l("The database %(database)s does not exist on %(host)s."),
    ),
    (
        r"timeout expired|timed out",
        _l("The database server %(host)s did not answer within %(timeout)s seconds."),
    ),
    (
        r"permission denied",
        _l("The database user has no permission for that; use an account with more rights."),
    ),
]
_SQLITE_PATTERNS: list[tuple[str, LazyString]] = [
    (
        r"attempt to write a readonly database|readonly database",
        _l(
            "The SQLite file %(database)s is read-only; give this program write access to it and "
            "its folder."
        ),
    ),
    (
        r"unable to open database file",
        _l(
            "The SQLite file %(database)s cannot be opened; check that the folder exists and is "
            "writable."
        ),
    ),
    (r"file is not a database|file is encrypted", _l("%(database)s is not a SQLite database.")),
    (
        r"database is locked",
        _l("The SQLite file %(database)s is locked by another program; try again shortly."),
    ),
    (r"disk I/O error", _l("A disk error occurred while using %(database)s.")),
]
_MSSQL_PATTERNS: list[tuple[str, LazyString]] = [
    (
        r"Can't open lib|Data source name not found|IM002",
        _l("The ODBC driver named in the connection is not installed; choose one of: %(drivers)s."),
    ),
    (r"Login failed", _l("SQL Server refused the login name or password.")),
    (
        r"Login timeout expired|Unable to connect|TCP Provider|08001",
        _l(
            "SQL Server at %(host)s could not be reached; check the server name, instance and "
            "that TCP/IP is enabled."
        ),
    ),
    (r"Cannot open database", _l("SQL Server has no database %(database)s this login may open.")),
]


def explain(error: BaseException, url: str | URL | None = None) -> str:
    """Turn a driver error into one sentence an administrator can act on."""
    if isinstance(error, DatabaseError):
        return str(error)
    text = str(getattr(error, "orig", None) or error)
    parsed: URL | None = None
    if url is not None:
        try:
            parsed = make_url(url) if isinstance(url, str) else url
        except exc.ArgumentError:
            parsed = None
    values = {
        "host": (parsed.host if parsed else None) or "localhost",
        "port": (parsed.port if parsed else None) or _("the default port"),
        "database": (parsed.database if parsed else None) or _("the database"),
        "drivers": ", ".join(odbc_drivers()) or _("none installed"),
        "timeout": CONNECT_TIMEOUT_S,
    }
    backend = parsed.get_backend_name() if parsed else ""
    patterns = {
        "postgresql": _PG_PATTERNS,
        "sqlite": _SQLITE_PATTERNS,
        "mssql": _MSSQL_PATTERNS,
    }.get(backend, _PG_PATTERNS + _SQLITE_PATTERNS + _MSSQL_PATTERNS)
    for pattern, message in patterns:
        if re.search(pattern, text, re.IGNORECASE):
            return str(message) % values
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return _("The database reported an error: %(first)s", first=first)


def odbc_drivers() -> list[str]:
    """List the ODBC drivers installed on this machine (empty without unixODBC)."""
    try:
        import pyodbc
    except ImportError:
        return []
    try:
        return list(pyodbc.drivers())
    except Exception:
        return []


def probe_tcp(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast with a plain message when a server's port cannot be reached."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except (socket.gaierror, UnicodeError) as error:
        # UnicodeError: a name the resolver cannot even encode ("." or a label over 63 letters).
        raise DatabaseError(
            _("The host name %(host)s was not found; check the spelling.", host=host)
        ) from error
    except TimeoutError as error:
        raise DatabaseError(
            _(
                "%(host)s:%(port)s did not answer within %(timeout)s seconds.",
                host=host,
                port=port,
                timeout=format(timeout, "g"),
            )
        ) from error
    except OSError as error:
        raise DatabaseError(
            _(
                "%(host)s:%(port)s refused the connection; is the database server running?",
                host=host,
                port=port,
            )
        ) from error


def is_sqlite(engine: Engine) -> bool:
    """Return whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def sqlite_path(engine: Engine) -> Path | None:
    """Return the file behind a SQLite engine, or None for memory or other backends."""
    if not is_sqlite(engine):
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(os.path.abspath(database))


def prepare_mssql_dialect(dialect: Any) -> Any:
    """Set up an unconnected SQL Server dialect as a current server would (for compiling).

    Without a server, SQLAlchemy assumes an old one (DATETIME for DATE, IMAGE for large
    binaries, ROW_NUMBER() paging); connecting sets these from the real version.
    """
    dialect.server_version_info = MSSQL_TARGET_VERSION
    dialect._setup_version_attributes()
    dialect._supports_nvarchar_max = True
    dialect.supports_comments = True
    return dialect


def mssql_dialect() -> Any:
    """Return a SQL Server (pyodbc) dialect set up for the targeted server version."""
    from sqlalchemy.dialects.mssql.pyodbc import MSDialect_pyodbc

    return prepare_mssql_dialect(MSDialect_pyodbc())
