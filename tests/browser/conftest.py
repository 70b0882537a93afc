"""End-to-end fixtures: Debian's Chromium driven by Playwright, against real ibdesk servers.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (apt package
``chromium``). Screenshots go to ``test-artifacts/`` at the top of the repository.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, users
from ibdesk.audit import Actor
from ibdesk.db import make_engine
from webfixtures import ADMIN_NAME, ADMIN_PASSWORD, Served, ibdesk_env, start_serve

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
IMAGE_FOLDER = "/srv/bilder/Röntgen åäö ÅÄÖ"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Launch headless Chromium once for the run."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """Open a fresh browser profile (no cookies) with a 1280x800 window."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="sv-SE")
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def sqlite_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the migrated SQLite template with the test administrator in it."""
    path = tmp_path_factory.mktemp("browser-template") / "template.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        users.create_user(
            session,
            ADMIN_NAME,
            ADMIN_PASSWORD,
            actor=Actor("test", "test"),
            display_name="Test Admin",
            is_admin=True,
        )
        session.commit()
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    """Return a migrated SQLite database whose image folder has Swedish characters."""
    path = tmp_path_factory.mktemp("clinic") / "imagebank.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, IMAGE_FOLDER, by="test")
        session.commit()
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, clinic_db: str) -> Iterator[Served]:
    """Run ``ibdesk serve --no-browser`` as the administrator would (one per test module)."""
    home = tmp_path_factory.mktemp("ibdesk-home")
    server = start_serve(ibdesk_env(home, clinic_db))
    yield server
    assert server.stop() == 0, "\n".join(server.output)


@pytest.fixture
def artifacts() -> Path:
    """Return the folder where screenshots are kept (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
