"""Defects a review found in the database tools: login passwords, rights, quoting, backups."""

from __future__ import annotations

import os
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from test_settings_dblogins import can_log_in

from ibdesk.cli import main
from ibdesk.db import DatabaseError
from ibdesk.errors import UserError
from ibdesk.settings import backup as backups
from ibdesk.settings import connection, dbadmin, dblogins
from ibdesk.settings.connection import ServerSpec, odbc_connection_string, url

# A quote and a backslash: the escaped form of the password differs from the typed one.
PASSWORD = "it's a \\ long secret 42"
NEW_PASSWORD = "another long secret 7"
SECRET_WORDS = ("long secret",)


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """Record every statement (and its parameters) any engine sends to a server."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append(f"{statement} {parameters!r}")

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


@pytest.mark.backends("postgresql")
def test_a_login_password_never_travels_in_a_statement(db_url: str, backend: str) -> None:
    login = f"rum_{uuid.uuid4().hex[:8]}"
    with statements_sent() as sent:
        shown = dbadmin.create_login(db_url, login, PASSWORD)
        assert can_log_in(db_url, login, PASSWORD)
        with pytest.raises(DatabaseError, match=f"A login named {login} already exists"):
            dbadmin.create_login(db_url, login, PASSWORD)
        dblogins.change_password(db_url, login, NEW_PASSWORD)
    assert sum("CREATE ROLE" in s for s in sent) == 1  # the repeat asked first, sent nothing
    assert any("ALTER ROLE" in s for s in sent)
    leaked = [s for s in sent if any(word in s for word in SECRET_WORDS)]
    assert not leaked
    assert can_log_in(db_url, login, NEW_PASSWORD) and not can_log_in(db_url, login, PASSWORD)
    # What the window shows: the password masked, not the escaped password.
    assert any("********" in s for s in shown)
    assert not any(word in s for s in shown for word in SECRET_WORDS)
    dblogins.drop_login(db_url, login)


@pytest.mark.backends("postgresql")
def test_a_login_cannot_create_tables_through_public(db_url: str, backend: str) -> None:
    # PostgreSQL 14 and older (and clusters upgraded from them) let PUBLIC create in public.
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("GRANT CREATE ON SCHEMA public TO PUBLIC"))
    admin.dispose()
    login = f"rum_{uuid.uuid4().hex[:8]}"
    dbadmin.create_login(db_url, login, NEW_PASSWORD)
    engine = create_engine(make_url(db_url).set(username=login, password=NEW_PASSWORD))
    try:
        with pytest.raises(Exception, match="permission denied"), engine.begin() as conn:
            conn.execute(text("CREATE TABLE smuggled (id int)"))
    finally:
        engine.dispose()
    dblogins.drop_login(db_url, login)


class Rows(list):  # type: ignore[type-arg]
    returns_rows = True


def fake_mssql(monkeypatch: pytest.MonkeyPatch, rows: list[tuple[str, int]]) -> list[str]:
    sent: list[str] = []

    class Conn:
        def exec_driver_sql(self, statement: str) -> Any:
            sent.append(statement)
            if statement == dblogins.MSSQL_LIST:
                return Rows(rows)
            return SimpleNamespace(returns_rows=False)

    class Fake:
        @contextmanager
        def begin(self) -> Iterator[Conn]:
            yield Conn()

        def dispose(self) -> None:
            pass

    monkeypatch.setattr(dbadmin, "make_engine", lambda *a, **k: Fake())
    monkeypatch.setattr(dblogins, "make_engine", lambda *a, **k: Fake())
    return sent


MSSQL_SPEC = ServerSpec(
    "mssql", host="srv01", instance="IB", user="ib_admin", password="x;y}", driver="FreeTDS"
)


def test_sql_server_logins_name_the_database_of_an_odbc_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = url(MSSQL_SPEC, "ImageBank")
    assert make_url(target).database is None  # the database is in odbc_connect only
    sent = fake_mssql(monkeypatch, [("rum_1", 0), ("ib_admin", 0), ("dbo", 1)])
    shown = dbadmin.create_login(target, "rum_2", PASSWORD)
    assert "USE [ImageBank]" in sent
    assert any("DEFAULT_DATABASE = [ImageBank]" in s for s in sent)
    assert not any("[]" in s for s in sent)
    # The window's copy: the password masked, never its escaped form.
    assert shown[0].startswith("CREATE LOGIN [rum_2] WITH PASSWORD = N'********'")
    assert not any(word in s for s in shown for word in SECRET_WORDS)
    sent.clear()
    with pytest.raises(UserError, match="cannot be removed"):
        dblogins.drop_login(target, "ib_admin")  # the login this program connects as
    assert sent == [dblogins.MSSQL_LIST]
    dblogins.drop_login(target, "rum_1")
    assert sent[2:] == ["USE [ImageBank]", "DROP USER [rum_1]", "DROP LOGIN [rum_1]"]
    assert connection.login_name(target) == "ib_admin"


def test_database_names_are_quoted_for_each_server() -> None:
    pg = dbadmin.postgresql_login_statements("rum_1", "SCRAM-SHA-256$x", 'Image"Bank')
    assert 'GRANT CONNECT ON DATABASE "Image""Bank" TO "rum_1"' in pg
    ms = dbadmin.mssql_login_statements("rum_1", "a long password", "Image]Bank")
    assert "DEFAULT_DATABASE = [Image]]Bank]" in ms[0] and "USE [Image]]Bank]" in ms
    assert dblogins.mssql_drop_statements("rum_1", "a]b")[0] == "USE [a]]b]"
    backup = backups.mssql_backup_statements("a]b", "D:\\ib.bak")[0]
    assert backup.startswith("BACKUP DATABASE [a]]b] TO DISK")


@pytest.mark.parametrize(
    "password",
    ["a;b}c", "{x}", " lead", "trail ", "p=w;", "}}", "{", "}", ";", "x}};y", "", "'\"[]\\"],
)
def test_odbc_fields_read_back_what_the_connection_string_wrote(password: str) -> None:
    spec = ServerSpec("mssql", host="srv", user="d}o;e", password=password, driver="Dr {1}")
    target = url(spec, "Image;Bank}")
    fields = connection.odbc_fields(target)
    assert fields["PWD"] == password and fields["UID"] == "d}o;e"
    assert fields["DRIVER"] == "Dr {1}" and fields["DATABASE"] == "Image;Bank}"
    assert connection.database_name(target) == "Image;Bank}"
    back = connection.spec_from_url(target)
    assert (back.password, back.user, back.driver) == (password, "d}o;e", "Dr {1}")
    assert odbc_connection_string(back.check(), "Image;Bank}") == odbc_connection_string(
        spec.check(), "Image;Bank}"
    )


def test_odbc_fields_honour_braces() -> None:
    text_ = "DRIVER={FreeTDS};SERVER=h;UID=sa;PWD={a;b}}c};Encrypt=yes"
    fields = connection.odbc_fields(make_url("mssql+pyodbc://").set(query={"odbc_connect": text_}))
    assert fields == {
        "DRIVER": "FreeTDS",
        "SERVER": "h",
        "UID": "sa",
        "PWD": "a;b}c",
        "Encrypt": "yes",
    }


def test_a_backup_is_named_from_a_windows_path_inside_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    windows = "sqlite:///C:\\Users\\j.doe\\AppData\\Local\\ImageBank\\imagebank.sqlite3"
    engine = SimpleNamespace(url=make_url(windows), dialect=SimpleNamespace(name="sqlite"))
    monkeypatch.setattr(backups, "check_backup_folder", lambda engine, folder: None)
    monkeypatch.setattr(backups, "_backup_sqlite", lambda engine, target: target)
    target = backups.backup(engine, tmp_path)  # type: ignore[arg-type]
    assert target.parent == tmp_path  # type: ignore[attr-defined]
    assert target.name.startswith("imagebank-") and "\\" not in target.name  # type: ignore[attr-defined]


def test_backup_copies_are_private_from_their_first_byte(
    engine: Engine, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes: dict[str, int | None] = {}
    if backend == "sqlite":
        real_connect = sqlite3.connect

        def connect(path: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = real_connect(path, *args, **kwargs)
            if str(path).endswith(".part"):
                modes.setdefault("writing", stat.S_IMODE(os.stat(path).st_mode))
            return conn

        shim = SimpleNamespace(connect=connect, Error=sqlite3.Error)
        monkeypatch.setattr(backups, "sqlite3", shim)
    else:
        real_run = backups.run_pg_tool

        def run(name: str, *args: str, target: Any = None) -> Any:
            if name != "pg_dump":
                return real_run(name, *args, target=target)
            part = Path(args[list(args).index("-f") + 1])
            modes["before"] = stat.S_IMODE(part.stat().st_mode) if part.exists() else None
            done = real_run(name, *args, target=target)
            modes["writing"] = stat.S_IMODE(part.stat().st_mode)
            return done

        monkeypatch.setattr(backups, "run_pg_tool", run)
    old = os.umask(0o022)
    try:
        result = backups.backup(engine, tmp_path)
    finally:
        os.umask(old)
    assert modes["writing"] == 0o600
    if backend == "postgresql":
        assert modes["before"] == 0o600  # made private before pg_dump writes a byte
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600


def test_bad_urls_and_folders_give_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a number"):
        connection.spec_from_url("postgresql://u:hemligt@h:abc/db")
    try:
        connection.spec_from_url("postgresql://u:hemligt@h:abc/db")
    except UserError as error:
        assert "hemligt" not in str(error)
    odbc = "DRIVER={FreeTDS};SERVER=h,abc;DATABASE=ib;UID=sa;PWD=x"
    bad_port = make_url("mssql+pyodbc://").set(query={"odbc_connect": odbc})
    with pytest.raises(UserError, match="port must be a number"):
        connection.spec_from_url(bad_port)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for folder in (tmp_path / "nonexistent", a_file):
        with pytest.raises(UserError, match="does not exist"):
            dbadmin.list_databases(ServerSpec("sqlite", folder=str(folder)))
    done = CliRunner().invoke(
        main, ["db", "list", "--backend", "sqlite", "--folder", str(tmp_path / "nonexistent")]
    )
    assert done.exit_code != 0 and "does not exist" in done.stderr
    assert done.exception is None or isinstance(done.exception, SystemExit)


@pytest.mark.backends("postgresql")
def test_a_login_is_refused_when_public_keeps_its_create_right(db_url: str, backend: str) -> None:
    # An administrator login that does not own the schema cannot revoke PUBLIC's right
    # (PostgreSQL only warns): the login must not be made with that right left.
    admin_login = f"adm_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("GRANT CREATE ON SCHEMA public TO PUBLIC"))
        conn.execute(text(f"CREATE ROLE {admin_login} LOGIN CREATEROLE PASSWORD 'adm-secret-1'"))
        database = make_url(db_url).database
        for grant in (
            f"GRANT CONNECT ON DATABASE {database} TO {admin_login} WITH GRANT OPTION",
            f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {admin_login} WITH GRANT OPTION",
            f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {admin_login} WITH GRANT OPTION",
        ):
            conn.execute(text(grant))
    admin_url = make_url(db_url).set(username=admin_login, password="adm-secret-1")
    login = f"rum_{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(DatabaseError, match="may still create tables"):
            dbadmin.create_login(admin_url, login, NEW_PASSWORD)
        with admin.connect() as conn:  # all or nothing: the role was not left behind
            assert (
                conn.execute(
                    text("SELECT count(*) FROM pg_roles WHERE rolname = :n"), {"n": login}
                ).scalar()
                == 0
            )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {admin_login}"))
            conn.execute(text(f"DROP ROLE IF EXISTS {admin_login}"))
        admin.dispose()


@pytest.mark.parametrize("folder", ["/etc", "/", "/usr/lib"])
def test_an_sqlite_database_is_never_made_in_a_system_folder(folder: str) -> None:
    # The fuzz test, run as root, once made /etc/e06133.sqlite3 through the window.
    spec = connection.ServerSpec("sqlite", folder=folder)
    with pytest.raises(UserError, match="cannot be used as the database folder"):
        spec.check()
    with pytest.raises(UserError, match="cannot be used as the database folder"):
        dbadmin.create_database(spec, "Kliniken")
    assert not Path(folder, "Kliniken.sqlite3").exists()
