"""One patient search on every tab: Patients, Export and Logs read the box the same way,
list everyone when it is blank (a page at a time), and say the same about a bad number."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from factories import ACTOR, make_patient
from ibdesk import audit, patients, personnummer, tabs
from ibdesk.app import create_app
from ibdesk.models import Patient
from webfixtures import HX, TEST_PORT
from webfixtures import post as post_from

TABS = tuple(t for t in tabs.TABS if t.id in ("logs", "patients", "export"))
TODAY = dt.date(2026, 12, 1)

# The published vectors of the personnummer libraries (personnummer/meta testdata/list.json,
# used by personnummer/python and personnummer/js): long form, and whether it is valid.
VECTORS = [
    ("201509160006", False),  # serial number 000 is never issued
    ("190905271474", True),
    ("198707049996", False),
    ("198211059954", True),
    ("193901829913", False),  # samordningsnummer, wrong check digit
    ("195705749959", True),  # samordningsnummer
    ("201211209941", False),
    ("199012119948", True),
    ("201210759984", False),
    ("197306749982", True),
    ("187912219990", True),
    ("200012099891", True),
]
WRONG = "19850312-2388"  # Åsa's number with the check digit off by one
CHECK_SENTENCE = "The check digit is wrong: the last digit should be 7"


@pytest.mark.parametrize(("number", "valid"), VECTORS)
def test_the_published_test_vectors_agree(number: str, valid: bool) -> None:
    long_sep = f"{number[:8]}-{number[8:]}"
    for typed in (number, long_sep):
        if valid:
            assert personnummer.normalize(typed, today=TODAY) == number
        else:
            with pytest.raises(personnummer.PersonnummerError):
                personnummer.parse(typed, today=TODAY)


def test_serial_000_is_said_in_one_sentence() -> None:
    with pytest.raises(personnummer.PersonnummerError, match="serial number 000"):
        personnummer.parse("20150916-0006", today=TODAY)
    assert "serial number 000" in (personnummer.typed_problem("1509160006", today=TODAY) or "")


def test_typed_problem_speaks_only_of_complete_numbers() -> None:
    assert personnummer.typed_problem("19850312-2387") is None  # valid
    assert personnummer.typed_problem("198503") is None  # a beginning
    assert personnummer.typed_problem("Öberg") is None  # a name
    assert (personnummer.typed_problem(WRONG) or "").startswith(CHECK_SENTENCE)
    assert personnummer.stored_form("850312-2388", today=TODAY) == "198503122388"
    with pytest.raises(personnummer.PersonnummerError):
        personnummer.stored_form("8503")


def stored_wrongly(session: Session) -> Patient:
    """Make Åsa, stored (as converted 1.2 data may be) with a wrong check digit."""
    åsa = make_patient(session, personnummer="19850312-2387", first_name="Åsa", last_name="Öberg")
    session.execute(update(Patient).where(Patient.id == åsa.id).values(personnummer="198503122388"))
    session.commit()
    return åsa


def test_a_wrong_check_digit_still_finds_the_patient_stored_so(session: Session) -> None:
    stored_wrongly(session)
    make_patient(session, personnummer="19850312-1215", first_name="Per", last_name="Ek")
    for typed in (WRONG, "850312-2388", "198503122388"):
        page = patients.search(session, typed)
        assert [r.personnummer for r in page.rows] == ["198503122388"]
        assert (page.hint or "").startswith(CHECK_SENTENCE)
    assert patients.search(session, "19850312-1215").hint is None


def test_blank_lists_everyone_a_page_at_a_time_and_leaves_out_the_picked(
    session: Session,
) -> None:
    made = [make_patient(session, last_name=f"Berg{i:03d}") for i in range(7)]
    seen: list[int] = []
    cursor = None
    while True:
        page = patients.search(session, "", cursor=cursor, limit=3, exclude=[made[0].id])
        seen += [r.id for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(p.id for p in made[1:])
    by_name = patients.search(session, "berg", limit=3, exclude=[made[1].id])
    assert made[1].id not in [r.id for r in by_name.rows] and by_name.next_cursor


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """Return the app with the three tabs that search patients."""
    application = create_app(db_option=db_url, testing=True, port=TEST_PORT, tab_list=TABS)
    yield application
    application.extensions["ibdesk.jobs"].shutdown()
    application.extensions["ibdesk.database"].dispose()


def text_of(response: object) -> str:
    return html.unescape(response.get_data(as_text=True))  # type: ignore[attr-defined]


def test_every_tab_says_the_same_about_a_wrong_check_digit(
    client: FlaskClient, session: Session
) -> None:
    åsa = stored_wrongly(session)
    audit.record(session, ACTOR, "patient.view", patient=åsa, entity_id=åsa.id)
    session.commit()
    pages = {
        "patients": client.get("/patients/", query_string={"q": WRONG}),
        "export": client.get("/export/patients", query_string={"q": WRONG}, headers=HX),
        "logs": client.get("/logs/", query_string={"personnummer": WRONG}),
    }
    for tab, page in pages.items():
        assert page.status_code == 200, tab
        body = text_of(page)
        assert CHECK_SENTENCE in body, tab
        assert "Patients stored with exactly these digits are listed all the same." in body, tab
    assert "19850312-2388" in text_of(pages["patients"])
    assert 'data-action="patient.view"' in text_of(pages["logs"])
    nobody = client.get("/export/patients", query_string={"q": "19850312-2389"}, headers=HX)
    assert "No patient is stored with exactly these digits either." in text_of(nobody)
    assert "No patient matches “19850312-2389”" in text_of(nobody)


def test_the_logs_filter_takes_a_name_or_a_beginning_too(
    client: FlaskClient, session: Session
) -> None:
    åsa = make_patient(session, personnummer="19850312-2387", last_name="Öberg")
    per = make_patient(session, personnummer="19700101-0011", last_name="Ek")
    for who in (åsa, per):
        audit.record(session, ACTOR, "patient.view", patient=who, entity_id=who.id)
    session.commit()
    for typed in ("öberg", "1985"):
        body = text_of(client.get("/logs/", query_string={"personnummer": typed}))
        assert "19850312-2387" in body and "19700101-0011" not in body, typed
    bad = client.get("/logs/", query_string={"personnummer": "8503-12x"})
    assert bad.status_code == 400


def options(body: str) -> list[str]:
    select = body.split('id="export-found-list"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="(\d+)"', select)


def test_export_lists_everyone_when_blank_pages_on_and_drops_the_picked(
    client: FlaskClient, session: Session
) -> None:
    made = [make_patient(session, last_name=f"Lund{i:03d}") for i in range(53)]
    first = text_of(client.get("/export/"))
    assert len(options(first)) == 50 and 'id="export-found-next"' in first
    cursor = re.search(r'id="export-found-next" href="[^"]*cursor=([^"&]+)', first)
    assert cursor is not None
    nxt = client.get(
        "/export/patients", query_string={"q": "", "cursor": html.unescape(cursor.group(1))}
    )
    assert len(options(text_of(nxt))) == 3
    picked = made[0].id
    answer = post_from(client, "/export/select", {"found": [picked]}, page="/export/")
    body = text_of(answer)
    assert 'id="export-found" hx-swap-oob="true"' in body
    assert str(picked) not in options(body)
    again = client.get("/export/patients", query_string={"q": "", "patient": picked}, headers=HX)
    assert str(picked) not in options(text_of(again))
    damaged = client.get("/export/patients", query_string={"q": "", "cursor": "9" * 300})
    assert damaged.status_code == 400
