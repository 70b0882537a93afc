"""Images added together are one sentence: in the Logs tab, the patient extract and the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from factories import make_image_set, make_media, make_patient
from ibdesk import auditwords, logs
from ibdesk.audit import Actor
from ibdesk.models import AuditEvent

ERIK = Actor("erik.tandlakare", "RUM-2")
AT = dt.datetime(2026, 5, 4, 10, 15, 5, tzinfo=dt.UTC)


def _media_events(session: Session) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.action == "media.add").order_by(AuditEvent.id)
        )
    )


def _clinic(session: Session) -> str:
    """Three images added by one user in one minute, then one a minute later, then Erik's."""
    patient = make_patient(session)
    image_set = make_image_set(session, patient, taken_on=dt.date(2025, 9, 12))
    for _n in range(4):
        make_media(session, image_set)
    make_media(session, image_set, actor=ERIK)
    times = [AT, AT + dt.timedelta(seconds=20), AT + dt.timedelta(seconds=40)]
    times += [AT + dt.timedelta(minutes=2), AT + dt.timedelta(minutes=2, seconds=5)]
    for event, at in zip(_media_events(session), times, strict=True):
        session.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(at=at))
    session.commit()
    return patient.personnummer


def test_consecutive_images_of_one_status_by_one_user_in_one_minute_are_one_sentence(
    session: Session,
) -> None:
    number = _clinic(session)
    page = logs.audit_page(session, logs.AuditFilter(personnummer=number))
    describe = auditwords.Describer(session, page.rows)
    lines = [(g.user_name, describe(g), len(g.events)) for g in describe.grouped(page.rows)]
    added = [line for line in lines if "image" in line[1]]
    assert added == [
        (ERIK.user, "Added an image (Intraoral X-ray) to the status of 2025-09-12", 1),
        (added[1][0], "Added an image (Intraoral X-ray) to the status of 2025-09-12", 1),
        (added[1][0], "Added 3 images to the status of 2025-09-12", 3),
    ]
    # Every event is still there, only said together.
    assert sum(len(g.events) for g in describe.grouped(page.rows)) == len(page.rows)


def test_the_csv_has_one_row_for_the_group_with_every_change(session: Session) -> None:
    number = _clinic(session)
    rows = list(
        csv.DictReader(
            io.StringIO("".join(logs.audit_csv(session, logs.AuditFilter(personnummer=number))))
        )
    )
    sentences = [r["event"] for r in rows]
    assert sentences.count("Added 3 images to the status of 2025-09-12") == 1
    grouped = next(r for r in rows if r["event"].startswith("Added 3 images"))
    assert grouped["changes"].count(" | ") == 2
    newest_of_three = max(e.id for e in _media_events(session)[:3])
    assert grouped["id"] == str(newest_of_three)


def test_the_logs_tab_and_the_patient_extract_say_the_group_once(
    session: Session, client: FlaskClient
) -> None:
    number = _clinic(session)
    tab = html.unescape(
        client.get("/logs/", query_string={"personnummer": number}).get_data(as_text=True)
    )
    extract = html.unescape(client.get(f"/logs/patient/{number}").get_data(as_text=True))
    for page in (tab, extract):
        assert page.count("Added 3 images to the status of 2025-09-12") == 1
        assert page.count("Added an image (Intraoral X-ray) to the status of 2025-09-12") == 2
