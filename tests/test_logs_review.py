"""The Logs tab against what a review found: damaged cursors, days in the shown time zone,
the CSV in the window's language, and the login log's reasons in Swedish."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session
from test_i18n_views import switch
from test_logs_views import actions, app, page_text

from factories import make_patient
from ibdesk import audit
from ibdesk.models import AuditEvent
from webfixtures import HX

__all__ = ["app"]  # a fixture, imported for pytest to find


@pytest.mark.parametrize("path", ["/logs/", "/logs/system", "/logs/logins"])
@pytest.mark.parametrize("cursor", ["²", "1" * 19, "-3"])
def test_a_damaged_log_cursor_is_a_sentence_not_a_500(
    client: FlaskClient, path: str, cursor: str
) -> None:
    answer = client.get(path, query_string={"cursor": cursor}, headers=HX)
    assert answer.status_code == 400, answer.status_code
    assert "That log page does not exist" in page_text(answer)


@pytest.fixture
def stockholm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in Swedish time (UTC+1 in March), as the clinic's computer does."""
    monkeypatch.setenv("TZ", "Europe/Stockholm")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_date_filter_takes_days_in_the_time_zone_the_log_is_shown_in(
    client: FlaskClient, session: Session, stockholm: None
) -> None:
    patient = make_patient(session)
    late = dt.datetime(2026, 3, 4, 23, 30, tzinfo=dt.UTC)  # 5 March 00:30 in Stockholm
    session.execute(update(AuditEvent).where(AuditEvent.patient_id == patient.id).values(at=late))
    session.commit()
    session.close()
    shown = page_text(client.get("/logs/"))
    assert "2026-03-05 00:30" in shown
    on_the_5th = {"since": "2026-03-05", "until": "2026-03-05"}
    assert actions(page_text(client.get("/logs/", query_string=on_the_5th))) == ["patient.create"]
    on_the_4th = {"since": "2026-03-04", "until": "2026-03-04"}
    assert actions(page_text(client.get("/logs/", query_string=on_the_4th))) == []


def test_the_csv_speaks_the_windows_language_not_the_servers(
    client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")  # the server's own language
    make_patient(session)
    session.commit()
    session.close()
    switch(client, "sv")
    body = client.get("/logs/export.csv").get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert rows and rows[0]["event"] == "Registrerade patienten", rows[0]["event"]


def test_the_login_logs_reasons_are_shown_in_swedish(client: FlaskClient, session: Session) -> None:
    audit.login_event(session, "göran", "RECEPTION", False, "wrong password")
    audit.login_event(session, "göran", "RECEPTION", False, "locked after 5 failed attempts")
    audit.login_event(session, "eva", "RUM-1", False, "no administer right")
    audit.login_event(session, "per", "RUM-2", False, "AD: account disabled")
    session.commit()
    session.close()
    switch(client, "sv")
    shown = page_text(client.get("/logs/logins"))
    assert "fel lösenord" in shown and "låst efter 5 misslyckade försök" in shown
    assert "utan rättigheten ”Administrera”" in shown and "AD: kontot är inaktiverat" in shown
    assert "wrong password" not in shown
