"""Attach an existing 2.1 database on PostgreSQL from a dump: domain, CLI and General settings.

Every test runs on the real PostgreSQL server of the suite; the dumps are made by the same
[Copy the database] the administrator uses (``pg_dump -Fc``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from test_wizard_views import close, html, make_client, post

import pgserver
from factories import make_patient
from ibdesk import config, schema
from ibdesk.cli import main
from ibdesk.db import make_engine
from ibdesk.errors import UserError
from ibdesk.models import Patient, SystemEvent
from ibdesk.progress import run_to_end
from ibdesk.settings import attach, dbadmin
from ibdesk.settings import backup as backups
from ibdesk.settings.connection import ServerSpec

pytestmark = pytest.mark.backends("postgresql")


def pg_spec(server: pgserver.PgServer) -> ServerSpec:
    return ServerSpec(
        "postgresql", host="127.0.0.1", port=server.port, user="postgres", password=server.password
    )


def databases(server: pgserver.PgServer) -> set[str]:
    return set(dbadmin.list_databases(pg_spec(server)))


@pytest.fixture
def clinic_dump(db_url: str, backend: str, tmp_path: Path) -> Path:
    """Return a dump (``pg_dump -Fc``, by [Copy the database]) of a clinic with one patient."""
    engine = make_engine(db_url)
    with Session(engine) as session:
        make_patient(session, first_name="Dumpad", last_name="Patient")
        session.commit()
    folder = tmp_path / "backups"
    folder.mkdir()
    result = backups.backup(engine, folder)
    engine.dispose()
    return result.path


def patients_in(url: str) -> list[str]:
    engine = make_engine(url)
    with Session(engine) as session:
        names = list(session.scalars(select(Patient.first_name)))
    engine.dispose()
    return names


def test_a_dump_becomes_a_new_database_in_use(
    clinic_dump: Path, pg_server: pgserver.PgServer
) -> None:
    done, log = run_to_end(attach.attach_dump_job(pg_spec(pg_server), clinic_dump, "kliniken_2"))
    assert done.status.state is schema.SchemaState.CURRENT and done.entries > 10
    assert make_url(config.load()["database_url"]).database == "kliniken_2"
    assert patients_in(config.load()["database_url"]) == ["Dumpad"]
    assert any("pg_restore" in line.text for line in log)


def test_a_name_in_use_is_refused_before_anything_is_made(
    clinic_dump: Path, pg_server: pgserver.PgServer, db_url: str
) -> None:
    taken = str(make_url(db_url).database)
    before = databases(pg_server)
    with pytest.raises(UserError, match=f"A database named {taken} already exists"):
        attach.attach_dump_job(pg_spec(pg_server), clinic_dump, taken)
    with pytest.raises(UserError, match="A database name is 1 to 63"):
        attach.attach_dump_job(pg_spec(pg_server), clinic_dump, "drop; --")
    assert databases(pg_server) == before and "database_url" not in config.load()


def test_wrong_files_are_refused_in_one_sentence(
    tmp_path: Path, pg_server: pgserver.PgServer
) -> None:
    spec = pg_spec(pg_server)
    garbage = tmp_path / "noise.dump"
    garbage.write_bytes(b"\x00not a dump" * 200)
    with pytest.raises(UserError, match="is not a PostgreSQL dump that pg_restore can read"):
        attach.attach_dump_job(spec, garbage, "fran_skrap")
    with pytest.raises(UserError, match="is not a file"):
        attach.attach_dump_job(spec, tmp_path, "fran_mapp")
    # A real dump, of some other program's database.
    admin = create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE faktura_db"))
    other = create_engine(pg_server.url("faktura_db"))
    with other.begin() as conn:
        conn.execute(text("CREATE TABLE faktura (id INTEGER)"))
    other.dispose()
    foreign = tmp_path / "faktura.dump"
    subprocess.run(
        [backups._pg_tool("pg_dump"), "-Fc", "-f", str(foreign)],
        env=backups._pg_env(make_url(pg_server.url("faktura_db"))),
        check=True,
    )
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE faktura_db"))
    admin.dispose()
    with pytest.raises(UserError, match=r"not of an ImageBank 2\.x database"):
        attach.attach_dump_job(spec, foreign, "fran_faktura")
    assert not {"fran_skrap", "fran_mapp", "fran_faktura"} & databases(pg_server)


def test_a_missing_pg_restore_is_said_plainly(
    clinic_dump: Path, pg_server: pgserver.PgServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(backups, "PG_INSTALL", tmp_path / "no-postgresql")
    with pytest.raises(UserError, match="pg_restore is not installed"):
        attach.attach_dump_job(pg_spec(pg_server), clinic_dump, "utan_verktyg")
    monkeypatch.undo()
    assert "utan_verktyg" not in databases(pg_server)


def test_a_dump_that_fails_halfway_leaves_no_database(
    db_url: str, backend: str, pg_server: pgserver.PgServer, tmp_path: Path
) -> None:
    # A dump from another server: a row-level policy names a role this server lacks, so
    # pg_restore stops after the tables were made.
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE ROLE andra_serverns_roll"))
        conn.execute(text("CREATE POLICY bara_de ON patient TO andra_serverns_roll USING (true)"))
    dump = backups.backup(engine, tmp_path).path
    with engine.begin() as conn:
        conn.execute(text("DROP POLICY bara_de ON patient"))
        conn.execute(text("DROP ROLE andra_serverns_roll"))
    engine.dispose()
    job = attach.attach_dump_job(pg_spec(pg_server), dump, "halv")
    with pytest.raises(UserError, match=r"pg_restore could not restore the dump: .*andra_serverns"):
        run_to_end(job)
    assert "halv" not in databases(pg_server) and "database_url" not in config.load()


def test_a_dump_of_a_newer_program_is_dropped_again(
    db_url: str, backend: str, pg_server: pgserver.PgServer, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999_future'"))
    dump = backups.backup(engine, tmp_path).path
    engine.dispose()
    with pytest.raises(UserError, match="newer"):
        run_to_end(attach.attach_dump_job(pg_spec(pg_server), dump, "framtid"))
    assert "framtid" not in databases(pg_server) and "database_url" not in config.load()


def test_cancelling_drops_the_new_database(clinic_dump: Path, pg_server: pgserver.PgServer) -> None:
    job = attach.attach_dump_job(pg_spec(pg_server), clinic_dump, "avbruten")
    next(job)  # "Creating…"
    next(job)  # the database exists; "Restoring…"
    assert "avbruten" in databases(pg_server)
    job.close()
    assert "avbruten" not in databases(pg_server)


def test_the_command_attaches_from_a_dump(
    clinic_dump: Path, db_url: str, pg_server: pgserver.PgServer
) -> None:
    config.set_database_url(db_url)
    runner = CliRunner()
    done = runner.invoke(
        main, ["db", "attach", "--from-dump", str(clinic_dump), "--name", "fran_cli"]
    )
    assert done.exit_code == 0, done.output
    assert "Attached postgresql+psycopg://postgres:***@" in done.stdout
    assert "/fran_cli from " in done.stdout and "current schema" in done.stdout
    assert make_url(config.load()["database_url"]).database == "fran_cli"
    engine = make_engine(config.load()["database_url"])
    with Session(engine) as session:
        logged = session.scalars(select(SystemEvent).where(SystemEvent.action == "db.attach"))
        assert [str(clinic_dump) in e.detail for e in logged] == [True]
    engine.dispose()
    assert pg_server.password not in done.output
    again = runner.invoke(
        main, ["db", "attach", "--from-dump", str(clinic_dump), "--name", "fran_cli"]
    )
    assert again.exit_code != 0
    err = again.stderr.strip()
    assert err.startswith("ibdesk: ") and len(err.splitlines()) == 1
    assert "already exists" in err
    unnamed = runner.invoke(main, ["db", "attach", "--from-dump", str(clinic_dump)])
    assert unnamed.exit_code != 0 and "Name the new database with --name." in unnamed.stderr


@pytest.fixture
def client(db_url: str) -> Iterator[FlaskClient]:
    """Return a client of an app whose database is in the configuration file."""
    config.set_database_url(db_url)
    test_client = make_client()
    yield test_client
    close(test_client)


def test_general_settings_attach_a_dump(
    client: FlaskClient, clinic_dump: Path, pg_server: pgserver.PgServer, db_url: str
) -> None:
    page = html(client.get("/settings/"))
    assert "Dump file (made by pg_dump -Fc)" in page and "PostgreSQL attaches a database" in page
    both = post(client, "/settings/attach", {"attach-path": "", "attach-name": "no way!"})
    assert both.status_code == 422
    assert "Type the path of the database file." in html(both)
    assert "A database name is 1 to 63" in html(both)
    taken = str(make_url(db_url).database)
    refused = post(
        client, "/settings/attach", {"attach-path": str(clinic_dump), "attach-name": taken}
    )
    assert refused.status_code == 409 and "already exists" in html(refused)
    assert config.load()["database_url"] == db_url
    attached = post(
        client, "/settings/attach", {"attach-path": str(clinic_dump), "attach-name": "fran_webb"}
    )
    assert attached.status_code == 200, html(attached)
    assert "it is now this program&#39;s database" in html(attached)
    assert make_url(config.load()["database_url"]).database == "fran_webb"
    assert patients_in(config.load()["database_url"]) == ["Dumpad"]
    engine = make_engine(config.load()["database_url"])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Patient)) == 1
    engine.dispose()
