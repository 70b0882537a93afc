"""The Conversion tab in real Chromium: test the 1.2 source, then the four steps in turn."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ibdesk import clinic_settings
from ibdesk.db import make_engine, session_scope
from webfixtures import Served, ibdesk_env, start_serve

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import legacy12

pytestmark = pytest.mark.browser
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def installation(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> tuple[str, Path]:
    """Return an empty 2.1 database (image folder set) and a 1.2 build beside it."""
    base = tmp_path_factory.mktemp("conversion")
    path = base / "imagebank.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with session_scope(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(base / "images21"))
    engine.dispose()
    legacy12.build(base / "legacy12", patients=20)
    return url, base / "legacy12"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, installation: tuple[str, Path]
) -> Iterator[Served]:
    """Run ``ibdesk serve`` on the empty 2.1 database."""
    served = start_serve(ibdesk_env(tmp_path_factory.mktemp("ibdesk-home"), installation[0]))
    yield served
    assert served.stop() == 0, "\n".join(served.output)


def test_four_steps_in_turn(page: Page, server: Served, installation: tuple[str, Path]) -> None:
    out = installation[1]
    page.goto(server.url)
    page.get_by_role("link", name="Conversion from 1.2").click()
    expect(page.locator("h1")).to_have_text("Conversion from ImageBank 1.2")
    page.get_by_label("Database", exact=True).select_option("sqlite")
    page.get_by_label("Database or SQLite file").fill(str(out / "imagebank12.sqlite"))
    page.get_by_label("1.2 image folder").fill(str(out / "Bilder"))
    expect(page.locator("#conversion-step-2")).to_be_disabled()
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#conversion-tested")).to_contain_text("The 1.2 database answers")
    for step in (1, 2, 3, 4):
        button = page.locator(f"#conversion-step-{step}")
        expect(button).to_be_enabled(timeout=WAIT_MS)
        button.click()
        expect(page.locator(f'[data-step="{step}"][data-passed="yes"]')).to_be_visible(
            timeout=WAIT_MS
        )
    with page.expect_popup() as popup:
        page.locator('[data-step="4"]').get_by_role("link", name="Report to print").click()
    expect(popup.value.locator("body")).to_contain_text("Every row and file is accounted for.")
