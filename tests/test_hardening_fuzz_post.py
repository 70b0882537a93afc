"""Fuzzed POST form fields and numeric CLI arguments: never a 500, never a traceback, and a
refusal changes nothing (database rows, the configuration file, the folders involved)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import make_image_set, make_patient
from ibdesk import config
from ibdesk.cli import main
from ibdesk.models import AuditEvent, ImageSet, Patient, SeatActivation, Setting, SystemEvent
from webfixtures import HX, csrf_token

pytestmark = pytest.mark.backends("sqlite")
PER_FIELD = 15


def fuzz(fields: int) -> Any:
    """Return hypothesis settings for about PER_FIELD examples of each of the fields."""
    return settings(
        max_examples=PER_FIELD * fields,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


hostile_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet="0123456789-+ .e", min_size=1, max_size=40),
    st.text(alphabet="0123456789-+ ", min_size=1000, max_size=5000),
    st.sampled_from(
        ["", "0", "-1", "65536", "99999999999999999999", "1e9", " 5432", "=1+1", "../..", "/"]
    ),
    st.sampled_from(["\x00", "9" * 4301, "%00", "/\\x", "/etc", "NaN", "٣", "\u202e"]),
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "-0", "+1", "1.5", "1e3", "0x10", "", " ", "٣", "9" * 5000, "nan"]),
    st.text(alphabet="0123456789-+.", min_size=1, max_size=30),
)


def _rows(session: Session) -> tuple[Any, ...]:
    session.expire_all()
    counts = tuple(
        session.scalar(select(func.count()).select_from(m)) or 0
        for m in (Patient, AuditEvent, SystemEvent, SeatActivation)
    )
    kept = tuple(session.execute(select(Setting.key, Setting.value).order_by(Setting.key)).all())
    signed = tuple(session.scalars(select(ImageSet.signed_at).order_by(ImageSet.id)).all())
    deleted = tuple(session.scalars(select(Patient.deleted_at).order_by(Patient.id)).all())
    session.close()  # an open SQLite transaction would hold the app's writers off
    return counts, kept, signed, deleted


def _files(*folders: Path) -> tuple[str, ...]:
    listed = [str(p) for folder in folders for p in sorted(folder.rglob("*"))]
    conf = config.config_dir() / "ibdesk.toml"
    digest = hashlib.sha256(conf.read_bytes()).hexdigest() if conf.exists() else ""
    return (*listed, digest)


def _no_crash(body: str) -> None:
    assert "Traceback" not in body and "Internal Server Error" not in body


@pytest.fixture
def clinic(session: Session, tmp_path: Path) -> dict[str, Any]:
    patient = make_patient(session)
    image_set = make_image_set(session, patient)
    session.commit()
    target = tmp_path / "export"
    target.mkdir()
    return {"number": patient.personnummer, "id": patient.id, "set": image_set.id, "to": target}


def _forms(c: dict[str, Any], value: str) -> dict[str, tuple[str, dict[str, str]]]:
    n, s, to, pid = c["number"], c["set"], str(c["to"]), str(c["id"])
    closed = {"backend": "postgresql", "host": "127.0.0.1", "port": "1", "user": "postgres"}
    return {
        "server port": ("/settings/connect/server", {**closed, "port": value}),
        "server user": ("/settings/connect/server", {**closed, "user": value}),
        "server host": ("/settings/connect/server", {**closed, "host": value or "x"}),
        "sqlite folder": ("/settings/connect/server", {"backend": "sqlite", "folder": value}),
        "create database": ("/settings/connect/database/create", {"name": value}),
        "image folder": ("/settings/image-folder", {"image-path": value}),
        "image folder check": ("/settings/image-folder/check", {"image-path": value}),
        "copy folder": ("/settings/copy", {"copy-folder": value}),
        "export to": ("/export/", {"to": value, "patient": pid, "jobs": "1"}),
        "export ids": ("/export/", {"to": to, "patient": value, "jobs": "1"}),
        "export jobs": ("/export/", {"to": to, "patient": pid, "jobs": value}),
        "export select": ("/export/select", {"found": value, "patient": pid}),
        "export remove": ("/export/remove", {"chosen": value, "patient": pid}),
        "delete confirm": (f"/patients/{n}/delete", {"confirm": value}),
        "purge confirm": (f"/patients/{n}/purge", {"confirm": value}),
        "unsign reason": (f"/patients/{n}/sets/{s}/unsign", {f"set{s}-reason": value}),
        "patient in path": (f"/patients/{quote(value, safe='')}/delete", {"confirm": n}),
        "set id in path": (f"/patients/{n}/sets/{quote(value, safe='')}/sign", {}),
        "seat id in path": (f"/licensing/seats/{quote(value, safe='')}/remove", {}),
    }


FIELDS = sorted(_forms({"number": "", "set": 0, "to": "", "id": 0}, ""))


@fuzz(len(FIELDS))
@given(field=st.sampled_from(FIELDS), value=hostile_text)
def test_fuzzed_post_fields_never_crash_or_change_anything_when_refused(
    client: FlaskClient, session: Session, clinic: dict[str, Any], field: str, value: str
) -> None:
    token = getattr(client, "fuzz_csrf", None) or csrf_token(client, "/export/")
    client.fuzz_csrf = token  # type: ignore[attr-defined]
    url, data = _forms(clinic, value)[field]
    before = _rows(session), _files(clinic["to"])
    response = client.post(url, data={"csrf_token": token, **data}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code in (200, 308, 400, 404, 405, 409, 422), (field, value)
    _no_crash(body)
    if response.status_code >= 400:
        assert (_rows(session), _files(clinic["to"])) == before, (field, value)


def _as_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


COMMANDS = [
    ("serve", "--no-browser", "--port", "{}"),
    (
        "db",
        "test-connection",
        "--backend",
        "postgresql",
        "--host",
        "127.0.0.1",
        "--port",
        "{}",
    ),
    ("db", "create", "x", "--backend", "postgresql", "--host", "127.0.0.1", "--port", "{}"),
    ("demo", "--patients", "{}"),
    ("export", "--all", "--to", "{to}", "--jobs", "{}"),
    ("seats", "release", "{}"),
    ("sets", "sign", "{}"),
    ("sets", "unsign", "{}", "--reason", "test"),
    ("sets", "verify", "{}"),
    ("patients", "find", "1", "--limit", "{}"),
    ("logs", "show", "--limit", "{}"),
]


@fuzz(len(COMMANDS))
@given(command=st.sampled_from(COMMANDS), value=numbers)
def test_fuzzed_numeric_cli_arguments_never_give_a_traceback(
    db_url: str, session: Session, clinic: dict[str, Any], command: tuple[str, ...], value: str
) -> None:
    before = _rows(session), _files(clinic["to"])
    args = [p.replace("{to}", str(clinic["to"])).replace("{}", value) for p in command]
    valid = {"demo": range(1, 5_000_001), "serve": range(65536)}.get(args[0])
    if valid is not None and _as_int(value) in valid:
        return  # a valid count or port would really build a demo clinic or start serving
    result = CliRunner().invoke(main, ["--db", db_url, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.exception,
    )
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert (_rows(session), _files(clinic["to"])) == before, args
