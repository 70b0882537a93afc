"""``ibdesk license`` and ``ibdesk seats`` through the real command, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ibdesk import vendor
from ibdesk.cli import main
from ibdesk.db import make_engine
from ibdesk.models import License, SeatActivation, SystemEvent

TODAY = dt.date.today()


@pytest.fixture
def reader(db_url: str) -> Iterator[Engine]:
    """An engine of the test's own to look at the database the command changed."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def license_file(
    tmp_path: Path, key: Ed25519PrivateKey, name: str = "clinic.ibdesk-license", **overrides: Any
) -> Path:
    fields: dict[str, Any] = {
        "licensee": "Tandläkarhuset i Umeå AB",
        "org_number": "556012-5790",
        "seats": 3,
        "created": TODAY - dt.timedelta(days=3),
    }
    fields.update(overrides)
    path = tmp_path / name
    path.write_text(vendor.issue_license(key, **fields), encoding="utf-8")
    return path


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)


def state(engine: Engine) -> tuple[Any, ...]:
    with Session(engine) as session:
        return (
            session.execute(
                select(License.id, License.is_current, License.document).order_by(License.id)
            ).all(),
            session.execute(
                select(
                    SeatActivation.id,
                    SeatActivation.slot,
                    SeatActivation.mac,
                    SeatActivation.last_seen,
                ).order_by(SeatActivation.id)
            ).all(),
            session.execute(select(func.count()).select_from(SystemEvent)).scalar_one(),
        )


def claim(db_url: str, n: int, *extra: str) -> Result:
    return run(
        db_url,
        "seats",
        "claim",
        "--mac",
        f"aa-bb-cc-00-00-{n:02x}",
        "--machine-id",
        f"m-{n}",
        "--hostname",
        f"RUM-{n}",
        *extra,
    )


def test_install_show_claim_list_release(
    db_url: str,
    tmp_path: Path,
    vendor_key: Ed25519PrivateKey,
    reader: Engine,
    cli_admin: str,
) -> None:
    path = license_file(tmp_path, vendor_key)
    result = run(db_url, "license", "install", str(path))
    assert result.exit_code == 0, result.stderr
    assert "Tandläkarhuset i Umeå AB (556012-5790)" in result.stdout
    assert "TEST license" in result.stdout and "IBDESK_TRUST_KEY" in result.stdout

    shown = json.loads(run(db_url, "license", "show", "--json").stdout)
    assert shown["seats"] == 3 and shown["active_seats"] == 0 and shown["trust"] == "test-key"
    assert shown["created_on"] == (TODAY - dt.timedelta(days=3)).isoformat()
    assert shown["registered_to"] == "Tandläkarhuset i Umeå AB (556012-5790)"

    first = claim(db_url, 1, "--json")
    assert first.exit_code == 0, first.stderr
    seat = json.loads(first.stdout)
    assert seat["mac"] == "AA:BB:CC:00:00:01" and seat["slot"] == 1
    assert json.loads(claim(db_url, 1, "--json").stdout)["id"] == seat["id"]
    assert claim(db_url, 2).exit_code == 0

    listed = run(db_url, "seats", "list")
    assert "RUM-1" in listed.stdout and "AA:BB:CC:00:00:02" in listed.stdout
    assert "2 of 3 seats in use" in listed.stdout
    rows = json.loads(run(db_url, "seats", "list", "--json").stdout)
    assert [r["hostname"] for r in rows] == ["RUM-1", "RUM-2"]

    released = run(db_url, "seats", "release", str(seat["id"]))
    assert released.exit_code == 0 and "RUM-1" in released.stdout
    assert [r["hostname"] for r in json.loads(run(db_url, "seats", "list", "--json").stdout)] == [
        "RUM-2"
    ]
    with Session(reader) as session:
        (event,) = session.scalars(select(SystemEvent).where(SystemEvent.action == "seat.release"))
    assert "RUM-1" in event.detail


def test_a_claim_past_the_seat_count_is_one_sentence(
    db_url: str,
    tmp_path: Path,
    vendor_key: Ed25519PrivateKey,
    cli_admin: str,
) -> None:
    run(db_url, "license", "install", str(license_file(tmp_path, vendor_key, seats=1)))
    assert claim(db_url, 1).exit_code == 0
    refused = claim(db_url, 2)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr == (
        "ibdesk: The one seat of the clinic's license is in use; ask the administrator to free "
        "the seat of a computer that is no longer used.\n"
    )


def test_show_without_license(db_url: str) -> None:
    result = run(db_url, "license", "show")
    assert result.exit_code == 0 and "No license is installed" in result.stdout
    assert json.loads(run(db_url, "license", "show", "--json").stdout) is None


def _bad_file(kind: str, tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    path = tmp_path / f"bad-{kind.replace(' ', '-')}"
    if kind == "tampered":
        good = license_file(tmp_path, key, name="good").read_bytes()
        path.write_bytes(good.replace(b"seats: 3", b"seats: 30"))
    elif kind == "unknown key":
        return license_file(tmp_path, Ed25519PrivateKey.generate(), name=path.name)
    elif kind == "truncated":
        good = license_file(tmp_path, key, name="good").read_bytes()
        path.write_bytes(good[: len(good) - 30])
    elif kind == "image":
        Image.new("L", (32, 32), 128).save(path, format="PNG")
    elif kind == "noise":
        path.write_bytes(os.urandom(10 * 1024 * 1024))
    elif kind == "invalid utf-8":
        path.write_bytes(b"ibdesk-license: 1\nlicensee: \xc3\x28\n")
    elif kind == "expired":
        return license_file(
            tmp_path,
            key,
            name=path.name,
            created=TODAY - dt.timedelta(days=90),
            expires=TODAY - dt.timedelta(days=1),
        )
    elif kind == "future":
        return license_file(tmp_path, key, name=path.name, created=TODAY + dt.timedelta(days=2))
    elif kind == "fewer seats than active":
        return license_file(tmp_path, key, name=path.name, seats=1)
    elif kind == "missing":
        return tmp_path / "no-such-file"
    elif kind == "folder":
        path.mkdir()
    return path


@pytest.mark.parametrize(
    "kind",
    [
        "tampered",
        "unknown key",
        "truncated",
        "image",
        "noise",
        "invalid utf-8",
        "expired",
        "future",
        "fewer seats than active",
        "missing",
        "folder",
    ],
)
def test_bad_input_is_one_sentence_on_stderr_and_changes_nothing(
    db_url: str,
    tmp_path: Path,
    vendor_key: Ed25519PrivateKey,
    reader: Engine,
    kind: str,
    cli_admin: str,
) -> None:
    assert run(db_url, "license", "install", str(license_file(tmp_path, vendor_key))).exit_code == 0
    assert claim(db_url, 1).exit_code == 0 and claim(db_url, 2).exit_code == 0
    before = state(reader)
    result = run(db_url, "license", "install", str(_bad_file(kind, tmp_path, vendor_key)))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ibdesk: ") and lines[0].endswith(".")
    assert "Traceback" not in result.stderr
    assert state(reader) == before
    if kind == "fewer seats than active":
        assert "free 1 first" in lines[0] and "RUM-1" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["seats", "claim", "--mac", "not-a-mac", "--machine-id", "m", "--hostname", "h"],
            "is not a MAC address",
        ),
        (["seats", "release", "12345"], "no seat with ID 12345"),
    ],
)
def test_bad_seat_commands_are_one_sentence(
    db_url: str,
    tmp_path: Path,
    vendor_key: Ed25519PrivateKey,
    reader: Engine,
    args: list[str],
    message: str,
    cli_admin: str,
) -> None:
    run(db_url, "license", "install", str(license_file(tmp_path, vendor_key)))
    before = state(reader)
    result = run(db_url, *args)
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert state(reader) == before


def test_demo_license_says_demo_in_every_output(db_url: str, reader: Engine) -> None:
    from ibdesk import licensing
    from ibdesk.audit import Actor

    with Session(reader) as session:
        licensing.make_demo_license(session, Actor(user="demo"))
        session.commit()
    shown = run(db_url, "license", "show")
    assert "DEMO license" in shown.stdout and "not for clinical use" in shown.stdout
    assert json.loads(run(db_url, "license", "show", "--json").stdout)["title"] == "DEMO license"
    claimed = claim(db_url, 1)
    assert claimed.exit_code == 0 and "DEMO" in claimed.stdout
    assert "DEMO" in run(db_url, "seats", "list").stdout
    assert "DEMO" in run(db_url, "license", "history").stdout
