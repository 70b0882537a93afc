"""General settings through real requests (CSRF on): the connection, image folder and tools.

The database is chosen through the configuration file (as the wizard leaves it), so that
changing the connection really changes the database in force; tests taking ``db_url`` run on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from test_wizard_views import (
    close,
    closed_port,
    html,
    make_client,
    migrated,
    pg_create,
    pg_form,
    post,
    saved_url,
)

import pgserver
from ibdesk import clinic_settings, config, schema
from ibdesk.db import make_engine
from ibdesk.models import SystemEvent
from ibdesk.settings import connection
from ibdesk.settings.connection import ServerSpec, url
from webfixtures import HX

SWEDISH = "Röntgen åäö ÅÄÖ"


@pytest.fixture
def configured(db_url: str) -> Iterator[FlaskClient]:
    """Return a client of an app whose database was chosen by the wizard (config file)."""
    config.set_database_url(db_url)
    test_client = make_client()
    yield test_client
    close(test_client)


def events(db_url: str, action: str) -> list[str]:
    """Return the details of the system log's entries for an action."""
    engine = make_engine(db_url)
    with Session(engine) as session:
        found = list(
            session.scalars(select(SystemEvent.detail).where(SystemEvent.action == action))
        )
    engine.dispose()
    return found


def test_the_page_shows_the_connection_and_every_tool(
    configured: FlaskClient, db_url: str, backend: str
) -> None:
    response = configured.get("/settings/")
    page = html(response)
    assert response.status_code == 200
    for label in (
        "Test connection",
        "List databases",
        "Create new database",
        "Change connection",
        "Quick-start wizard",
        "Backup now",
        "Copy the database",
        "Update database",
        "Attach existing 2.1 database",
        "Create database user",
        "Save image folder",
    ):
        assert label in page, label
    assert "Conversion" not in page
    assert "this computer&#39;s configuration file" in page
    password = make_url(db_url).password
    if backend == "postgresql":
        assert password and password not in page and "***" in page
        assert "PostgreSQL attaches a database from a dump" in page
    else:
        assert "SQLite has no logins" in page
    partial = html(configured.get("/settings/", headers=HX))
    assert "<html" not in partial and 'id="settings-connection"' in partial


def test_test_connection_and_list_databases(configured: FlaskClient, db_url: str) -> None:
    tested = post(configured, "/settings/test")
    assert tested.status_code == 200
    assert "Connection successful" in html(tested) and "current schema" in html(tested)
    listed = post(configured, "/settings/databases")
    assert f"{connection.database_name(db_url)} (in use)" in html(listed)


def test_the_image_folder_is_checked_then_stored(
    configured: FlaskClient, db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / SWEDISH
    for path, message in (
        ("", "Type the path of the shared image folder."),
        ("bilder", "Give the image folder as a full path"),
        (str(folder), "does not exist or cannot be reached"),
    ):
        refused = post(configured, "/settings/image-folder", {"image-path": path})
        assert refused.status_code == 422 and message in html(refused), path
    folder.mkdir()
    checked = post(configured, "/settings/image-folder/check", {"image-path": str(folder)})
    page = html(checked)
    assert "The folder can be used." in page and "Writable by this program: yes" in page
    assert "Free space: " in page and f"Path: {folder}" in page
    assert _stored(db_url) is None  # checking stores nothing
    saved = post(configured, "/settings/image-folder", {"image-path": str(folder)})
    assert "Saved: every workstation uses this image folder." in html(saved)
    assert _stored(db_url) == str(folder)
    unc = "\\\\server\\bilder\\Röntgen"
    stored_unc = post(configured, "/settings/image-folder", {"image-path": unc})
    assert stored_unc.status_code == 200 and "A Windows network path" in html(stored_unc)
    assert _stored(db_url) == unc


def _stored(db_url: str) -> str | None:
    engine = make_engine(db_url)
    with Session(engine) as session:
        value = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    engine.dispose()
    return value


def test_copy_the_database_writes_a_verified_copy_and_logs_it(
    configured: FlaskClient, db_url: str, tmp_path: Path, backend: str
) -> None:
    empty = post(configured, "/settings/copy", {"copy-folder": ""})
    assert empty.status_code == 422 and "Type the folder for the copy." in html(empty)
    missing = post(configured, "/settings/copy", {"copy-folder": str(tmp_path / "saknas")})
    assert missing.status_code == 409 and "does not exist; create it first" in html(missing)
    folder = tmp_path / f"säkerhetskopior {SWEDISH}"
    folder.mkdir()
    done = post(configured, "/settings/copy", {"copy-folder": str(folder)})
    page = html(done)
    copies = list(folder.iterdir())
    assert done.status_code == 200 and len(copies) == 1
    assert f"Backup written to {copies[0]}" in page
    assert ("integrity check ok" if backend == "sqlite" else "pg_restore --list") in page
    [logged] = events(db_url, "db.backup")
    assert logged.startswith(f"{copies[0]} (") and logged.endswith(")")


def test_update_takes_a_backup_first_and_says_from_to(empty_db_url: str, tmp_path: Path) -> None:
    migrated(empty_db_url, to="0001_initial")
    config.set_database_url(empty_db_url)
    test_client = make_client()
    try:
        page = html(test_client.get("/settings/"))
        assert "older than this program" in page and "The database needs attention" in page
        no_folder = post(test_client, "/settings/update", {"update-backup_folder": ""})
        assert no_folder.status_code == 409 and "Choose a folder for the backup" in html(no_folder)
        folder = tmp_path / "före uppdatering"
        folder.mkdir()
        done = post(test_client, "/settings/update", {"update-backup_folder": str(folder)})
        page = html(done)
        head = schema.head_revision()
        assert done.status_code == 200
        assert f"Updated the schema from 0001_initial to {head}." in page
        assert f"Backup first: {next(folder.iterdir())}" in page
        assert (
            'id="settings-connection" aria-labelledby="connection-title" hx-swap-oob="true"' in page
        )
        assert "ImageBank 2.1, up to date" in page and head in page  # the facts are refreshed too
        again = post(test_client, "/settings/update", {"update-backup_folder": str(folder)})
        assert "already current" in html(again) and len(list(folder.iterdir())) == 1
        engine = make_engine(empty_db_url)
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999_future'"))
        engine.dispose()
        newer = post(test_client, "/settings/update", {"update-backup_folder": str(folder)})
        assert newer.status_code == 409 and "newer than this program" in html(newer)
    finally:
        close(test_client)


@pytest.mark.backends("sqlite")
def test_attach_a_sqlite_file(configured: FlaskClient, tmp_path: Path, backend: str) -> None:
    empty = post(configured, "/settings/attach", {"attach-path": ""})
    assert empty.status_code == 422 and "Type the path of the database file." in html(empty)
    other = tmp_path / "faktura.db"
    engine = make_engine(f"sqlite:///{other}", create=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE faktura (id INTEGER)"))
    engine.dispose()
    before = saved_url()
    refused = post(configured, "/settings/attach", {"attach-path": str(other)})
    assert refused.status_code == 409 and "not an ImageBank 2.1 database" in html(refused)
    assert saved_url() == before
    clinic = tmp_path / f"{SWEDISH}.sqlite3"
    migrated(f"sqlite:///{clinic}")
    attached = post(configured, "/settings/attach", {"attach-path": str(clinic)})
    assert attached.status_code == 204 and attached.headers["HX-Redirect"] == "/settings/"
    assert make_url(saved_url() or "").database == str(clinic)
    assert f"Attached SQLite file {clinic};" in html(configured.get("/settings/"))


@pytest.mark.backends("postgresql")
def test_postgresql_attaches_from_a_dump_file_only(configured: FlaskClient, backend: str) -> None:
    refused = post(
        configured, "/settings/attach", {"attach-path": "/var/lib/x", "attach-name": "ny_db"}
    )
    assert refused.status_code == 409 and "/var/lib/x is not a file" in html(refused)


def test_create_database_user(configured: FlaskClient, db_url: str, backend: str) -> None:
    if backend == "sqlite":
        refused = post(
            configured, "/settings/login", {"login-login": "rum_1", "login-password": "x" * 12}
        )
        assert refused.status_code == 409 and "SQLite has no logins" in html(refused)
        return
    for data, message in (
        ({"login-login": "", "login-password": ""}, "Type the new login&#39;s name."),
        (
            {"login-login": "rum 1", "login-password": "ett långt lösenord 1"},
            "A login name is 2 to 63",
        ),
        ({"login-login": "rum_1", "login-password": "kort"}, "at least 12 characters"),
    ):
        response = post(configured, "/settings/login", data)
        assert response.status_code in (409, 422) and message in html(response)
    secret = "ett långt lösenord 42"
    # Roles belong to the whole server: a name no other test uses.
    made = post(
        configured, "/settings/login", {"login-login": "rum_vyer", "login-password": secret}
    )
    page = html(made)
    assert made.status_code == 200 and "Login rum_vyer created with workstation rights" in page
    assert "CREATE ROLE &#34;rum_vyer&#34; LOGIN PASSWORD &#39;********&#39;" in page
    assert secret not in page
    assert events(db_url, "db.create_login") == ["rum_vyer"]
    again = post(
        configured, "/settings/login", {"login-login": "rum_vyer", "login-password": secret}
    )
    assert again.status_code == 409 and "already exists" in html(again)
    server = make_url(db_url)
    with psycopg.connect(
        host=server.host, port=server.port, dbname=server.database, user="rum_vyer", password=secret
    ) as conn:
        conn.execute(
            "INSERT INTO system_event (at, level, user_name, machine, action, detail) "
            "VALUES (now(), 'info', 'rum_vyer', 'RUM-1', 'test', 'åäö')"
        )
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE egen (id int)")


def test_sql_server_backup_shows_the_statements_to_run_on_the_server() -> None:
    spec = ServerSpec(
        "mssql",
        host="127.0.0.1",
        port=closed_port(),
        user="sa",
        password="hemligt",
        driver="FreeTDS",
    )
    test_client = make_client(url(spec, "ImageBank").render_as_string(hide_password=False))
    try:
        page = html(test_client.get("/settings/"))
        assert "hemligt" not in page
        assert "Data file (.mdf) on the server" in page and "Log file (.ldf)" in page
        assert "backed up on the SQL Server" in page
        shown = post(test_client, "/settings/copy", {"copy-folder": "D:\\Backup"})
        page = html(shown)
        assert "SQL Server writes its backups itself, on the server" in page
        assert "BACKUP DATABASE [ImageBank] TO DISK = N&#39;D:\\Backup\\ImageBank-" in page
        assert "RESTORE VERIFYONLY FROM DISK = N&#39;D:\\Backup\\ImageBank-" in page
    finally:
        close(test_client)


# --- changing the connection inline (the wizard's steps 1-2) --------------------------------


@pytest.mark.backends("postgresql")
def test_change_connection_inline_keeps_the_password_server_side(
    configured: FlaskClient, db_url: str, pg_server: pgserver.PgServer, backend: str
) -> None:
    start = html(configured.get("/settings/connect/step/1?fresh=1", headers=HX))
    assert "Change connection · step 1 of 2" in start
    assert f'value="{pg_server.port}"' in start and "Leave empty to keep the password" in start
    assert pg_server.password not in start
    tested = post(configured, "/settings/connect/server", pg_form(pg_server, password=""))
    assert tested.status_code == 200 and "Connection successful" in html(tested)
    other = pg_create(pg_server, "wz_other")
    migrated(pg_server.url(other))
    listed = post(configured, "/settings/connect/databases")
    assert f'value="{other}"' in html(listed)
    used = post(configured, "/settings/connect/database/test", {"database": other})
    assert used.status_code == 204 and used.headers["HX-Redirect"] == "/settings/"
    assert (saved_url() or "").endswith(f"/{other}")
    page = html(configured.get("/settings/"))
    assert f"database {other} is now this program&#39;s database" in page
    assert pg_server.password not in page


def test_create_new_database_inline_on_the_current_server(
    configured: FlaskClient, backend: str
) -> None:
    step2 = html(configured.get("/settings/connect/step/2?fresh=1", headers=HX))
    assert "Change connection · step 2 of 2" in step2 and "Create new ImageBank database" in step2
    name = f"ny_klinik_{backend}"
    bad = post(configured, "/settings/connect/database/create", {"name": "ny klinik"})
    assert bad.status_code == 422 and "A database name is 1 to 63" in html(bad)
    made = post(configured, "/settings/connect/database/create", {"name": name})
    assert made.status_code == 204, html(made)
    assert connection.database_name(saved_url() or "") in (name, f"{name}.sqlite3")
    engine = make_engine(saved_url() or "")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SystemEvent)).scalar() == 0
    engine.dispose()


def test_a_copy_longer_than_the_buttons_wait_is_followed_as_a_job_to_its_answer(
    configured: FlaskClient, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ibdesk.blueprints import settings as settings_view
    from ibdesk.settings import backup as backups

    gate = threading.Event()
    real_job = backups.backup_job

    def held_job(*args: object, **kwargs: object) -> object:
        gate.wait(30)  # the backup starts only once the page has shown the running job
        return (yield from real_job(*args, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(settings_view, "TOOL_WAIT_S", 0.05)
    monkeypatch.setattr(backups, "backup_job", held_job)
    folder = tmp_path / "kopior"
    folder.mkdir()
    running = post(configured, "/settings/copy", {"copy-folder": str(folder)})
    page = html(running)
    assert running.status_code == 202 and 'data-job-state="running"' in page
    [poll] = re.findall(r'hx-get="(/settings/tools/copy/[0-9a-f]+)"', page)
    assert list(folder.iterdir()) == []  # nothing written while the job is held
    gate.set()
    for _ in range(300):
        answer = configured.get(poll, headers=HX)
        if answer.status_code != 202:
            break
        time.sleep(0.1)
    copies = list(folder.iterdir())
    assert answer.status_code == 200 and len(copies) == 1
    assert f"Backup written to {copies[0]}" in html(answer)
    assert len(events(db_url, "db.backup")) == 1
    # Another tab's job id is not this tool's: the tool shows only its own jobs.
    assert configured.get(poll.replace("/copy/", "/update/"), headers=HX).status_code == 404


def test_a_change_needs_the_password_typed_again_as_in_the_wizard(
    configured: FlaskClient, db_url: str, tmp_path: Path
) -> None:
    from ibdesk.users.sessions import SessionStore

    store: SessionStore = configured.application.extensions["ibdesk.sessions"]
    for key, found in list(store._sessions.items()):  # every session stale for this
        store._sessions[key] = found.__class__(
            **{**found.__dict__, "fresh_until": found.signed_in_at}
        )
    looked = post(configured, "/settings/test")  # a look needs no password
    assert looked.status_code == 200 and "Connection successful" in html(looked)
    folder = tmp_path / "annan"
    folder.mkdir()
    changes = [
        ("/settings/connect/server", {"backend": "sqlite", "folder": str(folder)}),
        ("/settings/connect/database/create", {"name": "Annan"}),
        ("/settings/image-folder", {"image-path": str(folder)}),
        ("/settings/login", {"login": "rum_9", "password": "ett långt lösenord 9"}),
    ]
    for path, data in changes:
        refused = post(configured, path, data)
        assert refused.status_code == 403, path
        assert "Type your password again before changing the general settings" in html(refused)
    assert saved_url() == db_url and not list(folder.iterdir())
