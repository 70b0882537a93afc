"""The Export tab in real Chromium against ``ibdesk serve``: a small clinic with real files.

Search by a short personnummer, select two patients (and remove a third), type a folder,
export, watch the job end, save its summary and check the folder with ``ibdesk export
verify``; cancel an export half-way; and the sentences for bad input. The half-way point
is made by holding the open of one media file (a regular file, as the export requires)
with fanotify: its worker waits inside open() until the test lets it go, so no step
depends on how fast the machine is.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from exportclinic import Clinic, OpenHold, jpeg, photo, png, wav, xray8, xray16
from ibdesk import clinic_settings
from ibdesk.db import make_engine
from webfixtures import IBDESK, WAIT_S, Served, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 60_000
ÅSA = "19850312-2387"
BÖRJE = "19850313-0083"
ÖRJAN = "19850314-0116"
SÖLVE = "19850315-0115"
PDF = b"%PDF-1.4\n% Remiss till k\xc3\xa4kkirurg\n"


@dataclass
class ExportClinic:
    """The clinic's database URL, image folder, and the media file a test holds."""

    url: str
    root: Path
    images: Path
    held: Path


@pytest.fixture(scope="module")
def export_clinic(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[ExportClinic]:
    """Make four patients with three media files each; Sölve's first file can be held."""
    root = tmp_path_factory.mktemp("exportklinik")
    shutil.copyfile(sqlite_template, root / "imagebank.sqlite3")
    url = f"sqlite:///{root / 'imagebank.sqlite3'}"
    images = root / "Röntgenbilder åäö"
    images.mkdir()
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(images), by="test")
        session.commit()
        c = Clinic(session, images)
        for number, first, last in [
            (ÅSA, "Åsa", "Öberg"),
            (BÖRJE, "Börje", "Ångström"),
            (ÖRJAN, "Örjan", "Äng"),
        ]:
            patient = c.patient(personnummer=number, first_name=first, last_name=last)
            image_set = c.image_set(patient)
            c.add(image_set, "intraoral", png(xray16()), "a.png", bit_depth=16)
            c.add(image_set, "photo", jpeg(photo()), "b.jpg")
            c.add(image_set, "audio", wav(), "c.wav")
        image_set = c.image_set(c.patient(personnummer=SÖLVE, first_name="Sölve", last_name="Ek"))
        held = c.add(image_set, "document", PDF, "remiss.pdf")
        c.add(image_set, "panoramic", png(xray8()), "b.png")
        c.add(image_set, "photo", jpeg(photo(seed=9)), "c.jpg")
    engine.dispose()
    yield ExportClinic(url, root, images, images / held.path)


@pytest.fixture(scope="module")
def export_served(
    tmp_path_factory: pytest.TempPathFactory, export_clinic: ExportClinic
) -> Iterator[Served]:
    """Serve the clinic as ``ibdesk serve`` does."""
    home = tmp_path_factory.mktemp("ibdesk-home")
    server = start_serve(ibdesk_env(home, export_clinic.url))
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def open_export_tab(page: Page, served: Served) -> None:
    """Open the launch address, then the Export tab from the nav bar."""
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    page.get_by_role("link", name="Export").click()
    expect(page.locator("h1")).to_have_text("Export")


def select(page: Page, typed: str, label: str) -> None:
    """Search by what staff type and move the patient to the right-hand list."""
    page.fill("#export-q", typed)
    option = page.locator("#export-found-list option", has_text=label)
    expect(option).to_have_count(1, timeout=WAIT_MS)
    page.select_option("#export-found-list", label=option.inner_text())
    count = page.locator("#export-chosen-list option").count()
    page.click("#export-select")
    expect(page.locator("#export-chosen-list option")).to_have_count(count + 1)


def chosen(page: Page) -> list[str]:
    """Return the right-hand list as shown."""
    return page.locator("#export-chosen-list option").all_inner_texts()


def test_export_two_patients_from_a_short_number_to_a_verified_folder(
    page: Page, export_served: Served, export_clinic: ExportClinic, artifacts: Path
) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    target = export_clinic.root / "USB-minne åäö"
    target.mkdir()
    open_export_tab(page, export_served)

    select(page, "850312-2387", "Öberg, Åsa")  # ten digits with a hyphen, as staff write it
    select(page, "8503130083", "Ångström, Börje")
    select(page, "19850314", "Äng, Örjan")
    page.select_option("#export-chosen-list", label=f"{ÖRJAN} · Äng, Örjan")
    page.click("#export-remove")
    expect(page.locator("#export-chosen-list option")).to_have_count(2)
    assert chosen(page) == [f"{ÅSA} · Öberg, Åsa", f"{BÖRJE} · Ångström, Börje"]
    page.fill("#to", str(target))
    page.fill("#jobs", "1")
    page.locator("h1").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "export-form.png"), caret="initial")
    page.click("#export-start")

    job = page.locator("section.job")
    expect(job).to_be_in_viewport(timeout=WAIT_MS)  # the page scrolled to the live log
    expect(job).to_have_attribute("data-job-state", "succeeded", timeout=WAIT_MS)
    log = page.get_by_role("log")
    expect(log).to_contain_text(f"{ÅSA}: exported, 3 files.")
    expect(log).to_contain_text(f"{BÖRJE}: exported, 3 files.")
    summary = page.locator("#export-summary")
    expect(summary.locator(".alert-success")).to_contain_text("Exported 2 patients")
    expect(summary.locator("[data-field=folder]")).to_have_text(str(target))
    summary.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "export-summary.png"))

    with page.expect_download() as download:
        page.click("#export-save-text")
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename.startswith("export-summary-")
    assert f"Folder: {target}" in saved and "Patients exported: 2" in saved
    with page.expect_download() as download:
        page.click("#export-save-json")
    assert '"patients": 2' in Path(download.value.path()).read_text(encoding="utf-8")

    folders = sorted(p.name for p in target.iterdir() if p.is_dir())
    assert folders == ["198503122387", "198503130083"]  # named from the normalised numbers
    home = export_clinic.root / "cli-home"
    home.mkdir(exist_ok=True)
    verify = subprocess.run(
        [*IBDESK, "export", "verify", str(target)],
        env=ibdesk_env(home, export_clinic.url),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "files of 2 patients checked, all intact." in verify.stdout
    assert problems == []


def test_cancel_half_way_ends_with_a_summary_of_what_was_done(
    page: Page, export_served: Served, export_clinic: ExportClinic, artifacts: Path
) -> None:
    target = export_clinic.root / "Avbruten export"
    target.mkdir()
    open_export_tab(page, export_served)
    select(page, "850312", "Öberg, Åsa")
    select(page, "850315-0115", "Ek, Sölve")  # his first file is held: the export waits
    page.fill("#to", str(target))
    page.fill("#jobs", "1")
    with OpenHold(export_clinic.held) as hold:
        page.click("#export-start")
        job = page.locator("section.job")
        expect(page.get_by_role("log")).to_contain_text(
            f"{ÅSA}: exported, 3 files.", timeout=WAIT_MS
        )
        # A worker process, not the server itself, is inside open() of Sölve's first file.
        assert hold.wait_opened(WAIT_S) != export_served.proc.pid
        # Åsa's three files and Åsa herself are done; Sölve's first file is in progress.
        expect(job.locator("[data-field=done]")).to_have_text("4 of 8 (50 %)")
        expect(job.locator("[data-field=eta]")).to_contain_text("left")
        page.screenshot(path=str(artifacts / "export-running.png"))

        job.get_by_role("button", name="Cancel").click()
        expect(job.locator(".badge")).to_have_text("Cancelling")
        hold.release()  # the file being copied finishes; no patient starts after it
        expect(job).to_have_attribute("data-job-state", "cancelled", timeout=WAIT_MS)
    expect(page.get_by_role("log")).to_contain_text("Cancelled by the administrator.")
    summary = page.locator("#export-summary")
    expect(summary.locator(".alert-warning")).to_contain_text(
        "Cancelled after exporting 1 patients"
    )
    expect(summary.locator(".alert-warning")).to_contain_text("run the same export again")
    summary.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "export-cancelled.png"))
    assert (target / "198503122387" / "patient.xml").is_file()
    assert not (target / "198503150115" / "patient.xml").exists()


def test_bad_input_says_what_is_wrong_and_keeps_what_was_chosen(
    page: Page, export_served: Served, export_clinic: ExportClinic
) -> None:
    open_export_tab(page, export_served)
    # From the keyboard: search with Enter, highlight with the arrow key, select with Enter.
    page.fill("#export-q", "19850313")
    page.press("#export-q", "Enter")
    expect(page.locator("#export-found-list option")).to_have_count(1, timeout=WAIT_MS)
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_id("export-search-button")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_id("export-found-list")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_id("export-select")
    page.keyboard.press("Enter")
    expect(page.locator("#export-chosen-list option")).to_have_count(1)

    missing = export_clinic.root / "saknas"
    page.fill("#to", str(missing))
    page.press("#to", "Enter")  # Enter in the folder starts the export, as [Export patients]
    alert = page.locator("#export-panel [role=alert]")
    expect(alert).to_contain_text(f"The export folder {missing} does not exist; create it first.")
    assert chosen(page) == [f"{BÖRJE} · Ångström, Börje"]  # the choice survives the error

    page.fill("#to", str(export_clinic.images / "export"))
    page.click("#export-start")
    expect(alert).to_contain_text(f"is inside the image folder {export_clinic.images}")

    page.select_option("#export-chosen-list", label=f"{BÖRJE} · Ångström, Börje")
    page.click("#export-remove")
    expect(page.locator("#export-chosen-list option")).to_have_count(0)
    empty = export_clinic.root / "Tom mapp"
    empty.mkdir()
    page.fill("#to", str(empty))
    page.click("#export-start")
    expect(alert).to_contain_text("Choose the patients to export, or export all patients.")

    page.fill("#to", "")
    page.click("#export-start")  # the server asks for the folder, under the field
    expect(page.locator("#to-errors")).to_have_text("Choose the folder to export to.")
    expect(page.locator("#to")).to_have_attribute("aria-required", "true")
    assert page.locator("section.job").count() == 0
