"""The Statistics tab keeps its last generated report: coming back shows it, with its time."""

from __future__ import annotations

import functools
import html

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from factories import make_patient
from ibdesk import clinic_settings, statistics
from ibdesk.statistics import lastreport
from webfixtures import post as post_from

post = functools.partial(post_from, page="/statistics/")


def test_the_last_report_round_trips(session: Session) -> None:
    make_patient(session)
    gathered = statistics.gather(session)
    lastreport.save(session, gathered)
    session.commit()
    again = lastreport.load(session)
    assert again is not None and again.report is not None and gathered.report is not None
    assert again.report.generated_at == gathered.report.generated_at
    assert again.report.patients == gathered.report.patients
    assert again.report.months == gathered.report.months
    clinic_settings.put(session, lastreport.KEY, '{"report": 1}')
    assert lastreport.load(session) is None  # another version's report: generate anew


def test_coming_back_shows_the_last_report_with_its_time(
    client: FlaskClient, session: Session
) -> None:
    make_patient(session)
    session.close()
    before = html.unescape(client.get("/statistics/").text)
    assert 'data-field="generated"' not in before
    assert post(client, "/statistics/generate").status_code == 200
    back = html.unescape(client.get("/statistics/").text)
    assert 'data-field="generated"' in back
    assert 'data-field="patients" data-value="1"' in back
