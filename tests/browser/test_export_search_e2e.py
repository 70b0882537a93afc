"""The Export tab's search in real Chromium: after a refused search, the next one still works.

A 5 000-digit search (pasted past the field's limit) gets the sentence saying it is too long;
then a real patient's number lists that patient, so the refusal left the page working.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from factories import make_patient
from ibdesk.db import make_engine
from ibdesk.limits import SEARCH_TOO_LONG
from webfixtures import Served, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 60_000
NUMBER = "19850312-2387"


@pytest.fixture(scope="module")
def search_served(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Served]:
    """Serve a clinic with one patient as ``ibdesk serve`` does."""
    root = tmp_path_factory.mktemp("sokklinik")
    shutil.copyfile(sqlite_template, root / "imagebank.sqlite3")
    url = f"sqlite:///{root / 'imagebank.sqlite3'}"
    engine = make_engine(url)
    with Session(engine) as session:
        make_patient(session, personnummer=NUMBER, first_name="Åsa", last_name="Öberg")
        session.commit()
    engine.dispose()
    server = start_serve(ibdesk_env(tmp_path_factory.mktemp("ibdesk-home"), url))
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def test_a_refused_search_leaves_the_search_working(page: Page, search_served: Served) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    open_window(page, search_served.fresh_url())
    page.wait_for_url(search_served.origin + "/", timeout=WAIT_MS)
    page.get_by_role("link", name="Export").click()
    expect(page.locator("h1")).to_have_text("Export")
    search = page.locator("#export-q")
    # As if pasted by a tool that ignores the field's limit: the server must refuse it itself.
    search.evaluate("field => field.removeAttribute('maxlength')")
    search.fill("1" * 5000)
    note = page.locator("#export-found-note")
    expect(note).to_have_text(str(SEARCH_TOO_LONG), timeout=WAIT_MS)
    expect(page.locator("#export-found-list option")).to_have_count(0)
    search.fill("850312")
    option = page.locator("#export-found-list option", has_text="Öberg, Åsa")
    expect(option).to_have_count(1, timeout=WAIT_MS)
    expect(note).not_to_have_text(str(SEARCH_TOO_LONG))
    assert problems == []
