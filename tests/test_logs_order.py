"""The Logs tab's smaller promises: the login and system logs newest first by their own time
(events arrive out of order), the system log's filters, and dates typed as ISO text."""

from __future__ import annotations

import datetime as dt
import html
import re

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from ibdesk import audit, logs
from ibdesk.audit import Actor
from webfixtures import HX

ERIK = Actor("erik.tandlakare", "RUM-2")


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T10:00:00+00:00")


def test_login_log_is_newest_first_by_time_across_pages(session: Session) -> None:
    # A workstation reports a September log-in first, an older January one later.
    for day, user in [("2026-09-09", "sept"), ("2026-01-21", "jan"), ("2026-05-05", "may")]:
        audit.login_event(session, user, "RUM-1", True).at = at(day)
    session.commit()
    first = logs.login_page(session, limit=2)
    assert [e.user_name for e in first.rows] == ["sept", "may"]
    rest = logs.login_page(session, cursor=first.next_cursor, limit=2)
    assert [e.user_name for e in rest.rows] == ["jan"] and rest.next_cursor is None


def test_system_log_filters_by_level_event_and_dates(session: Session) -> None:
    audit.system_event(session, ERIK, "backup.run", "ok").at = at("2026-03-01")
    audit.system_event(session, ERIK, "backup.run", "disk full", level="error").at = at(
        "2026-03-02"
    )
    audit.system_event(session, ERIK, "settings.change", "x").at = at("2026-04-01")
    session.commit()

    def details(**kw: object) -> list[str]:
        flt = logs.SystemFilter(**kw)  # type: ignore[arg-type]
        return [e.detail for e in logs.system_page(session, flt).rows]

    assert details() == ["x", "disk full", "ok"]
    assert details(level="error") == ["disk full"]
    assert details(action="backup.run", since=dt.date(2026, 3, 2)) == ["disk full"]
    assert details(until=dt.date(2026, 3, 1)) == ["ok"]


def test_system_log_page_has_filters_and_iso_date_fields(
    client: FlaskClient, session: Session
) -> None:
    audit.system_event(session, ERIK, "backup.run", "disk full", level="error")
    audit.system_event(session, ERIK, "settings.change", "Bildmapp")
    session.commit()
    page = html.unescape(client.get("/logs/system", query_string={"level": "error"}).text)
    assert "disk full" in page and "Bildmapp" not in page
    for name in ("since", "until"):
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
        assert field is not None
        assert 'type="text"' in field.group(0) and 'placeholder="YYYY-MM-DD"' in field.group(0)
    audit_page = client.get("/logs/").text
    assert 'type="date"' not in audit_page and 'placeholder="YYYY-MM-DD"' in audit_page
    bad = client.get("/logs/system", query_string={"since": "03/04/2026"}, headers=HX)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    backwards = client.get(
        "/logs/system", query_string={"since": "2026-03-04", "until": "2026-03-01"}, headers=HX
    )
    assert (
        backwards.status_code == 400 and "The end date is before the start date." in backwards.text
    )
    stale = client.get("/logs/logins", query_string={"cursor": "999999"})
    assert stale.status_code == 400
