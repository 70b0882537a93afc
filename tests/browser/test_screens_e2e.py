"""The manual's screens walked in real Chromium at 1280x800, as an administrator would: the
Overview's warnings, one patient search on Export, Patients and Logs (blank lists everyone,
a wrong check digit says so and still finds the patient stored that way), and the system
log's ISO date filter. Each screen's screenshot is checked not to be blank."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlalchemy.orm import Session

from factories import make_patient
from ibdesk import audit
from ibdesk.audit import Actor
from ibdesk.db import make_engine
from ibdesk.models import Patient
from webfixtures import Served, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 60_000
ADMIN = Actor("admin", "SERVER")
CHECK_SENTENCE = "The check digit is wrong: the last digit should be 7"


@pytest.fixture(scope="module")
def screens_served(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[Served, Path]]:
    """Serve 55 patients and a folder to export to; Åsa stored with a wrong check digit."""
    root = tmp_path_factory.mktemp("skarmklinik")
    shutil.copyfile(sqlite_template, root / "imagebank.sqlite3")
    url = f"sqlite:///{root / 'imagebank.sqlite3'}"
    engine = make_engine(url)
    with Session(engine) as session:
        åsa = make_patient(
            session, personnummer="19850312-2387", first_name="Åsa", last_name="Öberg"
        )
        session.execute(
            update(Patient).where(Patient.id == åsa.id).values(personnummer="198503122388")
        )
        for i in range(54):
            make_patient(session, first_name="Per", last_name=f"Lund{i:02d}")
        audit.system_event(session, ADMIN, "settings.change", "Bildmapp ändrad")
        audit.system_event(session, ADMIN, "db.upgrade", "failed", level="error")
        session.commit()
    engine.dispose()
    server = start_serve(ibdesk_env(tmp_path_factory.mktemp("ibdesk-home"), url))
    (root / "export" / "USB åäö").mkdir(parents=True)
    yield server, root / "export"
    assert server.stop() == 0, "\n".join(server.output)


def snapshot(page: Page, artifacts: Path, name: str) -> None:
    """Keep a screenshot of the screen and check it shows something (not one flat colour)."""
    png = page.screenshot(path=str(artifacts / name), caret="initial")
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size == (1280, 800)
    low, high = image.getextrema()
    assert high - low > 100, f"{name} is blank"
    assert len(image.resize((64, 40)).getcolors(4096) or ()) > 8, f"{name} is nearly blank"


def test_the_screens_as_an_administrator_walks_them(
    page: Page, screens_served: tuple[Served, Path], artifacts: Path
) -> None:
    served, target = screens_served
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)

    # The Overview: counts from the counters, and what needs doing, linked to its tab.
    expect(page.locator('[data-field="patients"]')).to_have_text("55", timeout=WAIT_MS)
    warnings = page.locator('[data-field="warnings"] li')
    expect(warnings.filter(has_text="No license is installed")).to_have_count(1)
    expect(page.locator('#overview [data-field="last-backup"]')).to_contain_text(
        "No backup made by ImageBank SysAdmin yet."
    )
    snapshot(page, artifacts, "screens-overview.png")

    # Export: blank lists everyone a page at a time; a picked patient leaves the left list.
    page.get_by_role("link", name="Export").click()
    expect(page.locator("h1")).to_have_text("Export")
    found = page.locator("#export-found-list option")
    expect(found).to_have_count(50, timeout=WAIT_MS)
    page.locator("#export-found-next").click()
    expect(found).to_have_count(5, timeout=WAIT_MS)
    page.locator("#export-found-first").click()
    expect(found).to_have_count(50, timeout=WAIT_MS)
    first = found.first.inner_text()
    page.locator("#export-found-list").select_option(index=0)
    page.locator("#export-select").click()
    expect(page.locator("#export-chosen-list option")).to_have_text([first], timeout=WAIT_MS)
    expect(found.filter(has_text=first)).to_have_count(0)
    page.locator("#export-q").fill("19850312-2388")
    expect(page.locator("#export-found [data-field=search-hint]")).to_contain_text(
        CHECK_SENTENCE, timeout=WAIT_MS
    )
    expect(found).to_have_count(1)
    snapshot(page, artifacts, "screens-export.png")
    # No desktop window here: [Browse…] lists the server's folders and fills the field.
    page.locator("#export-folder [name=to]").fill(str(target))
    page.locator("#export-browse-button").click()
    page.locator('#export-browse [data-folder="USB åäö"]').click()
    expect(page.locator(".export-browse-here")).to_contain_text("USB åäö", timeout=WAIT_MS)
    snapshot(page, artifacts, "screens-export-browse.png")
    page.locator("#export-browse-use").click()
    expect(page.locator("#export-folder [name=to]")).to_have_value(
        str(target / "USB åäö"), timeout=WAIT_MS
    )

    # Patients: the same sentence, the same patient.
    page.get_by_role("link", name="Patients").click()
    page.locator("input[name=q]").fill("19850312-2388")
    page.locator("input[name=q]").press("Enter")
    expect(page.locator("[data-field=search-hint]")).to_contain_text(
        CHECK_SENTENCE, timeout=WAIT_MS
    )
    expect(page.locator("#results tbody tr")).to_have_count(1)
    snapshot(page, artifacts, "screens-patients-search.png")

    # Logs: the system log filtered by level, dates typed in ISO.
    page.goto(served.origin + "/logs/system")
    since = page.locator("#system-log input[name=since]")
    expect(since).to_have_attribute("placeholder", "YYYY-MM-DD")
    page.locator("#system-log select[name=level]").select_option("error")
    page.locator("#system-log button[type=submit]").first.click()
    rows = page.locator("#system-log tbody tr")
    expect(rows).to_have_count(1, timeout=WAIT_MS)
    expect(rows).to_contain_text("failed")
    snapshot(page, artifacts, "screens-system-log.png")
    assert problems == []
