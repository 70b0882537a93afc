"""The manual's screens walked in real Chromium at 1280x800, as an administrator would:

- the wizard's step 3 without a license file: the way forward (a demo clinic), saying which
  database the demo uses, and the database of step 2 left unused;
- General settings on PostgreSQL: database users listed, created, given a new password and
  removed; a backup dump attached as a new database;
- Statistics: generated, the tab left and opened again: the last report is there, with its
  time.

Each screen's screenshot is checked not to be blank.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from test_screens_e2e import snapshot
from test_settings_e2e import answer, open_settings, saved, serve_with
from test_wizard_e2e import open_wizard, result
from test_wizard_views import migrated, pg_create

import pgserver
from factories import make_patient
from ibdesk import clinic_settings
from ibdesk.db import make_engine
from ibdesk.models import Patient
from webfixtures import Served, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 60_000
CLINIC = "Tandläkarna på Åsgatan"


@pytest.fixture
def first_launch(tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    """Run ``ibdesk serve`` on an empty home: no configuration, no database yet."""
    home = tmp_path / "home"
    home.mkdir()
    server = start_serve(ibdesk_env(home, None))
    yield server, home
    assert server.stop() == 0, "\n".join(server.output)


def test_step_3_without_a_license_offers_the_demo_and_names_its_database(
    page: Page, first_launch: tuple[Served, Path], artifacts: Path
) -> None:
    served, home = first_launch
    assert page.viewport_size == {"width": 1280, "height": 800}
    open_wizard(page, served)
    page.get_by_role("button", name="Test connection").click()
    expect(result(page)).to_contain_text("Connection successful", timeout=WAIT_MS)
    page.locator("#wizard-next").click()
    page.get_by_label("Name of the new database").fill("kliniken")
    page.get_by_role("button", name="Create new ImageBank database").click()
    expect(result(page)).to_contain_text("is now this program's database", timeout=WAIT_MS)
    page.locator("#wizard-next").click()
    expect(page.locator("#wizard-title")).to_have_text("Step 3 of 4 · Install license")

    box = page.locator("aside", has=page.locator("#wizard-demo-license"))
    expect(box).to_contain_text("Nothing to install yet?")
    expect(box.locator("#wizard-skip-license")).to_be_visible()
    chosen = home / "data" / "kliniken.sqlite3"
    told = box.locator("[data-field=demo-database]")
    expect(told).to_contain_text(f"a SQLite file in {home / 'data'}")
    expect(told).to_contain_text(f"({'SQLite file ' + str(chosen)}) stays as it is")
    expect(told).to_contain_text("unused by the demo")
    snapshot(page, artifacts, "walk-wizard-3-no-license.png")

    box.locator("#wizard-demo-license").click()
    expect(page.locator("#demo-watch section.job")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#wizard-title")).to_have_text("Step 4 of 4 · Create user", timeout=240_000)
    expect(result(page)).to_contain_text("The demo clinic is ready: 30 patients")
    snapshot(page, artifacts, "walk-wizard-demo-ready.png")
    assert saved(home).endswith("imagebank-demo.sqlite3")
    engine = make_engine(f"sqlite:///{chosen}")  # step 2's database: there, and untouched
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0
    engine.dispose()


@pytest.mark.pg
def test_database_users_and_attach_from_a_dump_on_postgresql(
    page: Page, pg_server: pgserver.PgServer, tmp_path: Path, artifacts: Path
) -> None:
    name = pg_create(pg_server, "walk_settings")
    url = pg_server.url(name)
    migrated(url)
    engine = make_engine(url)
    with Session(engine) as session:
        make_patient(session, first_name="Dumpad", last_name="Walk")
    engine.dispose()
    home = tmp_path / "home"
    served = serve_with(home, url)
    page.on("dialog", lambda dialog: dialog.accept())  # [Remove…] asks first
    try:
        open_settings(page, served)
        users = page.locator("#settings-login [data-field=logins]")
        expect(users.locator("li[data-login=postgres]")).to_contain_text("owns the database")

        first, second = "ett långt lösenord 42", "ett annat lösenord 43"
        box = page.locator("#settings-login")
        box.get_by_label("Login name").fill("rum_walk")
        box.get_by_label("Password", exact=True).fill(first)
        page.get_by_role("button", name="Create database user").click()
        expect(answer(page, "login")).to_contain_text("Login rum_walk created", timeout=WAIT_MS)
        row = users.locator("li[data-login=rum_walk]")
        expect(row).to_be_visible()
        snapshot(page, artifacts, "walk-settings-users.png")

        row.get_by_label("New password for rum_walk").fill(second)
        row.get_by_role("button", name="Change password").click()
        expect(answer(page, "login")).to_contain_text("Login rum_walk has a new password.")
        with psycopg.connect(
            host="127.0.0.1", port=pg_server.port, dbname=name, user="rum_walk", password=second
        ) as conn:
            assert conn.execute("SELECT count(*) FROM patient").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(
                host="127.0.0.1", port=pg_server.port, dbname=name, user="rum_walk", password=first
            )

        users.locator("li[data-login=rum_walk]").get_by_role("button", name="Remove…").click()
        expect(answer(page, "login")).to_contain_text("Login rum_walk removed.", timeout=WAIT_MS)
        expect(users.locator("li[data-login=rum_walk]")).to_have_count(0)

        # A dump from [Copy the database], attached as a new database that the program then uses.
        backups = tmp_path / "backups"
        backups.mkdir()
        page.locator("#settings-copy").get_by_label("Folder for the copy").fill(str(backups))
        page.get_by_role("button", name="Copy the database").click()
        expect(answer(page, "copy")).to_contain_text("pg_restore --list", timeout=WAIT_MS)
        (dump,) = backups.iterdir()
        attach = page.locator("#settings-attach")
        expect(attach.locator("[data-field=from-dump]")).to_contain_text("from a dump")
        attach.get_by_label("Dump file (made by pg_dump -Fc)").fill(str(dump))
        attach.get_by_label("Name for the new database").fill(name)  # taken: refused
        page.get_by_role("button", name="Attach existing 2.1 database").click()
        expect(answer(page, "attach")).to_contain_text("already exists", timeout=WAIT_MS)
        attach.get_by_label("Name for the new database").fill(f"{name}_kopia")
        page.get_by_role("button", name="Attach existing 2.1 database").click()
        expect(answer(page, "attach")).to_contain_text(
            "it is now this program's database", timeout=WAIT_MS
        )
        expect(page.locator("#status-bar")).to_contain_text(f"{name}_kopia", timeout=WAIT_MS)
        snapshot(page, artifacts, "walk-settings-attached.png")
        assert saved(home).endswith(f"/{name}_kopia")
    finally:
        assert served.stop() == 0, "\n".join(served.output)


def test_statistics_keep_the_last_report_with_its_time(
    page: Page, tmp_path: Path, sqlite_template: Path, artifacts: Path
) -> None:
    path = tmp_path / "statistik.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.CLINIC_NAME, CLINIC, by="test")
        for i in range(3):
            make_patient(session, last_name=f"Ek{i}")
        session.commit()
    engine.dispose()
    served = start_serve(ibdesk_env(tmp_path / "home", url))
    try:
        open_window(page, served.fresh_url())
        page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
        page.get_by_role("link", name="Statistics").click()
        report = page.locator("#statistics-report")
        expect(report).to_contain_text("Press [Generate statistics]")
        page.get_by_role("button", name="Generate statistics").click()
        expect(report.locator("h2")).to_have_text(f"Statistics for {CLINIC}", timeout=WAIT_MS)
        expect(report.locator("[data-field=patients]")).to_have_attribute("data-value", "3")
        when = report.locator("[data-field=generated]").inner_text()
        assert when[:4].isdigit() and when[4] == "-"  # an ISO date and time

        page.get_by_role("link", name="Logs").click()
        expect(page.locator("h1")).to_have_text("Logs")
        page.get_by_role("link", name="Statistics").click()
        expect(page.locator("h1")).to_have_text("Statistics")
        expect(report.locator("h2")).to_have_text(f"Statistics for {CLINIC}")
        expect(report.locator("[data-field=generated]")).to_have_text(when)
        expect(report.locator("[data-field=patients]")).to_have_attribute("data-value", "3")
        snapshot(page, artifacts, "walk-statistics-last-report.png")
    finally:
        assert served.stop() == 0, "\n".join(served.output)
