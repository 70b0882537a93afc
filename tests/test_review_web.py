"""Defects a review found in the window, each through real requests (CSRF on): dates at the end
of the calendar in the logs, English left in the Swedish window, an address name that broke
the patient page, the AD mappings' own length, and actions that left no system-log entry."""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backupclinic import make_clinic
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from test_licensing_views import upload
from test_wizard_views import close, license_file, make_client, sqlite_steps_1_2
from test_wizard_views import post as wizard_post
from werkzeug.test import TestResponse

from factories import make_license, make_patient
from ibdesk import clinic_settings, i18n
from ibdesk.blueprints import backup as backup_view
from ibdesk.blueprints import settings as settings_view
from ibdesk.blueprints import statistics as statistics_view
from ibdesk.blueprints.logs import VERIFY_JOB as LOG_VERIFY_JOB
from ibdesk.display import personnummer as pn_display
from ibdesk.jobs import JobRegistry
from ibdesk.models import SystemEvent
from ibdesk.users import directory
from webfixtures import ADMIN_NAME, HX, post

LAST_DAY = "9999-12-31"  # the last day Python's calendar holds: it has no next day
TOO_LONG = "A value you sent is too long"


def text(response: TestResponse) -> str:
    """Return the answer's text with entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def swedish(app: Flask) -> None:
    """Switch the window to Swedish, as the language switch does."""
    i18n.set_app_language(app, i18n.SWEDISH)


def logged(engine: Engine, action: str) -> list[tuple[str, str]]:
    """Return (user, detail) of the system log's entries for an action, oldest first."""
    with Session(engine) as session:
        rows = session.execute(
            select(SystemEvent.user_name, SystemEvent.detail)
            .where(SystemEvent.action == action)
            .order_by(SystemEvent.id)
        ).all()
    return [(str(user), str(detail)) for user, detail in rows]


def jobs(app: Flask) -> JobRegistry:
    found: JobRegistry = app.extensions["ibdesk.jobs"]
    return found


def job_id(page: str) -> str:
    start = page.index('id="job-') + len('id="job-')
    return page[start : start + 12]


# --- 1. a date at the end of the calendar ---------------------------------------------------


def test_the_logs_take_the_last_day_of_the_calendar_as_the_end_of_a_period(
    client: FlaskClient, session: Session
) -> None:
    patient = make_patient(session, last_name="Kalendersson")
    session.close()  # SQLite: an open read here would keep the app from writing
    audit_page = client.get("/logs/", query_string={"until": LAST_DAY})
    assert audit_page.status_code == 200, audit_page.status_code
    assert 'data-action="patient.create"' in text(audit_page)
    partial = client.get("/logs/", query_string={"since": LAST_DAY}, headers=HX)
    assert partial.status_code == 200 and 'data-action="patient.create"' not in text(partial)
    system_page = client.get("/logs/system", query_string={"until": LAST_DAY})
    assert system_page.status_code == 200, system_page.status_code
    period = {"since": "2020-01-01", "until": LAST_DAY}
    csv = client.get("/logs/export.csv", query_string=period)
    assert csv.status_code == 200
    assert patient.personnummer in csv.get_data(as_text=True)  # the stream ran to its end


# --- 2. English left in the Swedish window ---------------------------------------------------


def test_restoring_a_patient_is_said_in_swedish(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    number = make_patient(session).personnummer
    session.close()
    base = f"/patients/{number}"
    deleted = post(client, f"{base}/delete", {"delete-confirm": number}, page="/patients/")
    assert deleted.status_code == 200, text(deleted)
    swedish(app)
    restored = post(client, f"{base}/restore", page="/patients/")
    assert restored.status_code == 200
    assert f"Patienten {pn_display(number)} är återställd." in text(restored)
    assert "is restored" not in text(restored)


def test_an_installed_license_is_said_in_swedish(
    app: Flask, client: FlaskClient, vendor_key: Ed25519PrivateKey
) -> None:
    swedish(app)
    one_seat = text(
        upload(client, make_license(vendor_key, seats=1, license_id="lic-1"), headers=HX)
    )
    assert (
        "Testlicensen lic-1 för Folktandvården Exempelstad AB (556012-5790) är installerad "
        "med 1 plats." in one_seat
    )
    many = text(upload(client, make_license(vendor_key, seats=10, license_id="lic-10"), headers=HX))
    assert "är installerad med 10 platser." in many and "Installed" not in many
    page = text(client.get("/licensing/"))
    assert '<h2 id="license-current-title">TEST-licens</h2>' in page


def test_the_wizard_says_the_installed_license_in_swedish(
    vendor_key: Ed25519PrivateKey,
) -> None:
    wizard = make_client()
    try:
        sqlite_steps_1_2(wizard)
        swedish(wizard.application)
        installed = wizard_post(
            wizard, "/wizard/license", {"file": (io.BytesIO(license_file(vendor_key)), "x")}
        )
        page = text(installed)
        assert installed.status_code == 200
        assert "Testlicensen " in page
        assert (
            " för Folktandvården Åkersberga AB (556012-5790) är installerad med 12 platser." in page
        )
        assert "Installed" not in page
    finally:
        close(wizard)


def test_the_database_list_and_the_image_folder_answer_in_swedish(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    swedish(app)
    listed = text(post(client, "/settings/databases", page="/settings/"))
    assert "(används)" in listed and "(in use)" not in listed
    folder = tmp_path / "Röntgen åäö"
    folder.mkdir()
    checked = text(
        post(client, "/settings/image-folder/check", {"image-path": str(folder)}, page="/settings/")
    )
    assert f"Sökväg: {folder}" in checked and "Finns: ja" in checked
    assert "Path:" not in checked and "Exists:" not in checked


def test_every_job_name_has_its_swedish_name() -> None:
    names = (
        *backup_view.JOBS,
        *settings_view.TOOL_JOBS.values(),
        statistics_view.CHECK_JOB,
        LOG_VERIFY_JOB,
    )
    catalogue = i18n.translations(i18n.SWEDISH)
    untranslated = [name for name in names if catalogue.gettext(name) == name]
    assert untranslated == []


def test_a_dangerous_export_folder_is_named_in_swedish(app: Flask, client: FlaskClient) -> None:
    swedish(app)
    refused = client.get("/export/folders/use", query_string={"at": "/etc"}, headers=HX)
    assert refused.status_code == 400
    assert "kan inte användas som exportmapp" in text(refused)
    assert "export folder" not in text(refused)


# --- 3. an address name url_for takes for its own -----------------------------------------


def test_the_panes_address_keeps_only_its_own_names(client: FlaskClient) -> None:
    odd = client.get("/patients/panes", query_string={"_method": "DELETE", "q": "Öberg"})
    assert odd.status_code == 303, odd.status_code
    assert odd.location.endswith("/patients/?q=%C3%96berg")
    kept = client.get(
        "/patients/panes",
        query_string={"q": "", "patient": "191212121212", "set": "7", "endpoint": "x"},
    )
    assert kept.status_code == 303
    assert kept.location.endswith("/patients/?q=&patient=191212121212&set=7")


# --- 4. the AD mappings' own length ----------------------------------------------------------


def _ad_form(mappings: str) -> dict[str, Any]:
    return {
        "servers": "dc1.klinik.local",
        "insecure": "y",  # plain LDAP: no CA certificate needed, nothing is looked up
        "base_dn": "DC=klinik,DC=local",
        "bind_user": "ib-lookup",
        "mappings": mappings,
    }


@pytest.mark.backends("sqlite")
def test_the_ad_mappings_may_be_as_long_as_their_field_allows(
    client: FlaskClient, session: Session
) -> None:
    lines = [
        f"CN=Röntgengrupp {n:03},OU=Grupper,DC=klinik,DC=local = Clinicians" for n in range(60)
    ]
    mappings = "\n".join(lines)
    assert 1000 < len(mappings) < 20_000
    saved = post(client, "/users/ad", _ad_form(mappings), page="/users/ad")
    assert TOO_LONG not in text(saved)
    assert saved.status_code == 200 and "settings were saved" in text(saved), text(saved)
    session.expire_all()
    assert len(directory.load_settings(session).mappings) == 60
    session.rollback()
    tested = post(
        client, "/users/ad/test", _ad_form(mappings + "\nnot a mapping"), page="/users/ad"
    )
    assert TOO_LONG not in text(tested)
    assert tested.status_code == 422 and "Line 61 is not" in text(tested)
    over = post(client, "/users/ad", _ad_form("x" * 20_001), page="/users/ad")
    assert over.status_code == 422  # the form's own cap still holds


# --- 5. actions recorded in the system log under the signed-in person -----------------------


def test_changing_the_image_folder_is_logged(
    client: FlaskClient, engine: Engine, tmp_path: Path
) -> None:
    first, second = tmp_path / "bilder", tmp_path / "Röntgen"
    first.mkdir()
    second.mkdir()
    for folder in (first, second):
        saved = post(
            client, "/settings/image-folder", {"image-path": str(folder)}, page="/settings/"
        )
        assert saved.status_code == 200, text(saved)
    assert logged(engine, "images.folder") == [
        (ADMIN_NAME, f"— → {first}"),
        (ADMIN_NAME, f"{first} → {second}"),
    ]


def test_generating_statistics_is_logged(client: FlaskClient, engine: Engine) -> None:
    assert post(client, "/statistics/generate", page="/statistics/").status_code == 200
    assert [user for user, _detail in logged(engine, "statistics.read")] == [ADMIN_NAME]


def test_the_image_folder_check_is_logged_when_it_ends(
    app: Flask, client: FlaskClient, session: Session, engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "bilder"
    folder.mkdir()
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
    session.commit()
    session.close()
    started = post(client, "/statistics/check", {"hashes": "y"}, page="/statistics/")
    assert started.status_code == 200, text(started)
    job = jobs(app).wait(job_id(text(started)), 60)
    assert job.state == "succeeded", job.error
    assert logged(engine, "images.check") == [(ADMIN_NAME, "0 rows, 0 files, ok True")]


@pytest.fixture
def clinic(engine: Engine, tmp_path: Path) -> Iterator[Path]:
    make_clinic(engine, tmp_path / "bilder")
    yield tmp_path / "bilder"


@pytest.mark.backends("sqlite")
@pytest.mark.usefixtures("clinic")
def test_the_backup_repository_and_its_verify_are_logged_under_the_signed_in_person(
    app: Flask, client: FlaskClient, engine: Engine, tmp_path: Path
) -> None:
    repository = tmp_path / "repo"
    made = post(client, "/backup/init", {"repository": str(repository)}, page="/backup/")
    assert made.status_code == 200 and "Recovery sheet" in text(made)
    ran = post(client, "/backup/run", page="/backup/")
    assert jobs(app).wait(job_id(text(ran)), 120).state == "succeeded"
    verify = post(client, "/backup/verify", page="/backup/")
    checked = jobs(app).wait(job_id(text(verify)), 120)
    assert checked.state == "succeeded", checked.error
    assert [user for user, _detail in logged(engine, "backup.verify")] == [ADMIN_NAME]
    assert logged(engine, "backup.init") == [(ADMIN_NAME, f"{repository} (created)")]
