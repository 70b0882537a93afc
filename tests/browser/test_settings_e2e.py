"""General settings in real Chromium against ``ibdesk serve``: every tool, SQLite and PostgreSQL.

The database is chosen in the configuration file of a private IBDESK_HOME (as the wizard
leaves it), so that attaching or changing the connection really changes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from test_wizard_e2e import shot
from test_wizard_views import migrated, pg_create

import pgserver
from ibdesk import clinic_settings, schema
from ibdesk.db import make_engine
from ibdesk.models import SystemEvent
from webfixtures import Served, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 30_000
SWEDISH = "Röntgen åäö ÅÄÖ"


def serve_with(home: Path, url: str) -> Served:
    """Save the database choice in the home's configuration file and start the program."""
    home.mkdir(exist_ok=True)
    (home / "config.json").write_text(json.dumps({"database_url": url}), encoding="utf-8")
    (home / "config.json").chmod(0o600)
    return start_serve(ibdesk_env(home, None))


@pytest.fixture
def sqlite_clinic(tmp_path: Path) -> Iterator[tuple[Served, Path, str]]:
    """Run the program on a SQLite clinic whose schema is one version behind."""
    url = f"sqlite:///{tmp_path / 'kliniken.sqlite3'}"
    migrated(url, to="0001_initial")
    server = serve_with(tmp_path / "home", url)
    yield server, tmp_path / "home", url
    assert server.stop() == 0, "\n".join(server.output)


def open_settings(page: Page, served: Served) -> None:
    """Open the launch address and go to General settings."""
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    page.get_by_role("link", name="General settings").click()
    expect(page.locator("h1")).to_have_text("General settings")


def answer(page: Page, section: str) -> object:
    """Return a section's grey answer area."""
    return page.locator(f"#settings-{section} .wizard-result")


def saved(home: Path) -> str:
    """Return the database URL in the configuration file."""
    value: str = json.loads((home / "config.json").read_text(encoding="utf-8"))["database_url"]
    return value


def test_every_tool_on_a_sqlite_clinic(
    page: Page, sqlite_clinic: tuple[Served, Path, str], tmp_path: Path, artifacts: Path
) -> None:
    served, home, url = sqlite_clinic
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    open_settings(page, served)
    connection = page.locator("#settings-connection")
    expect(connection.locator("[data-field=schema]")).to_contain_text("older than this program")
    expect(page.locator("[data-field=no-logins]")).to_contain_text("SQLite has no logins")
    expect(page.get_by_role("button", name="Conversion wizard")).to_have_count(0)

    page.get_by_role("button", name="Test connection").click()
    expect(answer(page, "connection")).to_contain_text("older than this program")
    page.get_by_role("button", name="List databases").click()
    expect(answer(page, "connection")).to_contain_text("kliniken.sqlite3 (in use)")

    # Update: a verified backup first, then from -> to; the facts and status bar follow.
    backups = tmp_path / f"säkerhetskopior {SWEDISH}"
    backups.mkdir()
    page.locator("#settings-update").get_by_label("Backup folder").fill(str(backups))
    page.get_by_role("button", name="Update database").click()
    head = schema.head_revision()
    expect(answer(page, "update")).to_contain_text(
        f"Updated the schema from 0001_initial to {head}.", timeout=WAIT_MS
    )
    expect(answer(page, "update")).to_contain_text(f"Backup first: {backups}")
    expect(connection.locator("[data-field=schema]")).to_have_text("ImageBank 2.1, up to date")
    expect(page.locator("#status-bar [data-field=schema]")).to_have_text(
        "ImageBank 2.1, up to date"
    )
    expect(answer(page, "connection")).not_to_contain_text("Updated")  # only its own answer

    # The image folder: checked, free space shown, stored; a UNC path as typed.
    images = tmp_path / SWEDISH
    images.mkdir()
    folder_field = page.get_by_label("Shared image folder")
    folder_field.fill(str(tmp_path / "saknas"))
    page.get_by_role("button", name="Check folder").click()
    expect(answer(page, "image-folder")).to_contain_text("does not exist or cannot be reached")
    folder_field.fill(str(images))
    page.get_by_role("button", name="Check folder").click()
    expect(answer(page, "image-folder")).to_contain_text("Free space:")
    expect(answer(page, "image-folder")).to_contain_text("Writable by this program: yes")
    page.get_by_role("button", name="Save image folder").click()
    expect(answer(page, "image-folder")).to_contain_text("Saved: every workstation uses")
    expect(page.locator("#status-bar [data-field=image-folder]")).to_have_text(str(images))
    assert _image_folder(url) == str(images)
    folder_field.fill("\\\\server\\bilder\\ImageBank")
    page.get_by_role("button", name="Save image folder").click()
    expect(answer(page, "image-folder")).to_contain_text("A Windows network path")
    assert _image_folder(url) == "\\\\server\\bilder\\ImageBank"

    # Copy the database: a verified copy and a line in the system log.
    page.locator("#settings-copy").get_by_label("Folder for the copy").fill(str(backups))
    page.get_by_role("button", name="Copy the database").click()
    expect(answer(page, "copy")).to_contain_text("Verified: integrity check ok", timeout=WAIT_MS)
    assert len(list(backups.iterdir())) == 2  # the update's and this one
    assert len(_events(url, "db.backup")) == 1
    shot(page, artifacts / "settings-sqlite.png")

    # Attach: a file that is not ImageBank's is refused; a 2.1 database is taken into use.
    other = tmp_path / "faktura.sqlite3"
    engine = make_engine(f"sqlite:///{other}", create=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE faktura (id INTEGER)")
    engine.dispose()
    attach_field = page.locator("#settings-attach").get_by_label("Database file")
    attach_field.fill(str(other))
    page.get_by_role("button", name="Attach existing 2.1 database").click()
    expect(answer(page, "attach")).to_contain_text("not an ImageBank 2.1 database")
    second = tmp_path / f"{SWEDISH}.sqlite3"
    migrated(f"sqlite:///{second}")
    page.locator("#settings-attach").get_by_label("Database file").fill(str(second))
    page.get_by_role("button", name="Attach existing 2.1 database").click()
    expect(page.locator(".alert-success")).to_contain_text(f"Attached SQLite file {second}")
    expect(connection.locator("[data-field=database]")).to_have_text(f"SQLite file {second}")
    assert make_url(saved(home)).database == str(second)

    # Create new database: the wizard's step 2, inline, on the current folder.
    page.get_by_role("link", name="Create new database").click()
    inline = page.locator("#connect")
    expect(inline.locator("h2")).to_contain_text("step 2 of 2")
    inline.get_by_label("Name of the new database").fill("ny_klinik")
    inline.get_by_role("button", name="Create new ImageBank database").click()
    expect(page.locator(".alert-success")).to_contain_text("ny_klinik.sqlite3 is now this program")
    assert make_url(saved(home)).database == str(tmp_path / "ny_klinik.sqlite3")

    # Change connection: steps 1-2 inline, back to the first clinic.
    page.get_by_role("link", name="Change connection").click()
    expect(inline.get_by_label("Folder for the database file")).to_have_value(str(tmp_path))
    inline.get_by_role("button", name="Test connection").click()
    expect(inline.locator(".wizard-result")).to_contain_text("Connection successful")
    shot(page, artifacts / "settings-change-connection.png")
    inline.locator("#connect-next").click()
    inline.get_by_role("button", name="List databases").click()
    inline.get_by_label("kliniken.sqlite3").check()
    inline.get_by_role("button", name="Test selected database").click()
    expect(page.locator(".alert-success")).to_contain_text("kliniken.sqlite3 is now this program")
    assert make_url(saved(home)).database == str(tmp_path / "kliniken.sqlite3")

    page.get_by_role("link", name="Quick-start wizard").click()
    expect(page.locator("#wizard-title")).to_have_text("Step 1 of 4 · Connect to server")
    assert problems == []


def _image_folder(url: str) -> str | None:
    engine = make_engine(url)
    with Session(engine) as session:
        value = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    engine.dispose()
    return value


def _events(url: str, action: str) -> list[str]:
    engine = make_engine(url)
    with Session(engine) as session:
        found = list(
            session.scalars(select(SystemEvent.detail).where(SystemEvent.action == action))
        )
    engine.dispose()
    return found


@pytest.mark.pg
def test_every_tool_on_a_postgresql_clinic(
    page: Page, pg_server: pgserver.PgServer, tmp_path: Path, artifacts: Path
) -> None:
    name = pg_create(pg_server, "e2e_settings")
    url = pg_server.url(name)
    migrated(url)
    served = serve_with(tmp_path / "home", url)
    try:
        open_settings(page, served)
        content = page.content()
        assert pg_server.password not in content
        expect(page.locator("[data-field=url]")).to_contain_text("postgres:***@127.0.0.1")
        expect(page.locator("[data-field=from-dump]")).to_contain_text("from a dump")

        page.get_by_role("button", name="Test connection").click()
        expect(answer(page, "connection")).to_contain_text("Connection successful (PostgreSQL")
        backups = tmp_path / "backups"
        backups.mkdir()
        page.locator("#settings-copy").get_by_label("Folder for the copy").fill(str(backups))
        page.get_by_role("button", name="Copy the database").click()
        expect(answer(page, "copy")).to_contain_text("pg_restore --list", timeout=WAIT_MS)
        assert [p.suffix for p in backups.iterdir()] == [".dump"]

        # Create database user, then really log in as it: data yes, tables no.
        secret = "ett långt lösenord 42"
        login_box = page.locator("#settings-login")
        login_box.get_by_label("Login name").fill("rum_e2e")
        login_box.get_by_label("Password").fill("kort")
        page.get_by_role("button", name="Create database user").click()
        expect(login_box.locator(".field-errors")).to_contain_text("at least 12 characters")
        login_box.get_by_label("Password").fill(secret)
        page.get_by_role("button", name="Create database user").click()
        expect(answer(page, "login")).to_contain_text(
            "Login rum_e2e created with workstation rights", timeout=WAIT_MS
        )
        expect(answer(page, "login")).to_contain_text("PASSWORD '********'")
        assert secret not in page.content()
        shot(page, artifacts / "settings-postgresql.png")
        with psycopg.connect(
            host="127.0.0.1", port=pg_server.port, dbname=name, user="rum_e2e", password=secret
        ) as conn:
            conn.execute(
                "INSERT INTO patient (personnummer, kind, first_name, last_name, name_key, "
                "address, postal_code, city, phone, note, created_at, created_by, modified_at, "
                "modified_by) VALUES ('191212121212', 'personnummer', 'Åsa', 'Öberg', "
                "'öberg åsa', '', '', '', '', '', now(), 'rum_e2e', now(), 'rum_e2e')"
            )
            conn.commit()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE egen (id int)")

        # Change connection: the password is kept server-side, never shown.
        page.get_by_role("link", name="Change connection").click()
        inline = page.locator("#connect")
        expect(inline.get_by_label("PostgreSQL")).to_be_checked()
        expect(inline.get_by_label("Password")).to_have_value("")
        expect(inline).to_contain_text("Leave empty to keep the password")
        inline.get_by_role("button", name="Test connection").click()
        expect(inline.locator(".wizard-result")).to_contain_text("Connection successful")
        inline.locator("#connect-next").click()
        inline.get_by_label("Name of the new database").fill("e2e_andra")
        inline.get_by_role("button", name="Create new ImageBank database").click()
        expect(page.locator(".alert-success")).to_contain_text("e2e_andra is now this program")
        expect(page.locator("#settings-connection [data-field=database]")).to_have_text(
            f"PostgreSQL server 127.0.0.1:{pg_server.port}, database e2e_andra"
        )
        assert pg_server.password not in page.content()
    finally:
        assert served.stop() == 0, "\n".join(served.output)
