"""Database tools of the wizard and the General settings tab, for all three backends.

Test a server, list, create and attach databases, make a workstation login with only the
rights workstations need, and take verified backups. SQL Server statements are built
here and run through the same connection layer; they are tested by their exact text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from ibdesk import folders, private, schema
from ibdesk.db import DatabaseError, explain, make_engine, probe_tcp
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.progress import Job, LogLine
from ibdesk.settings import backup as dbbackup
from ibdesk.settings.backup import BackupResult, backup
from ibdesk.settings.connection import (
    ServerSpec,
    check_database_name,
    database_name,
    maintenance_database,
    mssql_name,
    parse_url,
    postgresql_name,
    spec_from_url,
    url,
)

# What workstations may do, table by table: logs are append-only for them.
WORKSTATION_GRANTS: dict[str, tuple[str, ...]] = {
    "patient": ("SELECT", "INSERT", "UPDATE"),
    "image_set": ("SELECT", "INSERT", "UPDATE"),
    "media_item": ("SELECT", "INSERT", "UPDATE"),
    "audit_event": ("SELECT", "INSERT"),
    "system_event": ("SELECT", "INSERT"),
    "login_event": ("SELECT", "INSERT"),
    "stat_delta": ("INSERT",),
    "stat_counter": ("SELECT",),
    "user_account": ("SELECT", "UPDATE"),
    "user_group": ("SELECT",),
    "group_right": ("SELECT",),
    "user_group_member": ("SELECT",),
    "setting": ("SELECT",),
    "license": ("SELECT",),
    "seat_activation": ("SELECT", "UPDATE"),
    schema.VERSION_TABLE: ("SELECT",),
}
_LOGIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{1,62}$")
MIN_LOGIN_PASSWORD = 12
MASK = "********"  # stands for a password in the statements the window shows


def _admin_engine(spec: ServerSpec, database: str | None = None) -> Engine:
    spec = spec.check()
    if spec.backend == "sqlite":
        raise UserError(_("SQLite has no server to connect to."))
    if spec.port or spec.backend == "postgresql":
        # Answer "not reachable" within seconds, before the driver's own retries.
        probe_tcp(spec.host, spec.port or 5432)
    target = url(spec, database or maintenance_database(spec))
    return make_engine(target, isolation_level="AUTOCOMMIT", poolclass=_null_pool())


@contextmanager
def _admin_connection(spec: ServerSpec) -> Iterator[Connection]:
    """Connect to the server's maintenance database; any failure becomes one plain sentence."""
    engine = _admin_engine(spec)
    try:
        with engine.connect() as conn:
            yield conn
    except DatabaseError:
        raise
    except Exception as error:
        raise DatabaseError(explain(error, engine.url)) from error
    finally:
        engine.dispose()


def _null_pool() -> type:
    from sqlalchemy.pool import NullPool

    return NullPool


def _sqlite_folder(spec: ServerSpec) -> Path:
    """Return the folder an SQLite spec names, or say that it does not exist."""
    folder = Path(spec.folder)
    if not folders.is_folder(folder):
        raise UserError(
            _("The folder %(folder)s does not exist; create it or choose another.", folder=folder)
        )
    return folder


def test_server(spec: ServerSpec) -> str:
    """Connect to the server (or check the SQLite folder); return a sentence saying so."""
    spec = spec.check()
    if spec.backend == "sqlite":
        folder = _sqlite_folder(spec)
        if not os.access(folder, os.W_OK):
            raise UserError(
                _("The folder %(folder)s is not writable by this program.", folder=folder)
            )
        return _("Connection successful: the folder can hold the database.")
    with _admin_connection(spec) as conn:
        version = conn.execute(
            text("SELECT @@VERSION" if spec.backend == "mssql" else "SELECT version()")
        ).scalar()
    first = str(version).splitlines()[0][:80] if version else ""
    if first:
        return _("Connection successful (%(server)s).", server=first)
    return _("Connection successful.")


def list_databases(spec: ServerSpec) -> list[str]:
    """List the databases on the server (SQLite: the database files in the folder)."""
    spec = spec.check()
    if spec.backend == "sqlite":
        folder = _sqlite_folder(spec)
        return sorted(
            p.name
            for p in folder.iterdir()
            if p.suffix in (".sqlite3", ".db", ".sqlite") and p.is_file()
        )
    query = (
        "SELECT name FROM sys.databases WHERE database_id > 4 ORDER BY name"
        if spec.backend == "mssql"
        else "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
        "ORDER BY datname"
    )
    with _admin_connection(spec) as conn:
        return [str(name) for name in conn.execute(text(query)).scalars()]


def create_database(spec: ServerSpec, name: str) -> URL:
    """Create a new ImageBank database on the server and migrate it; return its URL."""
    name = check_database_name(name)
    spec = spec.check()
    target = url(spec, name)
    if spec.backend == "sqlite":
        if Path(str(target.database)).exists():
            raise UserError(
                _(
                    "%(database)s already exists; choose another name or attach it instead.",
                    database=target.database,
                )
            )
    else:
        if name in list_databases(spec):
            raise UserError(
                _(
                    "A database named %(name)s already exists on %(label)s.",
                    name=name,
                    label=spec.label,
                )
            )
        quoted = postgresql_name(name) if spec.backend == "postgresql" else mssql_name(name)
        statement = f"CREATE DATABASE {quoted}"
        with _admin_connection(spec) as conn:
            conn.execute(text(statement))
    engine = make_engine(target, create=True)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    return target


def test_database(target: URL | str) -> schema.SchemaStatus:
    """Say whether a database is ImageBank's, and whether its schema is current."""
    engine = make_engine(target)
    try:
        return schema.check(engine)
    finally:
        engine.dispose()


def _table_grants(schema_prefix: str, grantee: str) -> list[str]:
    """Return the GRANT giving ``grantee`` each table's workstation rights."""
    return [
        f"GRANT {', '.join(rights)} ON {schema_prefix}{table} TO {grantee}"
        for table, rights in WORKSTATION_GRANTS.items()
    ]


def scram_verifier(conn: Connection, login: str, password: str) -> str:
    """Return a password's SCRAM-SHA-256 verifier, computed here: the password never travels."""
    raw: Any = conn.connection.driver_connection  # psycopg's own connection
    verifier = raw.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
    return bytes(verifier).decode("ascii")


def postgresql_login_statements(login: str, verifier: str, database: str) -> list[str]:
    """Return the statements making a PostgreSQL role with workstation rights only.

    ``verifier`` is the password's SCRAM verifier (``scram_verifier``), never the password:
    a statement that fails is written whole to the server's log.
    """
    role = postgresql_name(login)
    secret = "'" + verifier.replace("'", "''") + "'"
    statements = [
        f"CREATE ROLE {role} LOGIN PASSWORD {secret}",
        f"GRANT CONNECT ON DATABASE {postgresql_name(database)} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"REVOKE CREATE ON SCHEMA public FROM {role}",
        # PostgreSQL 14 and older (and clusters upgraded from them) let PUBLIC create here.
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ]
    return statements + _table_grants("", role)


def mssql_login_statements(login: str, password: str, database: str) -> list[str]:
    """Return the statements making a SQL Server login and user with workstation rights."""
    secret = password.replace("'", "''")
    user = mssql_name(login)
    statements = [
        f"CREATE LOGIN {user} WITH PASSWORD = N'{secret}', "
        f"DEFAULT_DATABASE = {mssql_name(database)}, CHECK_POLICY = ON",
        f"USE {mssql_name(database)}",
        f"CREATE USER {user} FOR LOGIN {user}",
    ]
    return statements + _table_grants("dbo.", user)


def check_login_name(login: str) -> str:
    """Return a workstation login's name, or say what is wrong with it."""
    if not _LOGIN.fullmatch(login):
        raise UserError(_("A login name is 2 to 63 letters, digits or _, starting with a letter."))
    return login


def check_login_password(password: str) -> str:
    """Return a workstation login's password, or say why it is too weak."""
    if len(password) < MIN_LOGIN_PASSWORD:
        raise UserError(
            _(
                "The login's password must be at least %(count)s characters long.",
                count=MIN_LOGIN_PASSWORD,
            )
        )
    return password


def login_server(target: URL | str) -> tuple[URL, str]:
    """Return the server whose logins are managed and its backend, or refuse one without them."""
    parsed = parse_url(target)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        raise UserError(_("SQLite has no logins: workstations use the file share's permissions."))
    if backend not in ("postgresql", "mssql"):
        raise UserError(_("Logins cannot be managed on %(backend)s databases.", backend=backend))
    return parsed, backend


def create_login(target: URL | str, login: str, password: str) -> list[str]:
    """Create a database login for workstations (read/write of the data, no DDL).

    Return the statements run, as the window shows them: the password masked.
    """
    check_login_name(login)
    check_login_password(password)
    parsed, backend = login_server(target)
    database = database_name(parsed)
    build = postgresql_login_statements if backend == "postgresql" else mssql_login_statements
    # PostgreSQL: all statements in one transaction (all or nothing). SQL Server: CREATE
    # LOGIN and USE run outside a user transaction.
    isolation = "READ COMMITTED" if backend == "postgresql" else "AUTOCOMMIT"
    engine = make_engine(parsed, isolation_level=isolation)
    try:
        with engine.begin() as conn:
            if backend == "postgresql":
                _refuse_existing_role(conn, login)
                statements = build(login, scram_verifier(conn, login, password), database)
            else:
                statements = build(login, password, database)
            for statement in statements:
                conn.exec_driver_sql(statement)
            if backend == "postgresql":
                _refuse_create_right(conn, login)
    except DatabaseError:
        raise
    except Exception as error:
        message = explain(error, parsed)
        if "already exists" in str(error):
            message = _("A login named %(login)s already exists on this server.", login=login)
        raise DatabaseError(message) from error
    finally:
        engine.dispose()
    return build(login, MASK, database)


def _refuse_existing_role(conn: Connection, login: str) -> None:
    # Asked first: a CREATE ROLE that fails is written whole to the server's log.
    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :login"), {"login": login})
    if found.first() is not None:
        raise DatabaseError(
            _("A login named %(login)s already exists on this server.", login=login)
        )


def _refuse_create_right(conn: Connection, login: str) -> None:
    # REVOKE ... FROM PUBLIC by a login that does not own the schema only warns: check it.
    can_create = conn.execute(
        text("SELECT has_schema_privilege(:login, 'public', 'CREATE')"), {"login": login}
    ).scalar()
    if can_create:
        raise DatabaseError(
            _(
                "Every login may still create tables in the public schema; run REVOKE "
                "CREATE ON SCHEMA public FROM PUBLIC as its owner, then make the login again."
            )
        )


@contextmanager
def new_postgresql_database(admin: Engine, name: str, *, keep: bool) -> Iterator[None]:
    """Create an empty PostgreSQL database for the block and drop it again afterwards.

    A block that fails or is cancelled never leaves it half-made; ``keep`` keeps it when
    the block ends well. ``admin`` is an AUTOCOMMIT engine on the same server.
    """
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {postgresql_name(name)}"))
    except Exception as error:
        raise DatabaseError(explain(error, admin.url)) from error
    kept = False
    try:
        yield
        kept = keep
    finally:
        if not kept:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {postgresql_name(name)} WITH (FORCE)"))


def pg_restore(dump: Path, target: URL) -> None:
    """Restore a ``pg_dump -Fc`` file into an empty database, all or nothing.

    The restored objects are owned by the connecting login; the password reaches
    ``pg_restore`` through its environment, never its command line.
    """
    done = dbbackup.run_pg_tool(
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "-d",
        target.database or "",
        # The whole path: a file named like "-x" must not reach pg_restore as an option.
        str(dump.resolve()),
        target=target,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [_("no message")])[-1]
        raise UserError(_("pg_restore could not restore the dump: %(detail)s", detail=last))


def mssql_attach_statement(database: str, mdf: str, ldf: str | None) -> str:
    """Return SQL Server's statement attaching a database from its files."""
    files = [f"(FILENAME = N'{mdf.replace(chr(39), chr(39) * 2)}')"]
    if ldf:
        files.append(f"(FILENAME = N'{ldf.replace(chr(39), chr(39) * 2)}')")
    name = mssql_name(check_database_name(database))
    return f"CREATE DATABASE {name} ON {', '.join(files)} FOR ATTACH"


def attach_sqlite(path: Path) -> URL:
    """Check that a SQLite file is an ImageBank 2.1 database; return its URL to use."""
    if not folders.is_file(path):
        raise UserError(_("%(path)s is not a file; choose the ImageBank database file.", path=path))
    target = URL.create("sqlite+pysqlite", database=str(path.resolve()))
    status = test_database(target)
    if status.state in (
        schema.SchemaState.FOREIGN,
        schema.SchemaState.EMPTY,
        schema.SchemaState.NEWER,
    ):
        raise UserError(status.message)
    return target


def attach(spec: ServerSpec, *, name: str = "", path: str = "", ldf: str = "") -> URL:
    """Attach an existing 2.1 database: a SQLite file, or SQL Server .mdf/.ldf files."""
    spec = spec.check()
    if spec.backend == "sqlite":
        return attach_sqlite(Path(path or spec.folder))
    if spec.backend == "postgresql":
        raise UserError(
            _(
                "PostgreSQL has no attach of database files: attach it from a dump made by "
                "pg_dump -Fc, restored into a new database."
            )
        )
    statement = mssql_attach_statement(name, path, ldf or None)
    with _admin_connection(spec) as conn:
        conn.exec_driver_sql(statement)
    return url(spec, name)


# --- Additions for the wizard and the General settings tab ---------------------------------


def prepare_sqlite_folder(spec: ServerSpec, own_folder: Path) -> None:
    """Create this program's own data folder when a SQLite spec names it (the first run)."""
    if spec.backend != "sqlite" or not spec.folder.strip():
        return
    folder = folders.expand(spec.folder.strip())
    # Only the program's own folder: a mistyped path must say "does not exist", not appear.
    try:
        own = folder.resolve() == own_folder.expanduser().resolve()
    except (OSError, ValueError):  # a NUL or a name too long: test_server says it is missing
        return
    if own:
        private.make_folder(folder)


@dataclass(frozen=True)
class ConnectionReport:
    """What [Test connection] says about a database: its server, then its schema."""

    server: str
    schema: schema.SchemaStatus


def test_connection(target: URL | str) -> ConnectionReport:
    """Connect to a database's server, then say whether the database is ImageBank's."""
    spec = spec_from_url(target)
    server = test_server(spec)
    return ConnectionReport(server, test_database(target))


@dataclass(frozen=True)
class UpdateOutcome:
    """What [Update database] did: the verified backup taken first, and from → to."""

    upgrade: schema.UpgradeResult
    backup: BackupResult | None


def update_database(
    engine: Engine, backup_folder: Path | None, *, backed_up_on_server: bool = False
) -> UpdateOutcome:
    """Migrate to the current schema, taking a verified backup first when data is at stake.

    SQL Server backs up on the server itself (``mssql_backup_statements``): the
    administrator confirms it was done with ``backed_up_on_server``.
    """
    status = schema.check(engine)
    if status.state in (schema.SchemaState.NEWER, schema.SchemaState.FOREIGN):
        raise UserError(status.message)
    saved = None
    if status.state is schema.SchemaState.OLDER:
        if engine.dialect.name == "mssql":
            if not backed_up_on_server:
                raise UserError(
                    _(
                        "Back up the database on the SQL Server first (the statements are shown "
                        "under Backup now), then confirm it was done."
                    )
                )
        elif backup_folder is None:
            raise UserError(_("Choose a folder for the backup taken before the update."))
        else:
            saved = backup(engine, backup_folder)
    return UpdateOutcome(schema.upgrade(engine), saved)


def update_job(
    engine: Engine, backup_folder: Path | None, *, backed_up_on_server: bool = False
) -> Job[UpdateOutcome]:
    """Run ``update_database`` as a long job (the backup first can take minutes)."""
    yield LogLine(_("Checking the database's schema, then backing it up before the update…"))
    outcome = update_database(engine, backup_folder, backed_up_on_server=backed_up_on_server)
    yield LogLine(_("The schema is now %(revision)s.", revision=outcome.upgrade.to_revision))
    return outcome
