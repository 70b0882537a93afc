"""The Statistics tab in real Chromium on a demo clinic: the numbers are the counters, the
printout and its PDF, and the image-folder check followed live to its end."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.engine import make_url

from ibdesk import clinic_settings, demo, statistics
from ibdesk.db import make_engine, session_scope
from ibdesk.models import MediaItem
from ibdesk.progress import run_to_end
from webfixtures import Served, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 30_000
CLINIC = "Folktandvården Åre – Östra mottagningen"


@pytest.fixture(scope="module")
def demo_clinic(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> tuple[str, Path]:
    """Return a demo clinic's database URL and its image folder (real files, Swedish name)."""
    base = tmp_path_factory.mktemp("demo-clinic")
    path, folder = base / "imagebank.sqlite3", base / "Bilder åäö ÅÄÖ"
    folder.mkdir()
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    run_to_end(demo.generate(engine, demo.DemoOptions(12, 4, image_folder=folder)))
    with session_scope(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder), by="test")
        clinic_settings.put(session, clinic_settings.CLINIC_NAME, CLINIC, by="test")
    engine.dispose()
    return url, folder


@pytest.fixture(scope="module")
def clinic_server(
    tmp_path_factory: pytest.TempPathFactory, demo_clinic: tuple[str, Path]
) -> Iterator[Served]:
    """Run ``ibdesk serve`` on the demo clinic."""
    server = start_serve(ibdesk_env(tmp_path_factory.mktemp("ibdesk-home"), demo_clinic[0]))
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def open_statistics(page: Page, served: Served) -> None:
    open_window(page, served.fresh_url())
    page.get_by_role("link", name="Statistics").click()
    expect(page.locator("h1")).to_have_text("Statistics")


def test_generated_numbers_are_the_counters_and_print_to_pdf(
    page: Page, clinic_server: Served, demo_clinic: tuple[str, Path], artifacts: Path
) -> None:
    url, folder = demo_clinic
    # Headless Chromium prints nothing: count the calls the Print button makes instead.
    page.add_init_script("window.printed = 0; window.print = () => { window.printed += 1; };")
    problems: list[str] = []  # console errors: a CSP violation by the chart would show here
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    open_statistics(page, clinic_server)
    source = page.locator("#statistics-source")
    expect(source.locator("[data-field=image-folder]")).to_have_text(str(folder))
    database_file = make_url(url).database
    expect(source.locator("[data-field=database]")).to_have_text(f"SQLite file {database_file}")
    page.get_by_role("button", name="Generate statistics").focus()
    page.keyboard.press("Enter")
    report = page.locator("#statistics-report")
    expect(report.locator("h2")).to_have_text(f"Statistics for {CLINIC}", timeout=WAIT_MS)

    engine = make_engine(url)
    with session_scope(engine, read_only=True) as session:
        counts = statistics.counters(session)
        assert counts == statistics.recount(session)
    engine.dispose()

    def shown(selector: str) -> int:
        return int(report.locator(selector).get_attribute("data-value") or "-1")

    assert shown("[data-field=patients]") == counts["patient"].live == 12
    assert shown("[data-field=patients-deleted]") == counts["patient"].deleted
    assert shown("[data-field=image-sets]") == counts["image_set"].live
    assert shown("[data-field=signed-sets]") == counts["signed_set"].live
    for kind in statistics.MEDIA_SUBJECTS:
        count = counts.get(kind, statistics.Count())
        row = f"tr[data-kind={kind}]"
        assert shown(f"{row} [data-field=count]") == count.live, kind
        assert shown(f"{row} [data-field=bytes]") == count.live_bytes, kind
    assert shown("[data-field=media-total]") == 48
    expect(report.locator("[data-field=free-space]")).to_contain_text("free of")
    expect(report.locator("rect.statistics-bar")).to_have_count(24)
    page.screenshot(path=str(artifacts / "statistics-tab.png"), full_page=True, caret="initial")

    with page.expect_download() as download:
        report.get_by_role("link", name="Save as PDF").click()
    saved = Path(download.value.path())
    assert download.value.suggested_filename.startswith("imagebank-statistics-")
    assert saved.read_bytes().startswith(b"%PDF-")

    report.get_by_role("link", name="Print").click()
    expect(page.locator("[data-field=clinic]")).to_have_text(CLINIC)
    expect(page.locator("nav.tabs")).to_have_count(0)
    expect(page.locator("[data-field=patients]")).to_have_attribute("data-value", "12")
    page.screenshot(path=str(artifacts / "statistics-print-screen.png"), caret="initial")
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.printed") == 1  # print.js is allowed by the CSP and wired
    page.emulate_media(media="print")
    expect(page.locator(".print-toolbar")).to_be_hidden()
    page.screenshot(path=str(artifacts / "statistics-print-media.png"), caret="initial")
    page.emulate_media(media="screen")
    page.get_by_role("link", name="Back to Statistics").click()
    expect(page.locator("h1")).to_have_text("Statistics")
    assert problems == []


def test_the_image_folder_check_runs_live_and_saves_its_list(
    page: Page, clinic_server: Served, demo_clinic: tuple[str, Path], artifacts: Path
) -> None:
    url, folder = demo_clinic
    engine = make_engine(url)
    with session_scope(engine, read_only=True) as session:
        first = session.scalars(select(MediaItem.path).order_by(MediaItem.id).limit(1)).one()
    engine.dispose()
    (folder / first).rename(folder / "Flyttad fil åäö.bin")  # one missing, one unknown

    open_statistics(page, clinic_server)
    page.get_by_role("button", name="Check image folder").click()
    job = page.locator("#statistics-check section.job")
    expect(job.locator(".badge")).to_have_text("Done", timeout=WAIT_MS)
    expect(job.locator(".log")).to_contain_text(f"Missing on disk: {first}")
    result = page.locator("#statistics-check-result")
    expect(result).to_contain_text("2 differences between database and image folder")
    expect(result.locator("[data-field=missing]")).to_have_text("1")
    expect(result.locator("[data-field=unknown]")).to_have_text("1")
    page.screenshot(path=str(artifacts / "statistics-check.png"), full_page=True, caret="initial")
    with page.expect_download() as download:
        result.get_by_role("link", name="Save the list as text").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert f"Missing on disk\t{first}" in lines
    assert "On disk but in no row\tFlyttad fil åäö.bin" in lines
