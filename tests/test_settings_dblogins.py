"""Database users for the workstations: list, create, change password, remove. PostgreSQL
for real (its roles are the cluster's, so each test names its own); SQL Server as text."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ibdesk.cli import main
from ibdesk.errors import NotFound, UserError
from ibdesk.settings import dbadmin, dblogins

PASSWORD = "ett långt lösenord 42"
NEW_PASSWORD = "ett annat långt lösenord 7"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def can_log_in(db_url: str, login: str, password: str) -> bool:
    engine = create_engine(make_url(db_url).set(username=login, password=password))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.mark.backends("postgresql")
def test_list_change_password_and_remove_a_login(db_url: str, backend: str) -> None:
    login = f"rum_{uuid.uuid4().hex[:8]}"
    dbadmin.create_login(db_url, login, PASSWORD)
    found = {item.name: item for item in dblogins.list_logins(db_url)}
    assert login in found and not found[login].is_owner
    assert any(item.is_owner for item in found.values())  # the owner is shown, marked

    dblogins.change_password(db_url, login, NEW_PASSWORD)
    assert can_log_in(db_url, login, NEW_PASSWORD)
    assert not can_log_in(db_url, login, PASSWORD)
    with pytest.raises(UserError, match="at least 12"):
        dblogins.change_password(db_url, login, "kort")
    with pytest.raises(NotFound, match="no login named"):
        dblogins.change_password(db_url, "finns_inte", NEW_PASSWORD)
    owner = next(item.name for item in found.values() if item.is_owner)
    with pytest.raises(UserError, match="cannot be removed"):
        dblogins.drop_login(db_url, owner)

    dblogins.drop_login(db_url, login)
    assert login not in {item.name for item in dblogins.list_logins(db_url)}
    assert not can_log_in(db_url, login, NEW_PASSWORD)
    with pytest.raises(NotFound):
        dblogins.drop_login(db_url, login)


@pytest.mark.backends("postgresql")
def test_the_cli_lists_changes_and_removes_logins(
    db_url: str, backend: str, cli_admin: str
) -> None:
    login = f"rum_{uuid.uuid4().hex[:8]}"
    made = run("--db", db_url, "db", "create-login", login, "--login-password", PASSWORD)
    assert made.exit_code == 0, made.output
    listed = run("--db", db_url, "db", "logins", "--json")
    assert listed.exit_code == 0 and login in [r["name"] for r in json.loads(listed.stdout)]
    changed = run("--db", db_url, "db", "login-password", login, "--login-password", NEW_PASSWORD)
    assert changed.exit_code == 0 and "new password" in changed.stdout
    short = run("--db", db_url, "db", "login-password", login, "--login-password", "kort")
    assert short.exit_code != 0 and "at least 12" in short.stderr
    dropped = run("--db", db_url, "db", "drop-login", login, "--yes")
    assert dropped.exit_code == 0 and f"Login {login} removed." in dropped.stdout
    again = run("--db", db_url, "db", "drop-login", login, "--yes")
    assert again.exit_code != 0 and "no login named" in again.stderr


def test_sqlite_has_no_logins(tmp_path: object) -> None:
    with pytest.raises(UserError, match="SQLite has no logins"):
        dblogins.list_logins("sqlite:////tmp/none.sqlite3")


def test_sql_server_statements_as_text() -> None:
    assert dblogins.mssql_password_statements("rum_1", "it's långt nog!") == [
        "ALTER LOGIN [rum_1] WITH PASSWORD = N'it''s långt nog!'"
    ]
    assert dblogins.mssql_drop_statements("rum_1", "imagebank") == [
        "USE [imagebank]",
        "DROP USER [rum_1]",
        "DROP LOGIN [rum_1]",
    ]
    assert "sys.database_principals" in dblogins.MSSQL_LIST
    assert dblogins.postgresql_password_statements("Rum 1", "a'b") == [
        "ALTER ROLE \"Rum 1\" PASSWORD 'a''b'"
    ]
    with pytest.raises(UserError, match="login name"):
        dblogins.change_password("postgresql://x@127.0.0.1/db", "drop table; --", PASSWORD)


def test_making_a_login_refuses_a_server_without_logins_before_building_statements() -> None:
    # Making, listing, changing and removing a login all ask the one check: a backend other
    # than PostgreSQL and SQL Server is refused, not sent SQL Server's statements.
    for action in (
        lambda url: dbadmin.create_login(url, "reception", "a long enough password"),
        lambda url: dblogins.change_password(url, "reception", "a long enough password"),
        dblogins.list_logins,
    ):
        with pytest.raises(UserError, match="cannot be managed on mysql"):
            action("mysql://admin@127.0.0.1/ImageBank")
        with pytest.raises(UserError, match="SQLite has no logins"):
            action("sqlite:////tmp/none.sqlite3")


def test_one_password_rule_for_workstation_logins() -> None:
    short = "x" * (dbadmin.MIN_LOGIN_PASSWORD - 1)
    for action in (
        lambda: dbadmin.create_login("postgresql://a@127.0.0.1/ImageBank", "reception", short),
        lambda: dblogins.change_password("postgresql://a@127.0.0.1/ImageBank", "reception", short),
    ):
        with pytest.raises(UserError, match=f"at least {dbadmin.MIN_LOGIN_PASSWORD} characters"):
            action()


@pytest.mark.backends("postgresql")
def test_a_login_that_owns_tables_is_not_removed_with_them(db_url: str, backend: str) -> None:
    # DROP OWNED BY would drop what the role owns: for the role that made the ImageBank
    # tables (a database owned by another role), every patient's data.
    login = f"rum_{uuid.uuid4().hex[:8]}"
    dbadmin.create_login(db_url, login, PASSWORD)
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE kept_rows (id integer)"))
            conn.execute(text("INSERT INTO kept_rows VALUES (1)"))
            conn.execute(text(f'ALTER TABLE kept_rows OWNER TO "{login}"'))
        with pytest.raises(UserError, match="owns tables or other parts of this database"):
            dblogins.drop_login(db_url, login)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM kept_rows")).scalar() == 1
        assert login in {item.name for item in dblogins.list_logins(db_url)}
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS kept_rows"))
        engine.dispose()
    dblogins.drop_login(db_url, login)  # owning nothing now, it goes
    assert login not in {item.name for item in dblogins.list_logins(db_url)}
