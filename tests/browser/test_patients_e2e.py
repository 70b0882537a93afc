"""A whole Patients and Logs journey in real Chromium against a real ``ibdesk serve``.

Search by a typed short form from the keyboard, open the details, see the thumbnails made
from real files, sign, verify, unsign with a reason, delete with the number typed and
restore; then the log extract and the Logs tab: filter by the patient, see every event,
export the CSV and verify the log.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy.orm import Session

from factories import ACTOR, make_image_set, make_patient
from ibdesk import clients, clinic_settings
from ibdesk.db import make_engine
from ibdesk.demo import content as demo_content
from webfixtures import ADMIN_NAME, Served, ibdesk_env, open_window, start_serve

pytestmark = pytest.mark.browser
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def journey(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[Served, str]]:
    """Serve a clinic whose patient Åsa Öberg has an image set of real files."""
    root = tmp_path_factory.mktemp("journey")
    folder = root / "Bilder åäö"
    database = root / "imagebank.sqlite3"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    rng = random.Random(2026)
    files = (
        ("intraoral", "11", demo_content.xray_png(rng, panoramic=False)),
        ("intraoral", "21", demo_content.xray_png(rng, panoramic=False)),
        ("panoramic", "", demo_content.xray_png(rng, panoramic=True)),
        ("photo", "", demo_content.photo_jpeg(rng)),
        ("document", "", demo_content.pdf_document(rng, "Remiss")),
        ("audio", "", demo_content.wav_note(rng)),
    )
    with Session(engine, expire_on_commit=False) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder), by="test")
        patient = make_patient(session, first_name="Åsa", last_name="Öberg", note="Tandvårdsrädd")
        make_patient(session, first_name="Örjan", last_name="Ängström")
        image_set = make_image_set(session, patient, description="Årskontroll")
        for n, (kind, teeth, made) in enumerate(files, 1):
            path = f"{patient.personnummer}/{image_set.id}/{n:03d}_{kind}.{made.extension}"
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(made.data)
            clients.add_media(
                session,
                ACTOR,
                image_set.id,
                kind=kind,
                path=path,
                byte_size=len(made.data),
                sha256=hashlib.sha256(made.data).hexdigest(),
                width=made.width,
                height=made.height,
                bit_depth=made.bit_depth,
                teeth=teeth,
            )
        session.commit()
    engine.dispose()
    server = start_serve(ibdesk_env(tmp_path_factory.mktemp("home"), url))
    yield server, patient.personnummer
    assert server.stop() == 0, "\n".join(server.output)


def test_a_patient_from_search_to_signature_to_the_log(
    page: Page, journey: tuple[Served, str], artifacts: Path
) -> None:
    served, number = journey
    display = f"{number[:8]}-{number[8:]}"
    admin = ADMIN_NAME  # the signed-in administrator
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.text} at {m.location} on {page.url}")
            if m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)

    # Search from the keyboard, by the short form staff type.
    page.get_by_role("link", name="Patients").click()
    expect(page.locator("h1")).to_have_text("Patients")
    expect(page.get_by_label("Personnummer or name")).to_be_focused()
    page.keyboard.type(f"{number[2:8]}-{number[8:]}")
    page.keyboard.press("Enter")
    results = page.locator("#results")
    expect(results.get_by_role("link", name=display)).to_be_visible(timeout=WAIT_MS)
    expect(results).not_to_contain_text("Ängström")
    page.screenshot(path=str(artifacts / "patients-search.png"), caret="initial")
    page.keyboard.press("Tab")  # the Search button
    page.keyboard.press("Tab")  # the first result
    expect(page.locator(":focus")).to_have_text(display)
    page.keyboard.press("Enter")

    # Details in the second pane, the sets in the third, without leaving the page; the
    # address names the patient (and then the set), so it can be shared.
    expect(page.locator("#patient-name")).to_contain_text("Öberg, Åsa", timeout=WAIT_MS)
    expect(page.locator("#results")).to_be_visible()  # the search stays in the first pane
    page.wait_for_url(f"**/patients/?*patient={number}*", timeout=WAIT_MS)
    expect(page.locator("[data-field=note]")).to_have_text("Tandvårdsrädd")
    # The two lists of facts stack in the narrow pane, a row's gap apart like their rows.
    note = page.locator("[data-field=note]").bounding_box()
    registered = page.locator("[data-field=created]").bounding_box()
    assert note and registered
    assert registered["y"] - (note["y"] + note["height"]) >= 4
    page.locator(".set-list a", has_text="Årskontroll").click()
    page.wait_for_url("**set=*", timeout=WAIT_MS)
    image_set = page.locator("article.image-set").filter(has_text="Årskontroll")
    expect(image_set.locator("[data-field=kinds]")).to_contain_text(
        "6 media: 2 intraoral X-rays, 1 panoramic X-ray, 1 photo, 1 document, 1 sound recording"
    )
    xray = image_set.get_by_role("img", name="Intraoral X-ray, teeth 11")
    expect(xray).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 192", arg=xray.element_handle()
    )
    # caret="initial": hiding the caret leaves style="" on inputs, which htmx's settling
    # would then copy with setAttribute, a (harmless) style-src violation of the test's own.
    page.screenshot(path=str(artifacts / "patients-details.png"), caret="initial")

    # The thumbnail opens the picture large, windowed like the thumbnail.
    big = page.request.get(served.origin + (xray.locator("xpath=..").get_attribute("href") or ""))
    assert big.ok and big.headers["content-type"] == "image/jpeg"

    # Sign (after a confirmation saying what becomes read-only), verify, unsign with a reason.
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    image_set.get_by_role("button", name="Sign selected image set").click()
    expect(image_set.locator("[data-field=outcome]")).to_contain_text(
        f"Image set signed by {admin}"
    )
    expect(image_set.locator("[data-field=signed]")).to_have_text("Signed")
    assert asked and "read-only" in asked[0]
    image_set.get_by_role("button", name="Verify").click()
    expect(image_set.locator("[data-field=outcome]")).to_contain_text("matches its signature")
    page.screenshot(
        path=str(artifacts / "patients-details-signed.png"), full_page=True, caret="initial"
    )
    image_set.get_by_label("Reason for unsigning").fill("Fel tand angiven på bild 2")
    image_set.get_by_role("button", name="Unsign").click()
    expect(image_set.locator("[data-field=outcome]")).to_contain_text("Signature removed")
    expect(image_set.locator("[data-field=signed]")).to_have_text("Not signed")

    # Delete with the number typed again, then restore.
    manage = page.locator("#patient-manage")
    manage.locator("#delete-confirm").fill(f"{number[2:8]}-{number[8:]}")
    manage.get_by_role("button", name="Delete patient").click()
    expect(page.locator("#patient-facts [data-field=status]")).to_have_text("Deleted")
    expect(page.locator("#patient-manage")).to_contain_text("is deleted")
    page.locator("#patient-manage").get_by_role("button", name="Restore patient").click()
    expect(page.locator("#patient-manage")).to_contain_text("is restored")
    expect(page.locator("#patient-facts [data-field=status]")).to_have_count(0)

    # One click to the log extract: who has seen and changed this record.
    page.get_by_role("link", name="Log extract").click()
    access = page.locator("[data-table=access]")
    # Events in words, not codes.
    expect(access).to_contain_text("Record opened", timeout=WAIT_MS)
    for name in ("Status signed", "Signature removed", "Patient deleted", "Patient restored"):
        expect(access).to_contain_text(name)
    expect(access).not_to_contain_text("patient.view")
    page.screenshot(path=str(artifacts / "logs-extract.png"), full_page=True, caret="initial")

    # The Logs tab: filter by the patient, export, verify.
    page.get_by_role("link", name="Logs", exact=True).click()
    page.get_by_label("Patient", exact=True).fill(display)
    page.get_by_role("button", name="Show").click()
    log = page.locator("#audit-log tbody")
    expect(log.locator("tr[data-action='patient.restore']")).to_have_count(1, timeout=WAIT_MS)
    for action in ("patient.view", "image_set.sign", "image_set.unsign", "patient.delete"):
        expect(log.locator(f"tr[data-action='{action}']").first).to_be_visible()
    expect(log).to_contain_text("Fel tand angiven på bild 2")
    expect(log).not_to_contain_text("Ängström")
    assert f"personnummer={display}" in page.url  # the filter stays in the address
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert download.value.suggested_filename.startswith(f"patient-log-{number}-")
    assert "image_set.unsign" in exported and "Fel tand angiven på bild 2" in exported
    page.get_by_role("button", name="Verify log").click()
    expect(page.locator("#verify-log")).to_contain_text(
        "The patient log is intact:", timeout=WAIT_MS
    )
    expect(page.locator("#verify-log")).to_contain_text("events checked")
    page.screenshot(path=str(artifacts / "logs-patient-log.png"), caret="initial")
    assert problems == []
