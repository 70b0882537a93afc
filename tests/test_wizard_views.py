"""The wizard's routes through real requests (CSRF on): each step, its refusals, the gate.

The app here has no --db option, as on a first launch: the setup gate is active and every
step that passes writes the configuration file of this test's own IBDESK_HOME.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import socket
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

import pgserver
from ibdesk import config, licensing, schema, tabs, users, vendor
from ibdesk.app import create_app
from ibdesk.blueprints.jobs import registry
from ibdesk.db import make_engine
from ibdesk.demo import clinic as democlinic
from ibdesk.forms.wizard import ServerForm
from ibdesk.models import UserAccount
from ibdesk.settings.connection import odbc_connection_string
from webfixtures import HX, TEST_PORT, login, sign_in
from webfixtures import post as post_from

MY_TABS = tuple(t for t in tabs.TABS if t.id in ("wizard", "settings"))
GOOD_PASSWORD = "blå tandborste 42"


# --- helpers, also used by test_settings_views.py -------------------------------------------


def make_client(db_option: str | None = None) -> FlaskClient:
    """Return a logged-in client of a fresh app with only the wizard and settings tabs."""
    application = create_app(db_option=db_option, testing=True, port=TEST_PORT, tab_list=MY_TABS)
    test_client = application.test_client()
    login(test_client, application)
    return test_client


def close(test_client: FlaskClient) -> None:
    """Stop the client's app: its jobs and its database connections."""
    application = test_client.application
    application.extensions["ibdesk.jobs"].shutdown()
    application.extensions["ibdesk.database"].dispose()


# POST like htmx does on the wizard's page: one CSRF token per session, the HX-Request header.
post = functools.partial(post_from, page="/wizard/", keep_token=True)


def html(response: TestResponse) -> str:
    """Return the response's text."""
    return response.get_data(as_text=True)


def closed_port() -> int:
    """Return a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_form(server: pgserver.PgServer, **overrides: Any) -> dict[str, Any]:
    """Return step 1's form for the test PostgreSQL server."""
    return {
        "backend": "postgresql",
        "host": "127.0.0.1",
        "port": str(server.port),
        "user": "postgres",
        "password": server.password,
        **overrides,
    }


def pg_create(server: pgserver.PgServer, prefix: str, *statements: str) -> str:
    """Create a database on the test server and run statements in it; return its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    engine = make_engine(server.url(name))
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()
    return name


def migrated(url: str, to: str = "head", *, future: bool = False) -> None:
    """Give a database the ImageBank schema (an older one, or one marked as newer)."""
    engine = make_engine(url, create=True)
    schema.upgrade(engine, to=to)
    if future:
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999_future'"))
    engine.dispose()


def saved_url() -> str | None:
    """Return the database URL in the configuration file, if any."""
    path = config.config_path()
    if not path.exists():
        return None
    value = json.loads(path.read_text(encoding="utf-8")).get("database_url")
    return value if isinstance(value, str) else None


@pytest.fixture
def vendor_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ed25519PrivateKey:
    """Make a vendor key and trust it through IBDESK_TRUST_KEY."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "test-vendor.pub"
    path.write_bytes(vendor.public_pem(key))
    monkeypatch.setenv("IBDESK_TRUST_KEY", str(path))
    return key


def license_file(key: Ed25519PrivateKey, seats: int = 12) -> bytes:
    """Return a signed license for Folktandvården Åkersberga."""
    return vendor.issue_license(
        key,
        licensee="Folktandvården Åkersberga AB",
        org_number="556012-5790",
        seats=seats,
        created=dt.date.today() - dt.timedelta(days=3),
    ).encode("utf-8")


@pytest.fixture
def wizard() -> Iterator[FlaskClient]:
    """Return a client of a first launch: no database chosen, the default file absent."""
    test_client = make_client()
    yield test_client
    close(test_client)


def sqlite_steps_1_2(test_client: FlaskClient, name: str = "imagebank") -> str:
    """Pass steps 1 and 2 with SQLite in the program's own folder; return the saved URL."""
    folder = str(config.data_dir())
    answer = post(test_client, "/wizard/server", {"backend": "sqlite", "folder": folder})
    assert answer.status_code == 200, html(answer)
    created = post(test_client, "/wizard/database/create", {"name": name})
    assert created.status_code == 200, html(created)
    url = saved_url()
    assert url is not None
    return url


# --- the gate and the first page ------------------------------------------------------------


def test_a_first_launch_opens_the_wizard_with_sqlite_chosen(wizard: FlaskClient) -> None:
    first = wizard.get("/")
    assert first.status_code == 302 and first.location.endswith("/wizard/")
    assert wizard.get("/settings/").location.endswith("/wizard/")
    assert wizard.get("/", headers=HX).headers["HX-Redirect"].endswith("/wizard/")
    page = html(wizard.get("/wizard/"))
    assert "Step 1 of 4 · Connect to server" in page
    assert 'checked id="backend-0" name="backend" type="radio" value="sqlite"' in page
    assert f'value="{config.data_dir()}"' in page  # the default folder, not yet made
    assert not config.data_dir().exists()
    assert '<button type="button" class="button" id="wizard-next" disabled' in page
    assert page.count('aria-disabled="true"') == 3  # steps 2-4 locked
    assert "Try with demo data" in page and "Skip wizard" in page
    partial = html(wizard.get("/wizard/", headers=HX))
    assert "<html" not in partial and partial.lstrip().startswith('<div class="wizard"')


def test_locked_steps_refuse_and_change_nothing(wizard: FlaskClient) -> None:
    assert "Step 1 of 4" in html(wizard.get("/wizard/step/4", headers=HX))
    for path, data in (
        ("/wizard/databases", {}),
        ("/wizard/database/create", {"name": "imagebank"}),
        ("/wizard/database/test", {"database": "x"}),
        ("/wizard/database/update", {"database": "x"}),
        ("/wizard/license", {}),
        ("/wizard/user", {"username": "anna", "password": GOOD_PASSWORD}),
        ("/wizard/finish", {}),
    ):
        response = post(wizard, path, data)
        assert response.status_code == 409, path
        assert "first" in html(response) or "has not passed" in html(response), path
    assert saved_url() is None and not config.data_dir().exists()
    assert wizard.get("/settings/connect/step/3").status_code == 404


def test_without_the_csrf_token_nothing_is_done(wizard: FlaskClient) -> None:
    folder = str(config.data_dir())
    response = wizard.post(
        "/wizard/server", data={"backend": "sqlite", "folder": folder}, headers=HX
    )
    assert response.status_code == 400 and "Form expired" in html(response)
    assert not config.data_dir().exists()


# --- step 1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"backend": "sqlite", "folder": ""}, "Choose the folder for the SQLite database."),
        ({"backend": "postgresql", "user": "ib"}, "Type the database server&#39;s name or"),
        ({"backend": "postgresql", "host": "db1", "port": "70000", "user": "ib"}, "1 to 65535"),
        ({"backend": "postgresql", "host": "db1", "port": "54x", "user": "ib"}, "1 to 65535"),
        ({"backend": "postgresql", "host": "db1"}, "Type the user name to sign in with."),
        ({"backend": "postgresql", "host": "db 1; drop", "user": "ib"}, "is not a server name"),
        (
            {"backend": "mssql", "host": "srv", "user": "sa", "driver": "ODBC Driver 99"},
            "That ODBC driver is not installed here",
        ),
        ({"backend": "oracle"}, "Not a valid choice"),
    ],
)
def test_step_1_bad_input_gets_a_clear_message(
    wizard: FlaskClient, data: dict[str, str], message: str
) -> None:
    response = post(wizard, "/wizard/server", data)
    assert response.status_code == 422
    assert message in html(response)
    assert "Connection successful" not in html(response)
    assert saved_url() is None


def test_a_missing_sqlite_folder_is_named_and_not_created(
    wizard: FlaskClient, tmp_path: Path
) -> None:
    response = post(
        wizard, "/wizard/server", {"backend": "sqlite", "folder": str(tmp_path / "nej")}
    )
    assert response.status_code == 409
    assert f"The folder {tmp_path / 'nej'} does not exist" in html(response)
    assert not (tmp_path / "nej").exists()


@pytest.mark.pg
def test_postgresql_step_1_says_what_went_wrong_and_never_shows_the_password(
    wizard: FlaskClient, pg_server: pgserver.PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = post(wizard, "/wizard/server", pg_form(pg_server, password="fel-lösenord-99"))
    assert wrong.status_code == 409
    assert "The database server refused the user name or password." in html(wrong)
    refused = post(wizard, "/wizard/server", pg_form(pg_server, port=str(closed_port())))
    assert refused.status_code == 409 and "refused the connection" in html(refused)
    unknown = post(wizard, "/wizard/server", pg_form(pg_server, host="ingen.invalid"))
    assert "was not found" in html(unknown)
    good = post(wizard, "/wizard/server", pg_form(pg_server))
    assert good.status_code == 200 and "Connection successful (PostgreSQL" in html(good)
    assert 'id="wizard-next" href="/wizard/step/2"' in html(good)
    # An empty field keeps the password given for the same server and user...
    kept = post(wizard, "/wizard/server", pg_form(pg_server, password=""))
    assert kept.status_code == 200 and "Leave empty to keep the password" in html(kept)
    # ...but not for another user.
    other = post(wizard, "/wizard/server", pg_form(pg_server, password="", user="ib"))
    assert other.status_code == 409
    for response in (wrong, refused, good, kept, other, wizard.get("/wizard/")):
        assert pg_server.password not in html(response)
        assert "fel-lösenord-99" not in html(response)
    assert pg_server.password not in caplog.text and "fel-lösenord-99" not in caplog.text
    assert saved_url() is None  # nothing is saved before step 2 passes


def test_the_sql_server_form_becomes_the_exact_odbc_connection_string(app_for_forms: Flask) -> None:
    fields = MultiDict(
        {
            "backend": "mssql",
            "host": "srv01\\IMAGEBANK",
            "port": "",
            "auth": "sql",
            "user": "sa",
            "password": "p;w}d åäö",
            "driver": "ODBC Driver 18 for SQL Server",
            "encrypt": "y",
            "trust_server_certificate": "y",
        }
    )
    drivers = ["FreeTDS", "ODBC Driver 18 for SQL Server"]
    with app_for_forms.test_request_context(method="POST", data=fields):
        spec = ServerForm(drivers=drivers, meta={"csrf": False}).checked_spec()
    assert spec is not None
    assert odbc_connection_string(spec, "ImageBank") == (
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER=srv01\\IMAGEBANK;DATABASE=ImageBank;"
        "UID=sa;PWD={p;w}}d åäö};Encrypt=yes;TrustServerCertificate=yes;Connection Timeout=5;"
    )
    windows = MultiDict(
        {
            "backend": "mssql",
            "host": "srv01",
            "port": "1433",
            "auth": "windows",
            "driver": "FreeTDS",
        }
    )
    with app_for_forms.test_request_context(method="POST", data=windows):
        trusted = ServerForm(drivers=drivers, meta={"csrf": False}).checked_spec()
    assert trusted is not None
    assert odbc_connection_string(trusted, "IB") == (
        "DRIVER={FreeTDS};SERVER=srv01,1433;DATABASE=IB;Trusted_Connection=yes;Encrypt=no;"
        "Connection Timeout=5;"
    )


@pytest.fixture
def app_for_forms() -> Flask:
    """Return an app to build forms in (no request is served)."""
    return create_app(testing=True, port=TEST_PORT, tab_list=MY_TABS)


def test_sql_server_through_the_route_says_the_connection_was_refused(
    wizard: FlaskClient,
) -> None:
    response = post(
        wizard,
        "/wizard/server",
        {
            "backend": "mssql",
            "host": "127.0.0.1",
            "port": str(closed_port()),
            "auth": "sql",
            "user": "sa",
            "password": "hemligt",
            "driver": "FreeTDS",
            "encrypt": "y",
        },
    )
    assert response.status_code == 409 and "refused the connection" in html(response)
    assert "hemligt" not in html(response)


# --- the whole wizard on SQLite -------------------------------------------------------------


def test_the_sqlite_wizard_from_first_launch_to_the_main_tabs(
    wizard: FlaskClient, vendor_key: Ed25519PrivateKey
) -> None:
    folder = config.data_dir()
    tested = post(wizard, "/wizard/server", {"backend": "sqlite", "folder": str(folder)})
    assert tested.status_code == 200 and "Connection successful" in html(tested)
    assert folder.is_dir()  # the program's own folder is made on the first run
    step2 = html(wizard.get("/wizard/step/2", headers=HX))
    assert "Step 2 of 4" in step2 and 'value="imagebank"' in step2
    bad_name = post(wizard, "/wizard/database/create", {"name": "drop table; --"})
    assert bad_name.status_code == 422 and "A database name is 1 to 63 letters" in html(bad_name)
    empty_name = post(wizard, "/wizard/database/create", {"name": ""})
    assert empty_name.status_code == 422 and "Type a name for the new database." in html(empty_name)
    assert saved_url() is None
    created = post(wizard, "/wizard/database/create", {"name": "imagebank"})
    assert created.status_code == 200
    assert "is now this program&#39;s database" in html(created)
    assert "current schema" in html(created)
    assert saved_url() == f"sqlite+pysqlite:///{folder / 'imagebank.sqlite3'}"
    assert stat.S_IMODE(os.stat(config.config_path()).st_mode) == 0o600
    again = post(wizard, "/wizard/database/create", {"name": "imagebank"})
    assert again.status_code == 409 and "already exists" in html(again)

    step3 = html(wizard.get("/wizard/step/3", headers=HX))
    assert "No license is installed in this database yet." in step3
    # Without a license file step 3 is no dead end, and says which database a demo uses.
    assert 'id="wizard-skip-license"' in step3 and 'id="wizard-demo-license"' in step3
    assert "stays as it is, unused by the demo" in step3 and "imagebank.sqlite3" in step3
    no_file = post(wizard, "/wizard/license")
    assert no_file.status_code == 422 and "Choose the license file the vendor sent." in html(
        no_file
    )
    wrong = post(wizard, "/wizard/license", {"file": (_upload(b"\x89PNG not a license"))})
    assert wrong.status_code == 422 and "foto.png" in html(wrong)
    assert 'id="wizard-next" disabled' in html(wrong).replace('type="button" class="button" ', "")
    installed = post(wizard, "/wizard/license", {"file": _upload(license_file(vendor_key))})
    page = html(installed)
    assert installed.status_code == 200
    assert "Folktandvården Åkersberga AB (556012-5790)" in page
    assert '<dd data-field="seats">12</dd>' in page
    created_on = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    assert f'<dd data-field="created">{created_on}</dd>' in page

    step4 = post(wizard, "/wizard/user", {"username": "anna.admin", "password": "kort"})
    assert step4.status_code == 422 and "at least 12 characters" in html(step4)
    named = post(wizard, "/wizard/user", {"username": "anna.admin", "password": "anna.admin-123"})
    assert named.status_code == 422 and "must not contain the user name" in html(named)
    empty = post(wizard, "/wizard/user", {"username": "", "password": ""})
    assert "Type a user name." in html(empty) and "Type a password." in html(empty)
    early = post(wizard, "/wizard/finish")
    assert early.status_code == 409 and "Step 4 has not passed yet." in html(early)
    made = post(
        wizard,
        "/wizard/user",
        {"username": "Anna.Admin", "display_name": "Anna Åström", "password": GOOD_PASSWORD},
    )
    assert made.status_code == 200 and "The administrator anna.admin was created." in html(made)
    assert GOOD_PASSWORD not in html(made)
    engine = make_engine(saved_url() or "")
    with Session(engine) as session:
        user = session.scalar(select(UserAccount))
        assert user is not None and user.is_admin and user.display_name == "Anna Åström"
        assert users.count_admins(session) == 1
        info = licensing.current_license(session)
        assert info is not None and info.seats == 12
    engine.dispose()

    finished = post(wizard, "/wizard/finish")
    assert finished.status_code == 204 and finished.headers["HX-Redirect"] == "/"
    assert wizard.get("/").status_code == 200  # the main tabs open now
    # ...after signing in as the administrator step 4 made.
    assert 'id="signin-form"' in html(wizard.get("/wizard/"))
    assert sign_in(wizard, "anna.admin", GOOD_PASSWORD).status_code == 303
    restarted = html(wizard.get("/wizard/"))
    assert "Step 1 of 4" in restarted  # the wizard starts afresh
    # ... but offers no demo any more: the database in force is a real clinic's now.
    assert 'id="wizard-demo"' not in restarted
    refused = post(wizard, "/wizard/demo")
    assert refused.status_code == 409 and "demo is not offered any more" in html(refused)


def _upload(data: bytes, name: str = "foto.png") -> tuple[Any, str]:
    import io

    return (io.BytesIO(data), name)


def test_skip_wizard_leads_to_manual_configuration(wizard: FlaskClient) -> None:
    skipped = wizard.get("/wizard/skip")
    assert skipped.location.endswith("/settings/manual")
    page = html(wizard.get("/settings/manual"))
    assert "Manual configuration" in page and "Change connection · step 1 of 2" in page
    folder = str(config.data_dir())
    tested = post(wizard, "/settings/connect/server", {"backend": "sqlite", "folder": folder})
    assert 'id="connect-next" href="/settings/connect/step/2"' in html(tested)
    created = post(wizard, "/settings/connect/database/create", {"name": "kliniken"})
    assert created.status_code == 204 and created.headers["HX-Redirect"] == "/settings/"
    settings_page = html(wizard.get("/settings/"))
    assert "kliniken.sqlite3 is now this program&#39;s database" in settings_page
    assert wizard.get("/wizard/skip").location.endswith("/settings/")


# --- step 2 on PostgreSQL -------------------------------------------------------------------


@pytest.mark.pg
def test_postgresql_step_2_tests_what_it_finds_and_refuses_what_is_not_usable(
    wizard: FlaskClient, pg_server: pgserver.PgServer
) -> None:
    foreign = pg_create(pg_server, "wz_faktura", "CREATE TABLE faktura (id int)")
    newer = pg_create(pg_server, "wz_newer")
    migrated(pg_server.url(newer), future=True)
    older = pg_create(pg_server, "wz_older")
    migrated(pg_server.url(older), to="0001_initial")
    assert post(wizard, "/wizard/server", pg_form(pg_server)).status_code == 200
    unlisted = post(wizard, "/wizard/database/test", {"database": foreign})
    assert unlisted.status_code == 422 and "not in the list" in html(unlisted)
    listed = post(wizard, "/wizard/databases")
    for name in (foreign, newer, older, "postgres"):
        assert f'value="{name}"' in html(listed)
    nothing = post(wizard, "/wizard/database/test", {})
    assert "List the databases and choose one first." in html(nothing)

    refused = post(wizard, "/wizard/database/test", {"database": foreign})
    assert refused.status_code == 409
    assert "is not an ImageBank 2.1 database" in html(refused)
    too_new = post(wizard, "/wizard/database/test", {"database": newer})
    assert too_new.status_code == 409 and "(9999_future) is newer than this program" in html(
        too_new
    )
    assert saved_url() is None and "Update database" not in html(too_new)

    offer = post(wizard, "/wizard/database/test", {"database": older})
    assert offer.status_code == 200
    assert "older schema (0001_initial)" in html(offer) and "Update database" in html(offer)
    assert saved_url() is None
    updated = post(wizard, "/wizard/database/update", {"database": older})
    assert updated.status_code == 200, html(updated)
    page = html(updated)
    assert f"Updated the schema from 0001_initial to {schema.head_revision()}." in page
    assert "Backup first:" in page and "pg_restore --list" in page
    assert (saved_url() or "").endswith(f"/{older}")
    # The database is named in words (server and name), never with its password.
    assert pg_server.password not in page and f"database {older} is now" in page


# --- the demo clinic ------------------------------------------------------------------------


def test_try_with_demo_data_makes_a_demo_clinic_and_can_finish(
    wizard: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = functools.partial(democlinic.demo_clinic, patients=2, media_per_patient=1)
    monkeypatch.setattr(democlinic, "demo_clinic", small)
    started = post(wizard, "/wizard/demo")
    assert started.status_code == 202
    page = html(started)
    assert 'hx-trigger="ibdeskJobEnded"' in page and "Demo clinic" in page
    with wizard.application.app_context():
        job = registry().active()[0]
        done = registry().wait(job.id, 120)
    assert done.state == "succeeded", done.error
    moved = wizard.get(f"/wizard/demo/{job.id}", headers=HX)
    page = html(moved)
    assert "The demo clinic is ready: 2 patients" in page and "DEMO" in page
    assert "Step 4 of 4" in page and 'id="wizard-finish"' in page
    assert 'id="wizard-finish" disabled' not in page  # a demo needs no user to be explored
    url = saved_url()
    assert url is not None and url.endswith("imagebank-demo.sqlite3")
    assert (config.data_dir() / "images").is_dir()
    assert wizard.get("/wizard/demo/nope").status_code == 404
    finished = post(wizard, "/wizard/finish")
    assert finished.headers["HX-Redirect"] == "/"
    assert wizard.get("/").status_code == 200


def test_a_chosen_database_that_went_away_is_chosen_again(
    wizard: FlaskClient, tmp_path: Path
) -> None:
    sqlite_steps_1_2(wizard)
    assert "Step 3 of 4" in html(wizard.get("/wizard/", headers=HX))
    flows = wizard.application.extensions["ibdesk.wizard"]._flows
    for flow in flows.values():  # as if the file had been moved away meanwhile
        flow.url = f"sqlite:///{tmp_path / 'flyttad.sqlite3'}"
    page = html(wizard.get("/wizard/step/3", headers=HX))
    assert "Step 2 of 4" in page  # step 2 no longer counts as passed: no error page
