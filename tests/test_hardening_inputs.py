"""Hostile input gives a sentence, never a crash: over-long searches and page numbers, a port
that is not a number, a huge upload refused unread; fuzzed forms and CLI arguments too."""

from __future__ import annotations

import io
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import make_patient
from ibdesk import personnummer
from ibdesk.cli import main
from ibdesk.models import AuditEvent, Patient, SystemEvent
from webfixtures import HX, csrf_token

FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hostile_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet="0123456789-+ ", min_size=1000, max_size=5000),
    st.sampled_from(["=HYPERLINK(1)", "../../etc/passwd", "\x00", "9" * 4301, "%00", "/\\x"]),
)


def _sentence(body: str) -> None:
    assert "Traceback" not in body and "Internal Server Error" not in body


def _state(session: Session) -> tuple[int, ...]:
    session.expire_all()
    counts = tuple(
        session.scalar(select(func.count()).select_from(m)) or 0
        for m in (Patient, AuditEvent, SystemEvent)
    )
    session.close()  # an open SQLite transaction would hold the app's writers off
    return counts


def test_a_huge_search_is_refused_with_a_sentence_and_search_goes_on(
    client: FlaskClient, session: Session
) -> None:
    patient = make_patient(session)
    assert personnummer.search_key("1" * 5000) == ("1" * 5000, "1" * 5000)
    for url in ("/export/patients", "/patients/"):
        for typed in ("1" * 4301, "1" * 300):
            response = client.get(url, query_string={"q": typed}, headers=HX)
            body = response.get_data(as_text=True)
            assert response.status_code == 400, (url, len(typed))
            assert "too long" in body and "at most" in body
            _sentence(body)
        again = client.get(url, query_string={"q": patient.personnummer[:8]}, headers=HX)
        assert again.status_code == 200 and patient.last_name in again.get_data(as_text=True)


def test_a_nul_character_anywhere_is_one_sentence_and_nothing_changes(
    client: FlaskClient, session: Session
) -> None:
    make_patient(session)
    before = _state(session)
    for url in ("/export/patients", "/patients/", "/logs/"):
        response = client.get(url, query_string={"q": "Berg\x00"}, headers=HX)
        body = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert "NUL character" in body and "Database problem" not in body
        _sentence(body)
    token = csrf_token(client, "/users/")
    added = client.post(
        "/users/groups/add", data={"csrf_token": token, "name": "G\x00"}, headers=HX
    )
    assert added.status_code == 400 and "NUL character" in added.get_data(as_text=True)
    assert _state(session) == before


def test_the_search_field_shows_its_cap(client: FlaskClient) -> None:
    page = client.get("/export/").get_data(as_text=True)
    assert 'maxlength="200"' in page


def test_a_huge_log_page_number_is_a_sentence(client: FlaskClient) -> None:
    for cursor in ("9" * 30, "9" * 5000):
        response = client.get("/logs/", query_string={"cursor": cursor})
        assert response.status_code == 400
        _sentence(response.get_data(as_text=True))


def test_a_port_that_is_not_a_number_is_a_sentence_on_the_cli() -> None:
    result = CliRunner().invoke(main, ["--db", "postgresql://u@h:abc/db", "db", "check"])
    assert (result.exit_code == 1 and result.exception is None) or isinstance(
        result.exception, SystemExit
    )
    assert "port" in result.stderr and "Traceback" not in result.output


class _CountingInput(io.BytesIO):
    """A request body that remembers how much of it was read."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def test_a_huge_upload_is_refused_before_it_is_read(client: FlaskClient) -> None:
    token = csrf_token(client, "/licensing/")
    size = 50 * 1024 * 1024
    body = _CountingInput(b"x" * size)
    response = client.post(
        "/licensing/install",
        input_stream=body,
        content_type="multipart/form-data; boundary=b",
        content_length=size,
        headers={"X-CSRFToken": token, **HX},
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert body.read_bytes < 64 * 1024


@pytest.mark.backends("sqlite")
@FUZZ
@given(
    field=st.sampled_from(
        [
            ("/export/patients", "q"),
            ("/patients/", "q"),
            ("/patients/more", "q"),
            ("/logs/", "personnummer"),
            ("/logs/", "user"),
            ("/logs/", "action"),
            ("/logs/", "since"),
            ("/logs/", "cursor"),
            ("/logs/logins", "user"),
            ("/logs/system", "cursor"),
            ("/logs/export.csv", "until"),
        ]
    ),
    value=hostile_text,
)
def test_fuzzed_form_fields_never_crash_or_change_anything(
    client: FlaskClient, session: Session, field: tuple[str, str], value: str
) -> None:
    before = _state(session)
    url, name = field
    response = client.get(url, query_string={name: value}, headers=HX)
    assert response.status_code in (200, 400, 404, 422), (url, name, response.status_code)
    _sentence(response.get_data(as_text=True))
    assert _state(session) == before


def _run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args])


@pytest.mark.backends("sqlite")
@FUZZ
@given(
    command=st.sampled_from(
        [
            ("patients", "find", "{}"),
            ("patients", "show", "{}"),
            ("patients", "restore", "{}"),
            ("sets", "verify", "{}"),
            ("sets", "sign", "{}"),
            ("logs", "show", "--patient", "{}"),
            ("logs", "show", "--since", "{}"),
            ("seats", "release", "{}"),
            ("export", "--patient", "{}", "--to", "{}"),
            ("images", "check", "--save", "{}"),
        ]
    ),
    value=hostile_text.filter(lambda v: "\x00" not in v),
)
def test_fuzzed_cli_arguments_never_give_a_traceback(
    db_url: str, session: Session, command: tuple[str, ...], value: str
) -> None:
    if not _state(session)[0]:
        make_patient(session)
    before = _state(session)
    args: list[Any] = [part.replace("{}", value) for part in command]
    result = _run(db_url, *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.exception,
    )
    assert "Traceback" not in result.output
    assert _state(session) == before


@pytest.mark.parametrize("host", [".", "a" * 64 + ".example", "..x"])
def test_a_host_name_the_resolver_cannot_encode_is_a_sentence(host: str) -> None:
    from ibdesk.db import DatabaseError, probe_tcp

    with pytest.raises(DatabaseError, match="was not found; check the spelling"):
        probe_tcp(host, 5432, timeout=1)
