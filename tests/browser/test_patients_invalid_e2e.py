"""The Patients tab's three panes in real Chromium for a patient whose personnummer is not
valid, as converted 1.2 data keeps it (a wrong check digit): found by the search (which says
what is wrong with the number), its details and statuses, sign and verify, delete and
restore. At 1280x800, with a screenshot checked not to be blank.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlalchemy.orm import Session
from test_patients_views import with_files
from test_screens_e2e import snapshot

from ibdesk.db import make_engine
from ibdesk.models import Patient
from webfixtures import Served, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 30_000


@pytest.fixture
def converted(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Served, str]]:
    """Serve a clinic whose one patient is stored with a wrong check digit, with real files."""
    database = tmp_path / "imagebank.sqlite3"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    with Session(engine) as session:
        valid, _ = with_files(session, tmp_path / "Bilder åäö")
        wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
        session.execute(
            update(Patient).where(Patient.personnummer == valid).values(personnummer=wrong)
        )
        session.commit()
    engine.dispose()
    server = start_serve(ibdesk_env(tmp_path / "home", url))
    yield server, wrong
    assert server.stop() == 0, "\n".join(server.output)


def test_the_three_panes_for_a_number_kept_as_typed(
    page: Page, converted: tuple[Served, str], artifacts: Path
) -> None:
    served, number = converted
    shown = f"{number[:8]}-{number[8:]}"
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    page.get_by_role("link", name="Patients").click()
    page.get_by_label("Personnummer or name").fill(shown)
    page.keyboard.press("Enter")
    results = page.locator("#results")
    expect(results).to_contain_text("The check digit is wrong", timeout=WAIT_MS)
    results.get_by_role("link", name=shown).click()

    expect(page.locator("#patient-facts")).to_contain_text(shown, timeout=WAIT_MS)
    page.locator(".set-list a", has_text="Årskontroll").click()
    image_set = page.locator("article.image-set").filter(has_text="Årskontroll")
    expect(image_set).to_be_visible(timeout=WAIT_MS)
    assert f"patient={number}" in page.url
    snapshot(page, artifacts, "patients-invalid-number.png")

    page.once("dialog", lambda dialog: dialog.accept())
    image_set.get_by_role("button", name="Sign selected image set").click()
    expect(image_set.locator("[data-field=outcome]")).to_contain_text(
        "Image set signed by", timeout=WAIT_MS
    )
    image_set.get_by_role("button", name="Verify").click()
    expect(image_set.locator("[data-field=outcome]")).to_contain_text("matches its signature")

    manage = page.locator("#patient-manage")
    manage.locator("#delete-confirm").fill(f"{number[2:8]}-{number[8:]}")
    manage.get_by_role("button", name="Delete patient").click()
    expect(page.locator("#patient-facts [data-field=status]")).to_have_text("Deleted")
    expect(manage).to_contain_text("is deleted")
    manage.get_by_role("button", name="Restore patient").click()
    expect(manage).to_contain_text("is restored")
    assert problems == []
