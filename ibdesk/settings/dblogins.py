"""Database users for the workstations: list, change a password, remove (General settings,
and ``ibdesk db logins|login-password|drop-login``). Making one is ``dbadmin.create_login``.

PostgreSQL runs for real; SQL Server's statements are built as text (tested as such, no
server here) and run the same way. SQLite has no logins: the file share's rights decide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import URL

from ibdesk.db import DatabaseError, explain, make_engine
from ibdesk.errors import NotFound, UserError
from ibdesk.i18n import gettext as _
from ibdesk.settings.connection import database_name, login_name, mssql_name, postgresql_name
from ibdesk.settings.dbadmin import (
    check_login_name,
    check_login_password,
    login_server,
    scram_verifier,
)

# Roles that may connect to this database and log in, less superusers and the built-in ones:
# the workstation logins (and the owner, shown so that it is not removed by mistake).
_PG_LIST = """
SELECT r.rolname, r.rolname = d.owner AS is_owner
FROM pg_roles r, (SELECT pg_get_userbyid(datdba) AS owner FROM pg_database
                  WHERE datname = current_database()) d
WHERE r.rolcanlogin AND (r.rolname = d.owner OR (NOT r.rolsuper
  AND left(r.rolname, 3) <> 'pg_'
  AND has_database_privilege(r.rolname, current_database(), 'CONNECT')))
ORDER BY r.rolname
"""
MSSQL_LIST = (
    "SELECT p.name, CASE WHEN p.name = 'dbo' THEN 1 ELSE 0 END AS is_owner "
    "FROM sys.database_principals p JOIN sys.server_principals s ON s.sid = p.sid "
    "WHERE p.type = 'S' AND s.type = 'S' AND s.is_disabled = 0 ORDER BY p.name"
)


@dataclass(frozen=True)
class Login:
    """One database login: its name, and whether it owns the database (never removed)."""

    name: str
    is_owner: bool


def check_server(target: URL | str) -> None:
    """Refuse at once a database that has no logins to manage (SQLite), before anything else."""
    login_server(target)


Statements = list[str] | Callable[[Connection], list[str]]


def _run(parsed: URL, statements: Statements, *, autocommit: bool) -> list[Any]:
    # ``statements`` may be built on the connection (a password's verifier is made there).
    engine = make_engine(parsed, isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED")
    try:
        with engine.begin() as conn:
            rows: list[Any] = []
            for statement in statements if isinstance(statements, list) else statements(conn):
                result = conn.exec_driver_sql(statement)
                if result.returns_rows:
                    rows = list(result)
            return rows
    except Exception as error:
        raise DatabaseError(explain(error, parsed)) from error
    finally:
        engine.dispose()


def list_logins(target: URL | str) -> list[Login]:
    """Return the logins that can use this database, in name order."""
    parsed, backend = login_server(target)
    query = _PG_LIST if backend == "postgresql" else MSSQL_LIST
    return [Login(str(name), bool(owner)) for name, owner in _run(parsed, [query], autocommit=True)]


@dataclass(frozen=True)
class Listing:
    """The logins General settings lists, or why they cannot be listed."""

    logins: list[Login]
    problem: str | None = None


def listing(target: URL | str, backend: str) -> Listing:
    """List the logins of a server that has them (none for SQLite), or say why not."""
    if backend not in ("postgresql", "mssql"):
        return Listing([])
    try:
        return Listing(list_logins(target))
    except UserError as error:
        return Listing([], str(error))


def _pg_owns_query(login: str) -> str:
    """Return a query counting what a role owns in this database (tables, functions, schemas).

    ``DROP OWNED BY`` drops all of it: for a role that made the ImageBank tables, the data.
    """
    role = "'" + login.replace("'", "''") + "'"
    return (
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
        f"WHERE r.rolname = {role}) + (SELECT count(*) FROM pg_proc p JOIN pg_roles r "
        f"ON r.oid = p.proowner WHERE r.rolname = {role}) + (SELECT count(*) FROM "
        f"pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE r.rolname = {role})"
    )


def _existing(parsed: URL, login: str) -> Login:
    found = next((item for item in list_logins(parsed) if item.name == login), None)
    if found is None:
        raise NotFound(_("There is no login named %(login)s for this database.", login=login))
    return found


def postgresql_password_statements(login: str, verifier: str) -> list[str]:
    """Return the statement giving a PostgreSQL role a new password, as its SCRAM verifier.

    Never the password itself (``dbadmin.scram_verifier``): a statement that fails is
    written whole to the server's log.
    """
    secret = "'" + verifier.replace("'", "''") + "'"
    return [f"ALTER ROLE {postgresql_name(login)} PASSWORD {secret}"]


def mssql_password_statements(login: str, password: str) -> list[str]:
    """Return the statement giving a SQL Server login a new password."""
    secret = password.replace("'", "''")
    return [f"ALTER LOGIN {mssql_name(login)} WITH PASSWORD = N'{secret}'"]


def postgresql_drop_statements(login: str) -> list[str]:
    """Return the statements taking a role's rights in this database away, then the role."""
    role = postgresql_name(login)
    return [f"DROP OWNED BY {role}", f"DROP ROLE {role}"]


def mssql_drop_statements(login: str, database: str) -> list[str]:
    """Return the statements removing a SQL Server user from the database, then its login."""
    user = mssql_name(login)
    return [f"USE {mssql_name(database)}", f"DROP USER {user}", f"DROP LOGIN {user}"]


def change_password(target: URL | str, login: str, password: str) -> None:
    """Give a workstation login a new password."""
    parsed, backend = login_server(target)
    check_login_name(login)
    check_login_password(password)
    _existing(parsed, login)
    statements: Statements = (
        (lambda conn: postgresql_password_statements(login, scram_verifier(conn, login, password)))
        if backend == "postgresql"
        else mssql_password_statements(login, password)
    )
    _run(parsed, statements, autocommit=backend == "mssql")


def drop_login(target: URL | str, login: str) -> None:
    """Remove a workstation login; the database's owner and the login in use are refused."""
    parsed, backend = login_server(target)
    check_login_name(login)
    found = _existing(parsed, login)
    in_use = login_name(parsed)
    # SQL Server compares login names without regard to case (its default collation).
    same = login.casefold() == in_use.casefold() if backend == "mssql" else login == in_use
    if found.is_owner or same:
        raise UserError(
            _(
                "%(login)s owns this database or is the login this program uses; it cannot "
                "be removed here.",
                login=login,
            )
        )
    if backend == "postgresql" and _run(parsed, [_pg_owns_query(login)], autocommit=True)[0][0]:
        raise UserError(
            _(
                "%(login)s owns tables or other parts of this database; removing it would "
                "remove them with their data, so it cannot be removed here.",
                login=login,
            )
        )
    statements = (
        postgresql_drop_statements(login)
        if backend == "postgresql"
        else mssql_drop_statements(login, database_name(parsed))
    )
    # PostgreSQL: both in one transaction, so a refused DROP ROLE keeps the rights.
    _run(parsed, statements, autocommit=backend == "mssql")


__all__ = ["Login", "change_password", "drop_login", "list_logins"]
