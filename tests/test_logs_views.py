"""The Logs tab through real requests: the filtered patient log with keyset pages and CSV,
the system and login logs, one patient's log extract, and [Verify log] as a job."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import threading
from collections.abc import Generator, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from factories import ACTOR, make_patient
from ibdesk import audit, clients, i18n, patients, tabs
from ibdesk.app import create_app
from ibdesk.audit import Actor
from ibdesk.blueprints import logs as logs_view
from ibdesk.blueprints.jobs import registry
from ibdesk.logs import auditchain
from ibdesk.models import Patient
from ibdesk.progress import Event, LogLine, Progress
from webfixtures import ADMIN_NAME, HX, TEST_PORT, csrf_token

TABS = tuple(t for t in tabs.TABS if t.id in ("logs", "patients"))
ERIK = Actor("erik.tandlakare", "RUM-2")


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """Return the app with the Logs and Patients tabs only (other tabs are not under test)."""
    application = create_app(db_option=db_url, testing=True, port=TEST_PORT, tab_list=TABS)
    yield application
    application.extensions["ibdesk.jobs"].shutdown()
    application.extensions["ibdesk.database"].dispose()


def page_text(response: TestResponse) -> str:
    """Return the page's text with entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def short(number: str) -> str:
    return f"{number[2:8]}-{number[8:]}"


def actions(page: str) -> list[str]:
    """Return the events of a log page, top to bottom."""
    return re.findall(r'<tr data-action="([^"]+)"', page)


def clinic(session: Session) -> tuple[Patient, Patient]:
    """Make two patients: Åsa by Anna, then Örjan by Erik (who also edits him)."""
    asa = make_patient(session, first_name="Åsa", last_name="Öberg")
    orjan = make_patient(session, first_name="Örjan", last_name="Ängström", actor=ERIK)
    clients.update_patient(session, ERIK, orjan.id, city="Malmö")
    session.commit()
    session.close()  # SQLite: an open transaction here would keep the app from writing
    return asa, orjan


def test_the_patient_log_filters_by_patient_user_event_and_dates(
    client: FlaskClient, session: Session
) -> None:
    asa, orjan = clinic(session)
    everything = page_text(client.get("/logs/"))
    assert actions(everything) == ["patient.update", "patient.create", "patient.create"]
    assert "Malmö" in everything and "RUM-2" in everything
    mine = client.get("/logs/", query_string={"personnummer": short(orjan.personnummer)})
    assert actions(page_text(mine)) == ["patient.update", "patient.create"]
    by_anna = client.get("/logs/", query_string={"user": ACTOR.user}, headers=HX)
    assert "<html" not in page_text(by_anna)
    assert actions(page_text(by_anna)) == ["patient.create"]
    updates = client.get("/logs/", query_string={"action": "patient.update"})
    assert actions(page_text(updates)) == ["patient.update"]
    today = dt.datetime.now(dt.UTC).date()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    both = {"since": today.isoformat(), "until": today.isoformat()}
    assert len(actions(page_text(client.get("/logs/", query_string=both)))) == 3
    later = page_text(client.get("/logs/", query_string={"since": tomorrow}))
    assert actions(later) == [] and "No events match this filter" in later

    backwards = client.get("/logs/", query_string={"since": tomorrow, "until": today.isoformat()})
    assert backwards.status_code == 400
    assert "The end date is before the start date." in page_text(backwards)
    bad_date = client.get("/logs/", query_string={"since": "4 mars"})
    assert bad_date.status_code == 400 and "Write the date as YYYY-MM-DD" in page_text(bad_date)
    bad_number = client.get("/logs/", query_string={"personnummer": asa.personnummer[:-1] + "x"})
    assert bad_number.status_code == 400 and "Letters are not allowed" in page_text(bad_number)
    assert actions(page_text(bad_number)) == [] and "Export CSV" not in page_text(bad_number)


def test_older_pages_follow_the_keyset_cursor(
    client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        make_patient(session, last_name=f"Ström{n}")
    session.close()
    monkeypatch.setattr(logs_view, "PAGE_SIZE", 2)
    seen: list[str] = []
    url: str | None = "/logs/?action=patient.create"
    pages = 0
    while url:
        page = page_text(client.get(url, headers=HX))
        seen += re.findall(r"Last name: (?:&#39;|')(Ström\d)", page)
        older = re.search(r'href="([^"]+)" rel="next"', page)
        url = older.group(1) if older else None
        pages += 1
        if url:
            assert "cursor=" in url and "action=patient.create" in url  # the filter stays
    assert pages == 3 and seen == [f"Ström{n}" for n in reversed(range(5))]


def test_csv_export_streams_what_the_filter_shows(client: FlaskClient, session: Session) -> None:
    _asa, orjan = clinic(session)
    response = client.get("/logs/export.csv", query_string={"personnummer": orjan.personnummer})
    assert response.mimetype == "text/csv" and response.is_streamed
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and orjan.personnummer in disposition
    body = response.get_data()
    assert body.startswith("\ufeff".encode())  # spreadsheets then read åäö as UTF-8
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [r["action"] for r in rows] == ["patient.update", "patient.create"]
    assert {r["personnummer"] for r in rows} == {orjan.personnummer}
    assert rows[0]["user"] == ERIK.user and "Malmö" in rows[0]["changes"]
    bad = client.get("/logs/export.csv", query_string={"until": "igår"})
    assert bad.status_code == 400 and "Write the date as YYYY-MM-DD" in page_text(bad)


def test_the_system_and_login_logs(client: FlaskClient, session: Session) -> None:
    audit.system_event(session, ERIK, "settings.change", "Bildmapp: /srv/bilder/Röntgen")
    audit.login_event(session, "anna.tandlakare", "RUM-1", True)
    audit.login_event(session, "göran", "RECEPTION", False, "wrong password")
    session.commit()
    session.close()
    system = page_text(client.get("/logs/system"))
    assert "settings.change" in system and "Bildmapp: /srv/bilder/Röntgen" in system
    logins = page_text(client.get("/logs/logins"))
    for shown in ("anna.tandlakare", "RUM-1", "Success", "göran", "RECEPTION", "wrong password"):
        assert shown in logins, shown
    failures = page_text(client.get("/logs/logins", query_string={"failures": "y"}, headers=HX))
    assert "göran" in failures and "anna.tandlakare" not in failures and "<html" not in failures


def test_a_patients_log_extract_names_who_saw_and_changed_the_record(
    client: FlaskClient, session: Session
) -> None:
    _asa, orjan = clinic(session)
    number = orjan.personnummer
    client.get(f"/patients/{number}")  # the administrator views the record
    extract = page_text(client.get(f"/logs/patient/{short(number)}"))
    assert "Ängström, Örjan" in extract and f"{number[:8]}-{number[8:]}" in extract
    access = extract[extract.index('data-table="access"') : extract.index('data-table="events"')]
    lines = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td[^>]*>(\d+)<", access)
    assert lines == [
        (ERIK.user, "Patient registered", "1"),
        (ERIK.user, "Patient details changed", "1"),
        (ADMIN_NAME, "Record opened", "1"),
    ]
    assert f'href="/logs/export.csv?personnummer={number}"' in extract
    assert "static/logs.css" in extract  # its print rules hide the frame on paper
    assert "Öberg" not in extract  # only this patient's events

    patients.purge_patient(session, ACTOR, number, confirm=number)
    session.close()
    after = page_text(client.get(f"/logs/patient/{number}"))
    assert "no longer in the database; the log stays" in after and "Purged the patient" in after


def test_verify_log_says_intact_then_names_the_altered_event(
    client: FlaskClient, session: Session, engine: Engine
) -> None:
    clinic(session)
    token = csrf_token(client, "/logs/")
    first = page_text(client.post("/logs/verify", data={"csrf_token": token}, headers=HX))
    assert "The patient log is intact: 3 events checked." in first
    assert "3 new events were protected against changes before the check." in first
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET user_name = 'någon.annan' WHERE seq = 2"))
    second = page_text(client.post("/logs/verify", data={"csrf_token": token}, headers=HX))
    assert "The patient log was changed behind the program's back." in second
    assert "Audit event 2 (id 2) was altered or inserted" in second
    assert "The event before it is intact." in second


def test_a_long_verify_shows_its_progress_then_its_result(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def slow_check(_engine: Engine) -> Generator[Event, None, auditchain.LogCheck]:
        yield LogLine("Sealing new audit events…")
        yield Progress(5, 10, "audit events checked")
        release.wait(30)
        return auditchain.LogCheck(0, auditchain.ChainReport(checked=10, unsealed=0))

    monkeypatch.setattr(auditchain, "seal_and_verify", slow_check)
    monkeypatch.setattr(logs_view, "VERIFY_WAIT_S", 0.2)
    token = csrf_token(client, "/logs/")
    running = page_text(client.post("/logs/verify", data={"csrf_token": token}, headers=HX))
    job_id = re.search(r'id="job-([0-9a-f]+)"', running)
    assert job_id, running
    assert 'hx-trigger="ibdeskJobEnded from:body"' in running and "Verify log" in running
    # Reopening the tab while the check runs shows the running check, not a second button.
    assert f'id="job-{job_id.group(1)}"' in page_text(client.get("/logs/"))
    release.set()
    with client.application.app_context():
        registry().wait(job_id.group(1), timeout=120)
    ended = client.get(f"/jobs/{job_id.group(1)}", headers=HX)
    assert "ibdeskJobEnded" in ended.headers["HX-Trigger"]
    result = page_text(client.get(f"/logs/verify/{job_id.group(1)}", headers=HX))
    assert "The patient log is intact: 10 events checked." in result
    assert "Verify log again" in result


def test_the_date_fields_show_their_format_in_the_window_language(
    app: Flask, client: FlaskClient
) -> None:
    assert 'placeholder="YYYY-MM-DD"' in client.get("/logs/").get_data(as_text=True)
    i18n.set_app_language(app, "sv")
    swedish = client.get("/logs/").get_data(as_text=True)
    assert swedish.count('placeholder="ÅÅÅÅ-MM-DD"') == 2 and "YYYY" not in swedish
