"""The Backup tab in real Chromium on a demo clinic: create the repository (recovery sheet),
back up with the live job to its end, see it listed, verify with the restore drill."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ibdesk import clinic_settings, demo
from ibdesk.db import make_engine, session_scope
from ibdesk.progress import run_to_end
from webfixtures import Served, ibdesk_env, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 60_000


@pytest.fixture
def clinic_server(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Served, Path]]:
    """Run ``ibdesk serve`` on a small demo clinic with files; return it and a backup folder."""
    path, folder = tmp_path / "imagebank.sqlite3", tmp_path / "Bilder"
    folder.mkdir()
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    run_to_end(demo.generate(engine, demo.DemoOptions(3, 3, image_folder=folder)))
    with session_scope(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder), by="test")
    engine.dispose()
    server = start_serve(ibdesk_env(tmp_path / "home", url))
    yield server, tmp_path / "backup-disk" / "imagebank"
    assert server.stop() == 0, "\n".join(server.output)


def test_init_run_verify(page: Page, clinic_server: tuple[Served, Path]) -> None:
    served, target = clinic_server
    page.goto(served.url)
    page.get_by_role("link", name="Backup", exact=True).click()
    expect(page.locator("h1")).to_have_text("Backup")
    expect(page.get_by_text("No backup is set up")).to_be_visible()

    page.get_by_label("Where the backups go").fill(str(target))
    page.locator("#backup-init").click()
    expect(page.locator("#backup-sheet")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator('[data-field="sheet-password"]')).not_to_be_empty()
    assert (target / "config").is_file()

    page.locator("#backup-run").click()
    job = page.locator(".job")
    expect(job).to_have_attribute("data-job-state", "succeeded", timeout=WAIT_MS)
    expect(job.locator(".log-lines")).to_contain_text("is complete")
    expect(page.locator("#backup-list tbody tr")).to_have_count(1, timeout=WAIT_MS)

    page.reload()
    expect(page.locator('[data-field="last-good"]')).not_to_contain_text("None yet")
    page.locator("#backup-verify").click()
    verify = page.locator(".job")
    expect(verify).to_have_attribute("data-job-state", "succeeded", timeout=WAIT_MS)
    expect(verify.locator(".log-lines")).to_contain_text("verified")
    page.reload()
    expect(page.locator('[data-field="last-verify"]')).to_contain_text("restore drill took")
