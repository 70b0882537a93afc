"""The Licensing tab in real Chromium: install a license file, refuse a bad one, free a seat."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import licensing, vendor
from ibdesk.db import make_engine, session_scope
from ibdesk.licensing import seats
from ibdesk.models import SystemEvent
from webfixtures import Served, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 30_000
LICENSEE = "Folktandvården Östra Ängby AB"


@pytest.fixture(scope="module")
def vendor_key() -> Ed25519PrivateKey:
    """Return the test vendor's signing key."""
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def licensing_db(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    """Return a migrated SQLite database with no license yet."""
    path = tmp_path_factory.mktemp("licensing") / "imagebank.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def licensed_server(
    tmp_path_factory: pytest.TempPathFactory, licensing_db: str, vendor_key: Ed25519PrivateKey
) -> Iterator[Served]:
    """Run ``ibdesk serve`` trusting the test vendor's key through IBDESK_TRUST_KEY."""
    home = tmp_path_factory.mktemp("ibdesk-home")
    public = home / "test-vendor.pub"
    public.write_bytes(vendor.public_pem(vendor_key))
    server = start_serve(ibdesk_env(home, licensing_db, IBDESK_TRUST_KEY=str(public)))
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def test_install_a_license_file_then_free_a_seat_from_the_keyboard(
    page: Page,
    licensed_server: Served,
    licensing_db: str,
    vendor_key: Ed25519PrivateKey,
    tmp_path: Path,
    artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    expected_422 = ("status of 422", "Error Code 422 from /licensing/install")
    page.on("pageerror", lambda e: problems.append(str(e)))
    open_window(page, licensed_server.fresh_url())
    page.get_by_role("link", name="Licensing").click()
    expect(page.locator("h1")).to_have_text("Licensing")
    expect(page.locator("#license-current")).to_contain_text("No license is installed")

    expires = dt.date.today() + dt.timedelta(days=365)
    text = vendor.issue_license(
        vendor_key, licensee=LICENSEE, org_number="556012-5790", seats=3, expires=expires
    )
    license_file = tmp_path / "Licens för Ängby.ibdesk-license"
    license_file.write_text(text, encoding="utf-8")
    chosen = page.locator("#licensing .file-pick-name")
    expect(chosen).to_have_text("No file chosen")
    # The hidden input still takes the keyboard's focus, and its button shows the focus ring.
    page.locator("#licensing input[type=file]").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("type", "file")
    ring = "e => getComputedStyle(e.nextElementSibling).outlineStyle"
    assert page.locator("#licensing input[type=file]").evaluate(ring) == "solid"
    page.get_by_label("License file", exact=True).set_input_files(str(license_file))
    expect(chosen).to_have_text("Licens för Ängby.ibdesk-license")
    page.get_by_role("button", name="Install new license file").click()
    main = page.locator("#licensing")
    expect(main.locator(".alert-success")).to_contain_text(f"for {LICENSEE} (556012-5790) with 3")
    current = page.locator("#license-current")
    expect(current.locator("h2")).to_have_text("TEST license")
    expect(current.locator("[data-field=marking]")).to_have_text("TEST")
    expect(current).to_contain_text("verified by a key trusted only through IBDESK_TRUST_KEY")
    expect(current.locator("[data-field=registered-to]")).to_have_text(f"{LICENSEE} (556012-5790)")
    expect(current.locator("[data-field=seats]")).to_have_text("3")
    expect(current.locator("[data-field=expires]")).to_have_text(expires.isoformat())

    image = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 110)).save(image, format="PNG")
    page.get_by_label("License file", exact=True).set_input_files(
        files=[{"name": "röntgen.png", "mimeType": "image/png", "buffer": image.getvalue()}]
    )
    page.get_by_role("button", name="Install new license file").click()
    expect(page.locator("#file-errors")).to_have_text(
        "The file röntgen.png is not an ImageBank license file; choose the file the vendor sent."
    )
    expect(current.locator("[data-field=registered-to]")).to_have_text(f"{LICENSEE} (556012-5790)")

    # Workstations claim seats in this process, which must trust the test key as well.
    (tmp_path / "test-vendor.pub").write_bytes(vendor.public_pem(vendor_key))
    monkeypatch.setenv("IBDESK_TRUST_KEY", str(tmp_path / "test-vendor.pub"))
    engine = make_engine(licensing_db)
    with session_scope(engine) as session:
        for n, host in ((1, "Röntgen-RUM-1"), (2, "Receptionen")):
            seats.claim_seat(session, f"02:00:00:00:00:{n:02x}", f"machine-{n}", host)
    page.reload()
    rows = page.locator("#license-seats tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Röntgen-RUM-1")
    expect(rows.first).to_contain_text("02:00:00:00:00:01")
    expect(page.locator("#license-current [data-field=active-seats]")).to_have_text("2")
    # caret="initial": hiding the caret injects a style, which the page's CSP reports.
    page.screenshot(path=str(artifacts / "licensing-tab.png"), full_page=True, caret="initial")

    remove = page.get_by_role("link", name="Remove the seat of Röntgen-RUM-1")
    remove.focus()
    page.keyboard.press("Enter")
    confirm = page.locator("tr.lic-confirm")
    expect(confirm).to_contain_text("Free seat 1 of Röntgen-RUM-1")
    expect(page.locator(":focus")).to_have_text("Remove the seat")  # autofocus after the swap
    page.screenshot(path=str(artifacts / "licensing-confirm.png"), caret="initial")
    page.keyboard.press("Enter")
    expect(main.locator(".alert-success")).to_contain_text("Freed seat 1 of Röntgen-RUM-1")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Receptionen")
    expect(page.locator("#license-current [data-field=active-seats]")).to_have_text("1")

    with Session(engine) as session:
        assert [s.hostname for s in seats.list_seats(session)] == ["Receptionen"]
        detail = session.scalars(
            select(SystemEvent.detail).where(SystemEvent.action == "seat.release")
        ).one()
        current_license = licensing.current_license(session)
    engine.dispose()
    assert "Röntgen-RUM-1" in detail
    assert current_license is not None and current_license.registered_to.startswith(LICENSEE)
    # The refused file's 422 answer is logged by Chromium and htmx; nothing else may be.
    assert [p for p in problems if not any(e in p for e in expected_422)] == []
    assert len(problems) == 2
