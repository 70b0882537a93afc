"""Database connections as the wizard's form describes them, turned into URLs.

A ``ServerSpec`` holds what the administrator typed for a server (no database chosen yet);
``url(spec, database)`` builds the SQLAlchemy URL. SQL Server goes through a full ODBC
connection string (``odbc_connect``), so instance names, Windows authentication,
encryption and certificate trust are spelled exactly as the driver expects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote_plus

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ibdesk import config, display, folders, limits
from ibdesk.db import BACKENDS, DatabaseError, display_url, parse_odbc, server_info
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

BACKEND_LABELS = {
    "sqlite": "SQLite (embedded)",
    "postgresql": "PostgreSQL",
    "mssql": "Microsoft SQL Server",
}
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")
_URL_PASSWORD = re.compile(r"(//[^:/]*:)[^@]*@")


@dataclass(frozen=True)
class ServerSpec:
    """What the administrator typed to reach a database server."""

    backend: str
    host: str = ""
    port: int | None = None
    instance: str = ""
    user: str = ""
    password: str = ""
    trusted: bool = False  # SQL Server: Windows (trusted) authentication
    driver: str = ""  # SQL Server: the ODBC driver's name
    encrypt: bool = True
    trust_server_certificate: bool = False
    folder: str = ""  # SQLite: the folder holding the database files

    def check(self) -> ServerSpec:
        """Return the spec tidied, or say which field is wrong."""
        if self.backend not in BACKEND_LABELS:
            raise UserError(
                _(
                    "Choose SQLite, PostgreSQL or SQL Server, not '%(backend)s'.",
                    backend=self.backend,
                )
            )
        if self.backend == "sqlite":
            if not self.folder.strip():
                raise UserError(_("Choose the folder for the SQLite database."))
            folder = folders.expand(self.folder.strip())
            # Not /etc, C:\Windows or the root of a disk: the database holds patient data.
            folders.refuse_dangerous(folder, _("database folder"))
            return replace(self, folder=str(folder))
        host = self.host.strip()
        instance = self.instance.strip()
        if "\\" in host and not instance:
            host, instance = host.split("\\", 1)
        host = check_host(host)
        if self.port is not None and not 0 < self.port < 65536:
            raise UserError(_("The port must be a number from 1 to 65535."))
        if self.backend == "mssql":
            if not self.driver:
                raise UserError(_("Choose the ODBC driver to connect to SQL Server with."))
            if not self.trusted and not self.user.strip():
                raise UserError(_("Type the SQL login name, or choose Windows authentication."))
        elif not self.user.strip():
            raise UserError(_("Type the PostgreSQL user name."))
        return replace(self, host=host, instance=instance, user=self.user.strip())

    @property
    def label(self) -> str:
        """Return the server as the status bar names it."""
        if self.backend == "sqlite":
            return self.folder
        server = f"{self.host}\\{self.instance}" if self.instance else self.host
        return f"{server}:{self.port}" if self.port else server


def check_host(host: str) -> str:
    """Return a server's name or address (without a SQL Server instance), or say what is wrong."""
    host = host.strip()
    if not host:
        raise UserError(_("Type the database server's name or address."))
    if not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
        raise UserError(_("'%(host)s' is not a server name or address.", host=host))
    return host


def check_database_name(name: str) -> str:
    """Return a database name that is safe on every backend, or say what is wrong."""
    name = name.strip()
    if not _DB_NAME.fullmatch(name):
        raise UserError(
            _(
                "A database name is 1 to 63 letters, digits, _ or -, starting with a "
                "letter (for example ImageBank)."
            )
        )
    return name


def _odbc_value(value: str) -> str:
    # Values with ; { } or spaces at the ends must be braced, with } doubled.
    if re.search(r"[;{}]|^\s|\s$", value):
        return "{" + value.replace("}", "}}") + "}"
    return value


def odbc_connection_string(spec: ServerSpec, database: str) -> str:
    """Return the ODBC connection string for SQL Server."""
    server = f"{spec.host}\\{spec.instance}" if spec.instance else spec.host
    if spec.port:
        server = f"{server},{spec.port}"
    parts = [
        ("DRIVER", "{" + spec.driver.replace("}", "}}") + "}"),
        ("SERVER", _odbc_value(server)),
        ("DATABASE", _odbc_value(database)),
    ]
    if spec.trusted:
        parts.append(("Trusted_Connection", "yes"))
    else:
        parts += [("UID", _odbc_value(spec.user)), ("PWD", _odbc_value(spec.password))]
    parts.append(("Encrypt", "yes" if spec.encrypt else "no"))
    if spec.trust_server_certificate:
        parts.append(("TrustServerCertificate", "yes"))
    parts.append(("Connection Timeout", "5"))
    return ";".join(f"{key}={value}" for key, value in parts) + ";"


def url(spec: ServerSpec, database: str) -> URL:
    """Return the SQLAlchemy URL of a database on the server."""
    spec = spec.check()
    if spec.backend == "sqlite":
        name = (
            database if database.endswith((".sqlite3", ".db", ".sqlite")) else f"{database}.sqlite3"
        )
        return URL.create("sqlite+pysqlite", database=str(Path(spec.folder) / name))
    if spec.backend == "postgresql":
        return URL.create(
            "postgresql+psycopg",
            username=spec.user,
            password=spec.password or None,
            host=spec.host,
            port=spec.port or 5432,
            database=database,
        )
    return URL.create(
        "mssql+pyodbc", query={"odbc_connect": odbc_connection_string(spec, database)}
    )


def maintenance_database(spec: ServerSpec) -> str:
    """Return the database every server has, to connect to before one is chosen."""
    return {"postgresql": "postgres", "mssql": "master"}.get(spec.backend, "")


def odbc_connect_query(spec: ServerSpec, database: str) -> str:
    """Return the URL-encoded odbc_connect parameter (for display and tests)."""
    return quote_plus(odbc_connection_string(spec, database))


def shown_url(target: URL | str) -> str:
    """Return a database URL for screens, every password masked (see db.display_url)."""
    return display_url(target)


def parse_url(target: URL | str) -> URL:
    """Parse a database URL, or say in one sentence why it is not one (no password shown)."""
    if not isinstance(target, str):
        return target
    try:
        return make_url(target)
    except ValueError as error:  # a port that is not a number
        raise UserError(
            _(
                "The port in '%(url)s' is not a number; write the URL as "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE with PORT in digits.",
                url=_URL_PASSWORD.sub(r"\1***@", target),
            )
        ) from error
    except ArgumentError as error:
        raise UserError(
            _(
                "'%(url)s' is not a database URL; use sqlite:///PATH, "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE or "
                "mssql+pyodbc://...",
                url=_URL_PASSWORD.sub(r"\1***@", target),
            )
        ) from error


def odbc_fields(target: URL | str) -> dict[str, str]:
    """Return the key=value fields of a SQL Server URL's ODBC connection string."""
    parsed = parse_url(target)
    return parse_odbc(str(parsed.query.get("odbc_connect", "")))


def _field(fields: dict[str, str], key: str, default: str = "") -> str:
    # ODBC keywords are case-insensitive: "Database=" typed by hand is DATABASE.
    wanted = key.casefold()
    return next((value for name, value in fields.items() if name.casefold() == wanted), default)


def database_name(target: URL | str) -> str:
    """Return a URL's database as [List] names it (SQLite: the file's name)."""
    parsed = parse_url(target)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return Path(str(parsed.database or "")).name
    if backend == "mssql" and "odbc_connect" in parsed.query:
        return _field(odbc_fields(parsed), "DATABASE")
    return str(parsed.database or "")


def login_name(target: URL | str) -> str:
    """Return the login a URL connects as (SQL Server: the ODBC UID; none when trusted)."""
    parsed = parse_url(target)
    if parsed.get_backend_name() == "mssql" and "odbc_connect" in parsed.query:
        return _field(odbc_fields(parsed), "UID")
    return str(parsed.username or "")


def mssql_name(name: str) -> str:
    """Return a SQL Server name in brackets, a ``]`` in it doubled."""
    return "[" + name.replace("]", "]]") + "]"


def postgresql_name(name: str) -> str:
    """Return a PostgreSQL identifier in double quotes, a ``"`` in it doubled."""
    return '"' + name.replace('"', '""') + '"'


def spec_from_url(target: URL | str) -> ServerSpec:
    """Return the server part of a database URL (to list or create databases beside it)."""
    parsed = parse_url(target)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return ServerSpec("sqlite", folder=str(Path(str(parsed.database)).parent))
    if backend == "postgresql":
        return ServerSpec(
            "postgresql",
            host=parsed.host or "localhost",
            port=parsed.port,
            user=parsed.username or "",
            password=parsed.password or "",
        )
    fields = odbc_fields(parsed)
    server = _field(fields, "SERVER", parsed.host or "")
    host, _comma, port = server.partition(",")
    host, _backslash, instance = host.partition("\\")
    if port and limits.row_id(port.strip()) is None:
        raise UserError(_("The port must be a number from 1 to 65535."))
    return ServerSpec(
        "mssql",
        host=host,
        port=int(port) if port else parsed.port,
        instance=instance,
        user=_field(fields, "UID", parsed.username or ""),
        password=_field(fields, "PWD", parsed.password or ""),
        trusted=_field(fields, "Trusted_Connection").lower() == "yes",
        driver=_field(fields, "DRIVER", str(parsed.query.get("driver", ""))),
        encrypt=_field(fields, "Encrypt", "yes").lower() == "yes",
        trust_server_certificate=_field(fields, "TrustServerCertificate").lower() == "yes",
    )


@dataclass(frozen=True)
class DatabaseLabel:
    """What the status bar says about the database without connecting to it."""

    backend: str
    server: str
    name: str
    source: str
    described: str = ""  # as an administrator names it: "SQLite file C:\\ImageBank\\..."


def describe_database(choice: Callable[[], config.DatabaseChoice]) -> DatabaseLabel:
    """Describe the database a choice names from its URL alone (instant, never fails)."""
    try:
        chosen = choice()
    except UserError as error:
        return DatabaseLabel("?", "?", str(error), "config", str(error))
    try:
        info = server_info(chosen.url)
    except DatabaseError:
        invalid = _("(not a valid database URL)")
        return DatabaseLabel("?", "?", invalid, chosen.source, invalid)
    return DatabaseLabel(
        BACKENDS.get(info.backend, info.backend),
        info.server,
        info.database,
        chosen.source,
        display.database(chosen.url),
    )
