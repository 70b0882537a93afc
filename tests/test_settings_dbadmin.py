"""Database tools: test, list, create, attach, logins with workstation rights, backups."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote_plus

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import pgserver
from ibdesk import clinic_settings, schema
from ibdesk.db import DatabaseError, make_engine, mssql_dialect
from ibdesk.errors import UserError
from ibdesk.settings import backup as backups
from ibdesk.settings import connection, dbadmin, imagefolder
from ibdesk.settings.connection import ServerSpec, odbc_connection_string, url


def pg_spec(server: pgserver.PgServer, password: str | None = None) -> ServerSpec:
    return ServerSpec(
        "postgresql",
        host="127.0.0.1",
        port=server.port,
        user="postgres",
        password=server.password if password is None else password,
    )


def test_sqlite_folder_create_list_attach(tmp_path: Path) -> None:
    spec = ServerSpec("sqlite", folder=str(tmp_path))
    assert "successful" in dbadmin.test_server(spec)
    target = dbadmin.create_database(spec, "Kliniken")
    assert dbadmin.list_databases(spec) == ["Kliniken.sqlite3"]
    assert dbadmin.test_database(target).state is schema.SchemaState.CURRENT
    assert dbadmin.attach(spec, path=str(tmp_path / "Kliniken.sqlite3")) == target
    with pytest.raises(UserError, match="already exists"):
        dbadmin.create_database(spec, "Kliniken")
    with pytest.raises(UserError, match="does not exist"):
        dbadmin.test_server(ServerSpec("sqlite", folder=str(tmp_path / "nope")))
    with pytest.raises(UserError, match="database name"):
        dbadmin.create_database(spec, "drop table; --")


def test_attach_refuses_what_is_not_imagebank(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE faktura (id INTEGER)")
    with pytest.raises(UserError, match="not an ImageBank"):
        dbadmin.attach_sqlite(other)
    (tmp_path / "noise.db").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(UserError, match="not a SQLite database"):
        dbadmin.attach_sqlite(tmp_path / "noise.db")


@pytest.mark.backends("postgresql")
def test_postgresql_server_tools(pg_server: pgserver.PgServer, backend: str) -> None:
    spec = pg_spec(pg_server)
    assert "PostgreSQL" in dbadmin.test_server(spec)
    target = dbadmin.create_database(spec, "imagebank_wizard")
    assert "imagebank_wizard" in dbadmin.list_databases(spec)
    assert dbadmin.test_database(target).state is schema.SchemaState.CURRENT
    assert dbadmin.test_database(url(spec, "postgres")).state is schema.SchemaState.EMPTY
    with pytest.raises(UserError, match="already exists"):
        dbadmin.create_database(spec, "imagebank_wizard")
    with pytest.raises(DatabaseError, match="refused the user name or password"):
        dbadmin.test_server(pg_spec(pg_server, "fel-lösenord"))
    with pytest.raises(UserError, match="no attach"):
        dbadmin.attach(spec, name="x")


def test_unreachable_server_answers_quickly() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = ServerSpec("postgresql", host="127.0.0.1", port=port, user="x", password="y")
    with pytest.raises(DatabaseError, match="refused the connection"):
        dbadmin.test_server(spec)
    with pytest.raises(DatabaseError, match="not found"):
        dbadmin.test_server(ServerSpec("postgresql", host="ingen.invalid", user="x"))


@pytest.mark.backends("postgresql")
def test_workstation_login_can_write_but_not_change_tables(db_url: str, backend: str) -> None:
    dbadmin.create_login(db_url, "rum_1", "ett långt lösenord 42")
    login_url = make_url(db_url).set(username="rum_1", password="ett långt lösenord 42")
    engine = create_engine(login_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patient (personnummer, kind, first_name, last_name, name_key, "
                "address, postal_code, city, phone, note, created_at, created_by, modified_at, "
                "modified_by) VALUES ('191212121212', 'personnummer', 'Tolvan', 'Tolvansson', "
                "'tolvansson tolvan', '', '', '', '', '', now(), 'rum_1', now(), 'rum_1')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO audit_event (at, user_name, machine, action, entity, "
                "changes) VALUES (now(), 'rum_1', 'RUM-1', 'patient.create', "
                "'patient', '{}')"
            )
        )
    for forbidden in (
        "CREATE TABLE x (id int)",
        "DROP TABLE patient",
        "UPDATE audit_event SET user_name = 'x'",
        "DELETE FROM audit_event",
        "UPDATE license SET seats = 999",
    ):
        with (
            pytest.raises(Exception, match=r"permission denied|must be owner"),
            engine.begin() as conn,
        ):
            conn.execute(text(forbidden))
    engine.dispose()
    with pytest.raises(DatabaseError, match="already exists"):
        dbadmin.create_login(db_url, "rum_1", "ett långt lösenord 42")
    with pytest.raises(UserError, match="at least 12"):
        dbadmin.create_login(db_url, "rum_2", "kort")


def test_backup_is_verified(engine, tmp_path: Path, backend: str) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "backups"
    folder.mkdir()
    result = backups.backup(engine, folder)
    assert result.path.exists() and result.bytes > 0
    assert ("integrity check ok" if backend == "sqlite" else "pg_restore --list") in result.verified
    assert [p.name for p in folder.iterdir()] == [result.path.name]
    with pytest.raises(UserError, match="does not exist"):
        backups.backup(engine, tmp_path / "missing")


def test_mssql_statements_and_connection_strings() -> None:
    spec = ServerSpec(
        "mssql",
        host="srv01",
        instance="IMAGEBANK",
        user="sa",
        password="p;w}d",
        driver="ODBC Driver 18 for SQL Server",
        trust_server_certificate=True,
    )
    assert odbc_connection_string(spec.check(), "ImageBank") == (
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER=srv01\\IMAGEBANK;DATABASE=ImageBank;"
        "UID=sa;PWD={p;w}}d};Encrypt=yes;TrustServerCertificate=yes;Connection Timeout=5;"
    )
    trusted = ServerSpec(
        "mssql", host="srv01", port=1433, trusted=True, driver="FreeTDS", encrypt=False
    )
    assert odbc_connection_string(trusted.check(), "IB") == (
        "DRIVER={FreeTDS};SERVER=srv01,1433;DATABASE=IB;Trusted_Connection=yes;Encrypt=no;"
        "Connection Timeout=5;"
    )
    typed = ServerSpec("mssql", host="srv01\\SQLEXPRESS", user="sa", driver="FreeTDS").check()
    assert (typed.host, typed.instance) == ("srv01", "SQLEXPRESS")
    built = url(spec, "ImageBank")
    assert unquote_plus(
        built.render_as_string(hide_password=False).split("odbc_connect=")[1]
    ) == odbc_connection_string(spec.check(), "ImageBank")
    assert connection.spec_from_url(built).instance == "IMAGEBANK"
    assert backups.mssql_backup_statements("ImageBank", "D:\\Backup\\ib.bak") == [
        "BACKUP DATABASE [ImageBank] TO DISK = N'D:\\Backup\\ib.bak' WITH COPY_ONLY, "
        "CHECKSUM, INIT",
        "RESTORE VERIFYONLY FROM DISK = N'D:\\Backup\\ib.bak' WITH CHECKSUM",
    ]
    assert dbadmin.mssql_attach_statement("ImageBank", "D:\\Data\\ib.mdf", "D:\\Data\\ib.ldf") == (
        "CREATE DATABASE [ImageBank] ON (FILENAME = N'D:\\Data\\ib.mdf'), "
        "(FILENAME = N'D:\\Data\\ib.ldf') FOR ATTACH"
    )
    login = dbadmin.mssql_login_statements("rum_1", "it's secret", "ImageBank")
    assert login[0] == (
        "CREATE LOGIN [rum_1] WITH PASSWORD = N'it''s secret', "
        "DEFAULT_DATABASE = [ImageBank], CHECK_POLICY = ON"
    )
    assert "GRANT SELECT, INSERT ON dbo.audit_event TO [rum_1]" in login
    assert not any("ALTER" in s or "db_owner" in s or "db_ddladmin" in s for s in login)
    engine = make_engine(built)
    assert engine.dialect.name == "mssql"
    engine.dispose()
    assert mssql_dialect().server_version_info >= (16, 0)


def test_image_folder_validation(tmp_path: Path, session) -> None:  # type: ignore[no-untyped-def]
    result = imagefolder.set_image_folder(session, str(tmp_path), by="admin")
    assert result.writable and result.free_bytes and result.free_bytes > 0
    assert clinic_settings.get(session, clinic_settings.IMAGE_FOLDER) == str(tmp_path)
    unc = imagefolder.check_image_folder("\\\\server\\bilder\\imagebank")
    assert not unc.exists and "Windows network path" in unc.note
    with pytest.raises(UserError, match="does not exist"):
        imagefolder.check_image_folder(str(tmp_path / "saknas"))
    with pytest.raises(UserError, match="full path"):
        imagefolder.check_image_folder("bilder")
    assert psycopg is not None


# --- Additions for the wizard and the General settings tab ---------------------------------


def test_only_the_programs_own_sqlite_folder_is_created(tmp_path: Path) -> None:
    own = tmp_path / "data"
    dbadmin.prepare_sqlite_folder(ServerSpec("sqlite", folder=str(tmp_path / "typo")), own)
    assert not (tmp_path / "typo").exists()
    dbadmin.prepare_sqlite_folder(ServerSpec("sqlite", folder=str(own)), own)
    assert own.is_dir()
    assert "successful" in dbadmin.test_server(ServerSpec("sqlite", folder=str(own)))


def test_update_takes_a_verified_backup_first_and_says_from_to(
    empty_db_url: str, tmp_path: Path, backend: str
) -> None:
    engine = make_engine(empty_db_url, create=True)
    schema.upgrade(engine, to="0001_initial")
    folder = tmp_path / "backups"
    folder.mkdir()
    with pytest.raises(UserError, match="folder for the backup"):
        dbadmin.update_database(engine, None)
    assert schema.check(engine).revision == "0001_initial"  # nothing changed
    outcome = dbadmin.update_database(engine, folder)
    assert outcome.backup is not None and outcome.backup.path.parent == folder
    assert (outcome.upgrade.from_revision, outcome.upgrade.to_revision) == (
        "0001_initial",
        schema.head_revision(),
    )
    again = dbadmin.update_database(engine, folder)  # current: nothing to back up or do
    assert again.backup is None and not again.upgrade.changed
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999_future'"))
    with pytest.raises(UserError, match="newer than this program"):
        dbadmin.update_database(engine, folder)
    engine.dispose()
    report = dbadmin.test_connection(empty_db_url)
    assert "successful" in report.server and report.schema.state is schema.SchemaState.NEWER


def test_database_names_and_the_sql_server_backup_plan(tmp_path: Path) -> None:
    spec = ServerSpec(
        "mssql", host="srv01", instance="IB", user="sa", password="x", driver="FreeTDS"
    )
    target = url(spec, "ImageBank")
    assert connection.database_name(target) == "ImageBank"
    assert connection.database_name(f"sqlite:///{tmp_path / 'klinik.sqlite3'}") == "klinik.sqlite3"
    assert connection.database_name("postgresql://u:p@h/imagebank") == "imagebank"
    backup, verify = backups.mssql_backup_plan(target, "D:\\Backup\\")
    assert backup.startswith("BACKUP DATABASE [ImageBank] TO DISK = N'D:\\Backup\\ImageBank-")
    assert backup.endswith(".bak' WITH COPY_ONLY, CHECKSUM, INIT")
    assert verify.startswith("RESTORE VERIFYONLY FROM DISK = N'D:\\Backup\\ImageBank-")
    with pytest.raises(UserError, match="folder on the SQL Server"):
        backups.mssql_backup_plan(target, " ")


def test_shown_urls_mask_every_password_and_read_as_typed(tmp_path: Path) -> None:
    from ibdesk.settings.connection import shown_url

    spec = ServerSpec("mssql", host="srv", user="sa", password="p;w}d", driver="FreeTDS")
    assert shown_url(url(spec, "ImageBank")) == (
        "mssql+pyodbc://?odbc_connect=DRIVER={FreeTDS};SERVER=srv;DATABASE=ImageBank;UID=sa;"
        "PWD=***;Encrypt=yes;Connection Timeout=5;"
    )
    pg = ServerSpec("postgresql", host="db1", user="ib", password="lösen%ord")
    assert shown_url(url(pg, "klinik")) == "postgresql+psycopg://ib:***@db1:5432/klinik"
    folder = ServerSpec("sqlite", folder=str(tmp_path / "Röntgen åäö"))
    assert shown_url(url(folder, "ib")) == f"sqlite+pysqlite:///{tmp_path}/Röntgen åäö/ib.sqlite3"


def test_two_backups_in_the_same_second_are_both_kept(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(backups, "_stamp", lambda: "20260101-120000")
    first = backups.backup(engine, tmp_path)
    second = backups.backup(engine, tmp_path)
    assert first.path != second.path and first.path.exists() and second.path.exists()
    assert second.path.stem.endswith("-20260101-120000-2")


def test_a_server_that_never_answers_times_out(silent_server: int) -> None:
    spec = ServerSpec("postgresql", host="127.0.0.1", port=silent_server, user="x", password="y")
    with pytest.raises(DatabaseError, match="did not answer within 5 seconds"):
        dbadmin.test_server(spec)
