"""The quick-start wizard in real Chromium against ``ibdesk serve``: a first launch, start to end.

Each test starts the program as a newcomer would: an empty IBDESK_HOME (no configuration, no
default SQLite file), a trusted test vendor key for the license. Screenshots of every step go
to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from test_wizard_views import closed_port, license_file, migrated, pg_create

import pgserver
from ibdesk import licensing, vendor
from ibdesk.db import make_engine
from ibdesk.models import Patient, UserAccount
from webfixtures import Served, browser_sign_in, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 30_000
PASSWORD = "blå tandborste 42"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    """Return the test vendor's signing key."""
    return Ed25519PrivateKey.generate()


@pytest.fixture
def first_launch(tmp_path: Path, key: Ed25519PrivateKey) -> Iterator[tuple[Served, Path]]:
    """Run ``ibdesk serve`` on an empty home, trusting the test vendor key."""
    home = tmp_path / "home"
    home.mkdir()
    trusted = tmp_path / "vendor.pub"
    trusted.write_bytes(vendor.public_pem(key))
    server = start_serve(ibdesk_env(home, None, IBDESK_TRUST_KEY=str(trusted)))
    yield server, home
    assert server.stop() == 0, "\n".join(server.output)


def saved(home: Path) -> str:
    """Return the database URL the wizard saved in the configuration file."""
    config_file = home / "config.json"
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o600
    value: str = json.loads(config_file.read_text(encoding="utf-8"))["database_url"]
    return value


def open_wizard(page: Page, served: Served) -> None:
    """Open the launch address: with no database yet, the wizard comes up."""
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/wizard/", timeout=WAIT_MS)
    expect(page.locator("h1")).to_have_text("Quick-start wizard")
    # A marker that a full page load would wipe: steps must be htmx swaps only.
    page.evaluate("window.ibdeskWizardMarker = 1")


def result(page: Page) -> object:
    """Return the grey answer area of the step on screen."""
    return page.locator(".wizard-panel .wizard-result")


def shot(page: Page, path: Path) -> None:
    """Save a screenshot of the whole page.

    ``caret="initial"``: hiding the caret leaves ``style=""`` on inputs, which htmx's
    settling would then copy, against the page's no-inline-style policy.
    """
    page.screenshot(path=str(path), full_page=True, caret="initial")


def no_reload(page: Page) -> None:
    """Check the page was never reloaded since open_wizard."""
    assert page.evaluate("window.ibdeskWizardMarker") == 1


def test_a_newcomer_sets_up_sqlite_step_by_step(
    page: Page,
    first_launch: tuple[Served, Path],
    key: Ed25519PrivateKey,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    served, home = first_launch
    problems: list[str] = []  # refused steps answer 4xx, which Chromium logs: not problems
    page.on("console", lambda m: problems.append(m.text) if "Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    open_wizard(page, served)
    panel = page.locator(".wizard-panel")
    expect(page.get_by_label("SQLite (a file on this computer)")).to_be_checked()
    expect(page.get_by_label("Folder for the database file")).to_have_value(str(home / "data"))
    expect(page.get_by_label("Server", exact=True)).to_be_hidden()  # PostgreSQL/SQL Server only
    expect(page.locator("#wizard-next")).to_be_disabled()
    shot(page, artifacts / "wizard-1-server.png")
    # The other types show their own fields, without a round trip.
    page.get_by_label("Microsoft SQL Server").check()
    for label in ("Server", "Port", "Instance", "ODBC driver", "Encrypt the connection"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    page.get_by_label("Windows authentication").check()
    expect(page.get_by_label("User name")).to_be_hidden()
    shot(page, artifacts / "wizard-1-sql-server.png")
    page.get_by_label("PostgreSQL").check()
    expect(page.get_by_label("Instance")).to_be_hidden()
    expect(page.get_by_label("User name")).to_be_visible()
    page.get_by_label("SQLite (a file on this computer)").check()

    # Keyboard only: from the folder, Tab skips the hidden fields to [Test connection].
    page.get_by_label("Folder for the database file").focus()
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Test connection")
    page.keyboard.press("Enter")
    expect(result(page)).to_contain_text("Connection successful", timeout=WAIT_MS)
    expect(page.locator(".wizard-step.is-passed")).to_have_count(1)
    shot(page, artifacts / "wizard-1-passed.png")
    page.locator("#wizard-next").click()

    expect(page.locator("#wizard-title")).to_have_text(
        "Step 2 of 4 · Connect or create the database"
    )
    page.get_by_label("Name of the new database").fill("ny klinik")
    page.get_by_role("button", name="Create new ImageBank database").click()
    expect(panel.locator(".field-errors")).to_contain_text("A database name is 1 to 63")
    page.get_by_label("Name of the new database").fill("imagebank")
    page.get_by_role("button", name="Create new ImageBank database").click()
    expect(result(page)).to_contain_text("is now this program's database", timeout=WAIT_MS)
    expect(result(page)).to_contain_text("current schema")
    # The status bar follows at once (an out-of-band swap, no reload).
    expect(page.locator("#status-bar [data-field=schema]")).to_contain_text(
        "ImageBank 2.1, up to date"
    )
    page.get_by_role("button", name="List databases").click()
    expect(panel.get_by_label("imagebank.sqlite3")).to_be_visible()
    shot(page, artifacts / "wizard-2-database.png")
    assert make_url(saved(home)).database == str(home / "data" / "imagebank.sqlite3")
    page.locator("#wizard-next").click()

    expect(page.locator("#wizard-title")).to_have_text("Step 3 of 4 · Install license")
    wrong = tmp_path / "röntgenbild.png"
    wrong.write_bytes(b"\x89PNG\r\n not a license")
    page.get_by_label("License file").set_input_files(str(wrong))
    page.get_by_role("button", name="Install license").click()
    expect(result(page)).to_contain_text("röntgenbild.png", timeout=WAIT_MS)
    expect(page.locator("#wizard-next")).to_be_disabled()
    good = tmp_path / "Folktandvården.lic"
    good.write_bytes(license_file(key, seats=12))
    page.get_by_label("License file").set_input_files(str(good))
    page.get_by_role("button", name="Install license").click()
    expect(page.locator("[data-field=licensee]")).to_have_text(
        "Folktandvården Åkersberga AB (556012-5790)", timeout=WAIT_MS
    )
    expect(page.locator("[data-field=seats]")).to_have_text("12")
    expect(page.locator("[data-field=created]")).to_have_count(1)
    shot(page, artifacts / "wizard-3-license.png")
    page.locator("#wizard-next").click()

    expect(page.locator("#wizard-title")).to_have_text("Step 4 of 4 · Create user")
    expect(page.locator("#wizard-finish")).to_be_disabled()
    page.get_by_label("User name").fill("anna.admin")
    page.get_by_label("Full name (optional)").fill("Anna Åström")
    page.get_by_label("Password").fill("kort")
    page.get_by_role("button", name="Create user").click()
    expect(panel.locator(".field-errors")).to_contain_text("at least 12 characters")
    expect(page.get_by_label("Password")).to_have_value("")  # never sent back
    page.get_by_label("Password").fill("qwertyuiop123")
    page.get_by_role("button", name="Create user").click()
    expect(panel.locator(".field-errors")).to_contain_text("common or leaked")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(result(page)).to_contain_text("The administrator anna.admin was created.")
    shot(page, artifacts / "wizard-4-user.png")
    no_reload(page)
    page.get_by_role("button", name="Finish and run IBSysAdmin").click()

    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    browser_sign_in(page, "anna.admin", PASSWORD)  # after the wizard, the window asks who
    expect(page.locator("h1")).to_have_text("Overview")
    bar = page.locator("#status-bar")
    expect(bar.locator("[data-field=schema]")).to_contain_text(
        "ImageBank 2.1, up to date", timeout=WAIT_MS
    )
    expect(bar.locator("[data-field=database]")).to_contain_text("imagebank.sqlite3")
    assert problems == []
    engine = make_engine(saved(home))
    with Session(engine) as session:
        user = session.scalar(select(UserAccount))
        assert user is not None and user.display_name == "Anna Åström" and user.is_admin
    engine.dispose()


@pytest.mark.pg
def test_the_wizard_on_a_real_postgresql_server(
    page: Page,
    first_launch: tuple[Served, Path],
    key: Ed25519PrivateKey,
    pg_server: pgserver.PgServer,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    served, home = first_launch
    foreign = pg_create(pg_server, "e2e_faktura", "CREATE TABLE faktura (id int)")
    newer = pg_create(pg_server, "e2e_framtid")
    migrated(pg_server.url(newer), future=True)
    open_wizard(page, served)
    panel = page.locator(".wizard-panel")
    page.get_by_label("PostgreSQL").check()
    page.get_by_label("Server", exact=True).fill("127.0.0.1")
    page.get_by_label("Port").fill(str(pg_server.port))
    page.get_by_label("User name").fill("postgres")
    page.get_by_label("Password").fill("fel lösenord")
    page.get_by_role("button", name="Test connection").click()
    expect(result(page)).to_contain_text(
        "The database server refused the user name or password.", timeout=WAIT_MS
    )
    expect(page.get_by_label("Password")).to_have_value("")
    page.get_by_label("Port").fill(str(closed_port()))
    page.get_by_label("Password").fill(pg_server.password)
    page.get_by_role("button", name="Test connection").click()
    expect(result(page)).to_contain_text("refused the connection", timeout=WAIT_MS)
    shot(page, artifacts / "wizard-1-refused.png")
    page.get_by_label("Port").fill(str(pg_server.port))
    # The password typed before stays on the server side: the empty field keeps it.
    expect(panel).to_contain_text("Leave empty to keep the password")
    page.get_by_role("button", name="Test connection").click()
    expect(result(page)).to_contain_text("Connection successful (PostgreSQL", timeout=WAIT_MS)
    assert pg_server.password not in page.content()
    page.locator("#wizard-next").click()

    page.get_by_role("button", name="List databases").click()
    panel.get_by_label(foreign).check()
    page.get_by_role("button", name="Test selected database").click()
    expect(result(page)).to_contain_text("is not an ImageBank 2.1 database", timeout=WAIT_MS)
    panel.get_by_label(newer).check()
    page.get_by_role("button", name="Test selected database").click()
    expect(result(page)).to_contain_text("(9999_future) is newer than this program")
    expect(page.locator("#wizard-next")).to_be_disabled()
    shot(page, artifacts / "wizard-2-refused.png")
    assert not (home / "config.json").exists()
    page.get_by_label("Name of the new database").fill("e2e_kliniken")
    page.get_by_role("button", name="Create new ImageBank database").click()
    expect(result(page)).to_contain_text("is now this program's database", timeout=WAIT_MS)
    assert make_url(saved(home)).database == "e2e_kliniken"
    assert pg_server.password not in page.content()
    page.locator("#wizard-next").click()

    good = tmp_path / "licens.lic"
    good.write_bytes(license_file(key, seats=7))
    page.get_by_label("License file").set_input_files(str(good))
    page.get_by_role("button", name="Install license").click()
    expect(page.locator("[data-field=seats]")).to_have_text("7", timeout=WAIT_MS)
    page.locator("#wizard-next").click()
    page.get_by_label("User name").fill("erik")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(result(page)).to_contain_text("The administrator erik was created.")
    no_reload(page)
    page.get_by_role("button", name="Finish and run IBSysAdmin").click()
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    browser_sign_in(page, "erik", PASSWORD)
    bar = page.locator("#status-bar")
    expect(bar.locator("[data-field=database]")).to_contain_text("PostgreSQL server 127.0.0.1:")
    expect(bar.locator("[data-field=schema]")).to_contain_text(
        "ImageBank 2.1, up to date", timeout=WAIT_MS
    )


def test_try_with_demo_data_explores_a_demo_clinic(
    page: Page, first_launch: tuple[Served, Path], artifacts: Path
) -> None:
    served, home = first_launch
    open_wizard(page, served)
    page.get_by_role("button", name="Try with demo data").click()
    job = page.locator("#demo-watch section.job")
    expect(job).to_be_visible(timeout=WAIT_MS)
    shot(page, artifacts / "wizard-demo-running.png")
    expect(page.locator("#wizard-title")).to_have_text("Step 4 of 4 · Create user", timeout=240_000)
    expect(result(page)).to_contain_text("The demo clinic is ready: 30 patients")
    expect(page.locator(".wizard-step.is-passed")).to_have_count(3)
    shot(page, artifacts / "wizard-demo-ready.png")
    no_reload(page)
    page.get_by_role("button", name="Finish and run IBSysAdmin").click()
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    expect(page.locator("[data-field=image-folder]").first).to_have_text(
        str(home / "data" / "images"), timeout=WAIT_MS
    )
    url = saved(home)
    assert url.endswith("imagebank-demo.sqlite3")
    assert len(list((home / "data" / "images").rglob("*.*"))) == 30 * 6
    engine = make_engine(url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 30
        info = licensing.current_license(session)
        assert info is not None and info.is_demo and info.valid
    engine.dispose()
