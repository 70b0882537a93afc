"""The Export tab through real requests (CSRF on): the two lists, the folder, the job, bad input."""

from __future__ import annotations

import json
import re
from functools import partial
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from exportclinic import Clinic, clinic, jpeg, photo, png, wav, xray16
from factories import ACTOR
from ibdesk import patients
from ibdesk.blueprints.export import EXPORT_JOB
from ibdesk.export import verify_export
from ibdesk.models import Patient
from ibdesk.progress import run_to_end
from webfixtures import HX
from webfixtures import post as post_from

WAIT_S = 120.0
ÅSA = "19850312-2387"
BÖRJE = "19850313-0083"
ÖRJAN = "19850314-0116"
TEN_DIGITS = "850312-2387"


def three_patients(c: Clinic) -> dict[str, Patient]:
    """Make three patients with an X-ray, a photo and a sound each (real files)."""
    made = {}
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
        made[number] = patient
    return made


post = partial(post_from, page="/export/")  # the export form, as the Export page posts it


def ids_in(html: str, name: str) -> list[int]:
    """Return the patient ids the page holds under this input name (hidden inputs)."""
    return [int(i) for i in re.findall(rf'name="{name}" value="(\d+)"', html)]


def options_in(html: str, list_id: str) -> list[str]:
    """Return the texts of a list's options."""
    select = html.split(f'id="{list_id}"', 1)[1].split("</select>", 1)[0]
    return re.findall(r"<option [^>]*>([^<]*)</option>", select)


def test_search_select_and_remove_keep_the_selection_as_patient_ids(
    client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    c = clinic(session, tmp_path)
    made = three_patients(c)
    c.patient(personnummer="19850312-1215", first_name="Gone", last_name="Deleted")
    patients.delete_patient(session, ACTOR, "19850312-1215", confirm="198503121215")
    session.commit()
    åsa, börje = made[ÅSA].id, made[BÖRJE].id

    found = client.get("/export/patients", query_string={"q": "19850312"}, headers=HX)
    assert found.status_code == 200
    html = found.get_data(as_text=True)
    assert options_in(html, "export-found-list") == [f"{ÅSA} · Öberg, Åsa"]  # not the deleted
    short = client.get("/export/patients", query_string={"q": TEN_DIGITS}, headers=HX)
    assert f'value="{åsa}"' in short.get_data(as_text=True)
    bad = client.get("/export/patients", query_string={"q": "8503-12x"}, headers=HX)
    assert bad.status_code == 400 and "text-error" in bad.get_data(as_text=True)

    chosen = post(client, "/export/select", {"found": [åsa, börje]})
    assert ids_in(chosen.get_data(as_text=True), "patient") == [åsa, börje]
    again = post(client, "/export/select", {"patient": [åsa, börje], "found": [börje, 999999]})
    html = again.get_data(as_text=True)
    assert ids_in(html, "patient") == [åsa, börje]  # once each; an unknown id is dropped
    assert options_in(html, "export-chosen-list") == [
        f"{ÅSA} · Öberg, Åsa",
        f"{BÖRJE} · Ångström, Börje",
    ]
    removed = post(client, "/export/remove", {"patient": [åsa, börje], "chosen": [åsa]})
    assert ids_in(removed.get_data(as_text=True), "patient") == [börje]
    nothing = post(client, "/export/remove", {"patient": [börje]})
    assert "Highlight a patient on the right first." in nothing.get_data(as_text=True)

    damaged = post(client, "/export/select", {"patient": ["1 OR 1=1"], "found": [åsa]})
    assert damaged.status_code == 400
    assert "The list of patients on this page is damaged" in damaged.get_data(as_text=True)

    # Without htmx the same buttons answer the whole page, keeping what was typed.
    page = post(
        client, "/export/select", {"found": [åsa], "to": "/media/usb/Export åäö"}, htmx=False
    )
    html = page.get_data(as_text=True)
    assert "<h1>Export</h1>" in html and ids_in(html, "patient") == [åsa]
    assert 'value="/media/usb/Export åäö"' in html


def test_exporting_selected_patients_runs_a_job_to_a_summary_that_can_be_saved(
    app: Flask, client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    c = clinic(session, tmp_path)
    made = three_patients(c)
    missing = session.get(Patient, made[BÖRJE].id)
    assert missing is not None
    sound = next(p for p in c.images.rglob("c.wav") if p.parent.parent.name == str(missing.id))
    sound.unlink()  # one file the export cannot read
    target = tmp_path / "USB-minne åäö"
    target.mkdir()
    chosen = [made[ÅSA].id, made[BÖRJE].id]

    started = post(client, "/export/", {"patient": chosen, "to": str(target), "jobs": "1"})
    assert started.status_code == 200, started.get_data(as_text=True)
    assert started.headers["HX-Reswap"] == "outerHTML show:#export-job:top"
    html = started.get_data(as_text=True)
    job_id = re.search(r'id="job-([0-9a-f]+)"', html)
    assert job_id and 'hx-swap-oob="true"' in html
    job = app.extensions["ibdesk.jobs"].wait(job_id.group(1), WAIT_S)
    assert job.name == EXPORT_JOB and job.state == "succeeded", job.log

    summary = client.get(f"/export/jobs/{job.id}/summary", headers=HX)
    html = summary.get_data(as_text=True)
    assert "Exported 2 patients" in html and 'data-ok="no"' in html
    assert f'<td class="export-pn">{BÖRJE}</td>' in html
    assert "c.wav" in html
    page = client.get(f"/export/?job={job.id}").get_data(as_text=True)
    assert page.count("Exported 2 patients") == 2  # the log's last line and the summary
    text = client.get(f"/export/jobs/{job.id}/summary.txt")
    assert text.headers["Content-Disposition"].startswith('attachment; filename="export-summary-')
    body = text.get_data(as_text=True)
    assert f"Folder: {target}" in body and "Problems (1):" in body and BÖRJE in body
    assert f"{ÅSA}: exported, 3 files." in body  # the log is in the saved summary
    saved = json.loads(client.get(f"/export/jobs/{job.id}/summary.json").get_data(as_text=True))
    assert (saved["patients"], saved["files_failed"], saved["ok"]) == (2, 1, False)
    assert {p.name for p in target.iterdir() if p.is_dir()} == {
        ÅSA.replace("-", ""),
        BÖRJE.replace("-", ""),
    }
    report, _ = run_to_end(verify_export(target))
    assert report.ok, report.problems

    # Every patient, without htmx: the browser is sent to the tab, which shows that job.
    again = post(client, "/export/", {"which": "all", "to": str(target)}, htmx=False)
    assert again.status_code == 303
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert 'id="job-' in page
    later = re.search(r"job=([0-9a-f]+)", again.headers["Location"])
    assert later
    everyone = app.extensions["ibdesk.jobs"].wait(later.group(1), WAIT_S)
    assert (everyone.result.patients, everyone.result.files_skipped) == (3, 5)  # 5 already there


def test_bad_input_shows_the_sentence_next_to_the_button(
    app: Flask, client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    c = clinic(session, tmp_path)
    åsa = three_patients(c)[ÅSA].id
    target = tmp_path / "export"
    target.mkdir()
    (tmp_path / "a-file.txt").write_text("not a folder")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"to": str(target)}, 400, "Choose the patients to export, or export all patients."),
        (
            {"patient": [åsa], "to": str(tmp_path / "saknas")},
            400,
            f"The export folder {tmp_path / 'saknas'} does not exist; create it first.",
        ),
        (
            {"patient": [åsa], "to": str(c.images / "export")},
            409,
            f"is inside the image folder {c.images}; export to a folder outside it.",
        ),
        ({"patient": [åsa], "to": str(tmp_path / "a-file.txt")}, 400, "is a file, not a folder"),
        (
            {"patient": [åsa + 1000], "to": str(target)},
            404,
            f"Patient {åsa + 1000} does not exist or has been deleted.",
        ),
        ({"patient": [åsa], "to": "  "}, 422, "Choose the folder to export to."),
        ({"patient": [åsa], "to": "export"}, 422, "Give the folder's whole path"),
        ({"patient": [åsa], "to": str(target), "jobs": "0"}, 422, "from 1 to 64"),
    ]
    for data, status, sentence in cases:
        answer = post(client, "/export/", data)
        html = answer.get_data(as_text=True)
        shown = unescape(html)  # messages are escaped like any text ("folder&#39;s")
        assert (answer.status_code, sentence in shown) == (status, True), (data, html)
        assert 'id="export-panel"' in html and "hx-swap-oob" not in html
    assert app.extensions["ibdesk.jobs"].active() == []  # nothing was started
    assert list(target.iterdir()) == []
    # Every patient, to a folder typed with the quotes Windows' "Copy as path" adds.
    everyone = post(client, "/export/", {"which": "all", "to": f'"{c.images}"'})
    html = everyone.get_data(as_text=True)
    assert everyone.status_code == 409 and f"{c.images} is inside the image folder" in html


def test_the_folder_button_is_offered_only_when_the_window_lends_its_dialog(
    app: Flask, client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    clinic(session, tmp_path)
    assert 'id="export-folder-button"' not in client.get("/export/").get_data(as_text=True)
    refused = post(client, "/export/folder", {"to": ""})
    assert refused.status_code == 409 and "type the folder" in refused.get_data(as_text=True)

    asked: list[str] = []
    answers: list[str | None] = [str(tmp_path / "Vald mapp åäö"), None]
    app.config["IBDESK_CHOOSE_FOLDER"] = lambda start: asked.append(start) or answers.pop(0)
    assert 'id="export-folder-button"' in client.get("/export/").get_data(as_text=True)
    chosen = post(client, "/export/folder", {"to": str(tmp_path)})
    assert asked == [str(tmp_path)]  # the dialog opens where the typed folder is
    assert f'value="{tmp_path / "Vald mapp åäö"}"' in chosen.get_data(as_text=True)
    cancelled = post(client, "/export/folder", {"to": "/not/there"})
    assert asked[-1] == ""  # a folder that is not there is no place to start
    assert 'value="/not/there"' in cancelled.get_data(as_text=True)  # what was typed stays


def test_summaries_are_only_for_finished_exports(client: FlaskClient) -> None:
    assert client.get("/export/jobs/nosuchjob/summary.txt").status_code == 404
    assert client.get("/export/?job=nosuchjob").status_code == 404


@pytest.mark.backends("sqlite")
def test_the_page_works_from_the_keyboard_and_says_so(client: FlaskClient) -> None:
    html = client.get("/export/").get_data(as_text=True)
    # Every control has a label, and the only hidden button is the form's default (Enter).
    for control in ("export-q", "export-found-list", "export-chosen-list", "to", "jobs"):
        assert f'for="{control}"' in html
    assert html.count('<button type="submit" hidden') == 1
    assert html.index('hidden tabindex="-1">Export patients') < html.index('id="export-select"')
