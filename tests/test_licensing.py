"""License files: format, signature, trust, install and its refusals, history, demo licenses."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import mssql
from sqlalchemy.orm import Session

from factories import make_license
from ibdesk import clinic_settings as db_settings
from ibdesk import licensing
from ibdesk.audit import Actor
from ibdesk.errors import Refused, UserError
from ibdesk.licensing import Trust, licensefile, seats
from ibdesk.licensing.licensefile import LicenseError
from ibdesk.models import License, SeatActivation, SystemEvent

ADMIN = Actor(user="admin", machine="SERVER")
TODAY = dt.date.today()
REPO = Path(__file__).resolve().parent.parent
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\s+[A-Za-z0-9+/]{20}")


def snapshot(session: Session) -> tuple[Any, ...]:
    """Return everything an install may change: licenses, seat slots, system log."""
    licenses = session.execute(
        select(
            License.id, License.license_id, License.is_current, License.seats, License.document
        ).order_by(License.id)
    ).all()
    slots = session.execute(
        select(
            SeatActivation.id,
            SeatActivation.slot,
            SeatActivation.mac,
            SeatActivation.machine_id,
            SeatActivation.hostname,
            SeatActivation.last_seen,
        ).order_by(SeatActivation.id)
    ).all()
    events = session.execute(select(func.count()).select_from(SystemEvent)).scalar_one()
    return (licenses, slots, events)


def install(session: Session, data: bytes, **kwargs: Any) -> licensing.LicenseInfo:
    info = licensing.install_license(session, data, ADMIN, **kwargs)
    session.commit()
    return info


def claim(session: Session, n: int, **kwargs: Any) -> seats.SeatInfo:
    seat = seats.claim_seat(
        session, f"02:00:00:00:00:{n:02x}", f"machine-{n}", f"RUM-{n}", **kwargs
    )
    session.commit()
    return seat


def slot_numbers(session: Session) -> list[int]:
    return list(session.scalars(select(SeatActivation.slot).order_by(SeatActivation.slot)))


# --- the file format ------------------------------------------------------------------------


def test_issued_license_reads_back_and_verifies(vendor_key: Ed25519PrivateKey) -> None:
    data = make_license(
        vendor_key, seats=7, expires=TODAY + dt.timedelta(days=365), license_id="lic-2026-001"
    )
    document = licensefile.parse(data)
    assert (document.licensee, document.org_number, document.seats) == (
        "Folktandvården Exempelstad AB",
        "556012-5790",
        7,
    )
    assert document.license_id == "lic-2026-001"
    assert document.expires_on == TODAY + dt.timedelta(days=365)
    assert document.key_id == licensefile.key_id_of(vendor_key.public_key())
    key = licensefile.verify(document)
    assert key.source is licensefile.Trust.TEST_KEY
    text = data.decode()
    assert text.startswith("ibdesk-license: 1\n") and "\nseats: 7\n" in text


def test_signature_covers_the_domain_prefix(vendor_key: Ed25519PrivateKey) -> None:
    """A signature over the bare body (no prefix) is not accepted as a license signature."""
    body = licensefile.render_body(
        {
            "license-id": "x1",
            "key-id": licensefile.key_id_of(vendor_key.public_key()),
            "licensee": "Klinik",
            "org-number": "556012-5790",
            "seats": "3",
            "created": TODAY.isoformat(),
        }
    )
    bare = base64.b64encode(vendor_key.sign(body.encode())).decode()
    document = licensefile.parse(f"{body}signature: ed25519:{bare}\n".encode())
    with pytest.raises(LicenseError, match="changed since the vendor signed it"):
        licensefile.verify(document)


def test_windows_line_endings_and_bom_still_verify(vendor_key: Ed25519PrivateKey) -> None:
    original = make_license(vendor_key)
    document = licensefile.parse(b"\xef\xbb\xbf" + original.replace(b"\n", b"\r\n"))
    licensefile.verify(document)
    assert document.text == original.decode()


def test_every_truncation_is_reported_as_incomplete(vendor_key: Ed25519PrivateKey) -> None:
    data = make_license(vendor_key, licensee="Tandläkarna i Åre AB")
    assert data.endswith(b"\n")
    for length in range(1, len(data) - 1):
        with pytest.raises(LicenseError, match="incomplete") as caught:
            licensefile.parse(data[:length])
        assert "\n" not in str(caught.value)
    licensefile.verify(licensefile.parse(data[:-1]))  # only the final newline missing


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_any_changed_byte_is_refused_or_means_the_same(
    vendor_key: Ed25519PrivateKey, position: int, byte: int
) -> None:
    original = make_license(vendor_key)
    data = bytearray(original)
    data[position % len(data)] = byte
    try:
        document = licensefile.parse(bytes(data))
        licensefile.verify(document)
    except LicenseError:
        return
    assert document.text == licensefile.parse(original).text


@settings(max_examples=200)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    try:
        licensefile.parse(data)
    except LicenseError as error:
        assert str(error).endswith(".") and "\n" not in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ibdesk-license: 2\nseats: 1\n", "format this program does not know"),
        (
            "ibdesk-license: 1\nlicense-id: a\nkey-id: 0123456789abcdef\nlicensee: K\n"
            "org-number: 556012-5790\nseats: 1\ncreated: 2026-01-01\nsignature: none\n",
            "not signed",
        ),
        ("ibdesk-license: 1\ncolour: blue\nsignature: ed25519:AA==\n", "unknown field 'colour'"),
        ("ibdesk-license: 1\nseats: 1\nseats: 2\nsignature: ed25519:AA==\n", "appears twice"),
        ("ibdesk-license: 1\nseats 1\nseats: 2\nsignature: ed25519:AA==\n", "line 2"),
    ],
)
def test_malformed_files_get_one_sentence(text: str, message: str) -> None:
    with pytest.raises(LicenseError, match=message):
        licensefile.parse(text.encode())


def test_bad_field_values_are_refused(vendor_key: Ed25519PrivateKey) -> None:
    key_id = licensefile.key_id_of(vendor_key.public_key())
    good = {
        "license-id": "a1",
        "key-id": key_id,
        "licensee": "Klinik AB",
        "org-number": "556012-5790",
        "seats": "3",
        "created": "2026-01-31",
    }
    for field, value, message in [
        ("seats", "0", "between 1 and"),
        ("seats", "ten", "whole number"),
        ("seats", "٣", "whole number"),
        ("created", "2026-02-30", "not YYYY-MM-DD"),
        ("org-number", "5560125790", "NNNNNN-NNNN"),
        ("key-id", "XYZ", "key id"),
        ("expires", "2025-01-01", "expires before it was created"),
    ]:
        body = licensefile.render_body({**good, field: value})
        signature = base64.b64encode(vendor_key.sign(licensefile.signed_message(body))).decode()
        with pytest.raises(LicenseError, match=message):
            licensefile.verify(
                licensefile.parse(f"{body}signature: ed25519:{signature}\n".encode())
            )


# --- trust ----------------------------------------------------------------------------------


def test_the_production_key_is_shipped_and_no_private_key_is_in_the_repository() -> None:
    shipped = licensefile.shipped_keys()
    assert [k.name for k in shipped.values()] == ["ibdesk-vendor-2026"]
    (key,) = shipped.values()
    assert key.source is licensefile.Trust.VENDOR
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        path = REPO / name
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert not PEM_PRIVATE_KEY.search(path.read_bytes()), name


def test_a_license_of_the_shipped_key_is_trusted_without_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Verify against the shipped key (the test cannot sign with it, so it re-labels one)."""
    key = Ed25519PrivateKey.generate()
    public_key = key.public_key()
    key_id = licensefile.key_id_of(public_key)
    fake = licensefile.TrustedKey(
        key_id, "ibdesk-vendor-2026", public_key, licensefile.Trust.VENDOR
    )
    monkeypatch.setattr(licensefile, "shipped_keys", lambda: {key_id: fake})
    document = licensefile.parse(make_license(key))
    assert licensefile.verify(document) is fake


def test_an_unreadable_trust_key_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IBDESK_TRUST_KEY", str(tmp_path / "missing.pub"))
    with pytest.raises(LicenseError, match=r"IBDESK_TRUST_KEY names .*cannot be read"):
        licensefile.trusted_keys()
    not_a_key = tmp_path / "note.pub"
    not_a_key.write_text("hello")
    monkeypatch.setenv("IBDESK_TRUST_KEY", str(not_a_key))
    with pytest.raises(LicenseError, match="not a PEM public key file"):
        licensefile.trusted_keys()


# --- install --------------------------------------------------------------------------------


def test_install_stores_the_license_and_makes_its_slots(
    session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    info = install(session, make_license(vendor_key, seats=4))
    assert info.is_current and info.valid and info.seats == 4 and info.active_seats == 0
    assert info.registered_to == "Folktandvården Exempelstad AB (556012-5790)"
    assert info.created_on == TODAY - dt.timedelta(days=30)
    assert info.trust is Trust.TEST_KEY and info.title == "TEST license"
    assert info.notice is not None and "IBDESK_TRUST_KEY" in info.notice
    assert info.installed_by == "admin"
    assert slot_numbers(session) == [1, 2, 3, 4]
    (event,) = session.scalars(select(SystemEvent).where(SystemEvent.action == "license.install"))
    assert "4 seats" in event.detail and event.user_name == "admin"
    again = licensing.current_license(session)
    assert again is not None and again.license_id == info.license_id
    assert again.as_dict()["notice"] == info.notice


def test_a_new_license_replaces_the_old_and_history_keeps_both(
    session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    first = install(session, make_license(vendor_key, seats=2, license_id="first"))
    second = install(session, make_license(vendor_key, seats=5, license_id="second"))
    current = licensing.current_license(session)
    assert current is not None and current.license_id == "second"
    history = licensing.license_history(session)
    assert [h.license_id for h in history] == ["second", "first"]
    assert [h.is_current for h in history] == [True, False]
    assert first.row_id != second.row_id
    assert slot_numbers(session) == [1, 2, 3, 4, 5]


def test_installing_the_same_file_again_only_repairs_missing_slots(
    session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    data = make_license(vendor_key, seats=4)
    install(session, data)
    session.execute(delete(SeatActivation).where(SeatActivation.slot.in_([2, 4])))
    session.commit()
    install(session, data)
    assert slot_numbers(session) == [1, 2, 3, 4]
    assert len(licensing.license_history(session)) == 1


def test_the_seat_lock_compiles_for_every_backend() -> None:
    assert licensing.seat_lock_statement("sqlite") is None
    pg = licensing.seat_lock_statement("postgresql")
    assert pg is not None and str(pg) == "LOCK TABLE seat_activation IN EXCLUSIVE MODE"
    ms = licensing.seat_lock_statement("mssql")
    assert ms is not None
    sql = str(ms.compile(dialect=mssql.dialect()))
    assert "FROM seat_activation WITH (TABLOCKX, HOLDLOCK)" in sql


def test_installing_the_same_file_again_changes_nothing(
    session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    data = make_license(vendor_key)
    install(session, data)
    before = snapshot(session)
    install(session, data)
    assert snapshot(session) == before


def test_fewer_seats_keep_held_seats_and_their_ids(
    session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    install(session, make_license(vendor_key, seats=6))
    held = [claim(session, n) for n in range(1, 7)]
    for seat in held[:3]:
        seats.release_seat(session, seat.id, ADMIN)
    session.commit()
    install(session, make_license(vendor_key, seats=3))
    assert slot_numbers(session) == [1, 2, 3]
    listed = seats.list_seats(session)
    assert sorted(s.id for s in listed) == sorted(s.id for s in held[3:])
    assert sorted(s.hostname for s in listed) == ["RUM-4", "RUM-5", "RUM-6"]
    assert claim(session, 5).id == held[4].id  # the same machine still has its own seat


BAD_INPUTS = [
    "tampered",
    "unknown key",
    "truncated",
    "image",
    "noise",
    "invalid utf-8",
    "expired",
    "future",
    "demo file",
    "empty",
]


def _bad_input(kind: str, key: Ed25519PrivateKey) -> tuple[bytes, str]:
    good = make_license(key, seats=3)
    if kind == "tampered":
        return good.replace(b"seats: 3", b"seats: 9"), "changed since the vendor signed it"
    if kind == "unknown key":
        return make_license(Ed25519PrivateKey.generate(), seats=3), "does not trust"
    if kind == "truncated":
        return good[: len(good) * 2 // 3], "incomplete"
    if kind == "image":
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
        return buffer.getvalue(), "not an ImageBank license file"
    if kind == "noise":
        return os.urandom(10 * 1024 * 1024), "not an ImageBank license file"
    if kind == "invalid utf-8":
        return good.replace("å".encode(), b"\xe5"), "not an ImageBank license file"
    if kind == "expired":
        return (
            make_license(
                key, created=TODAY - dt.timedelta(days=400), expires=TODAY - dt.timedelta(days=1)
            ),
            "expired on",
        )
    if kind == "future":
        # From the clock at call time, two days ahead: a run across midnight stays right.
        return make_license(key, created=dt.date.today() + dt.timedelta(days=2)), "in the future"
    if kind == "demo file":
        return (
            b"ibdesk-license: 1\nlicense-id: d1\nkey-id: demo\nlicensee: DEMO x\n"
            b"org-number: 000000-0000\nseats: 3\ncreated: 2026-01-01\ndemo: true\n"
            b"database-id: abc\nsignature: none\n",
            "demo license",
        )
    assert kind == "empty"
    return b"", "not an ImageBank license file"


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_is_one_sentence_and_changes_nothing(
    session: Session, vendor_key: Ed25519PrivateKey, kind: str
) -> None:
    install(session, make_license(vendor_key, seats=5, license_id="installed"))
    claim(session, 1)
    claim(session, 2)
    before = snapshot(session)
    data, message = _bad_input(kind, vendor_key)
    with pytest.raises(UserError, match=message) as caught:
        licensing.install_license(session, data, ADMIN)
    text = str(caught.value)
    assert "\n" not in text and text.endswith(".") and text.count(". ") == 0
    assert snapshot(session) == before  # nothing written, not even pending
    session.rollback()
    assert snapshot(session) == before
    current = licensing.current_license(session)
    assert current is not None and current.license_id == "installed" and current.active_seats == 2


def test_fewer_seats_than_active_names_the_seats_to_free_and_changes_nothing(
    session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    install(session, make_license(vendor_key, seats=5, license_id="installed"))
    held = [claim(session, n) for n in range(1, 6)]
    for n in (3, 1, 4, 2, 5):  # RUM-3 seen longest ago, then RUM-1
        seats.heartbeat(session, f"02:00:00:00:00:{n:02x}", f"machine-{n}")
        session.commit()
    before = snapshot(session)
    with pytest.raises(Refused) as caught:
        licensing.install_license(session, make_license(vendor_key, seats=3), ADMIN)
    text = str(caught.value)
    assert "has 3 seats but 5 workstations hold one" in text and "free 2 first" in text
    assert f"RUM-3 (seat ID {held[2].id})" in text and f"RUM-1 (seat ID {held[0].id})" in text
    assert "RUM-2" not in text and "\n" not in text
    session.rollback()
    assert snapshot(session) == before
    seats.release_seat(session, held[2].id, ADMIN)
    seats.release_seat(session, held[0].id, ADMIN)
    session.commit()
    assert install(session, make_license(vendor_key, seats=3)).active_seats == 3


# --- reading back ---------------------------------------------------------------------------


def test_current_license_verifies_the_stored_document(
    session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    install(session, make_license(vendor_key, seats=3))
    session.execute(update(License).values(seats=50))
    session.commit()
    info = licensing.current_license(session)
    assert info is not None and info.seats == 3 and info.valid  # the column is not believed
    row = session.scalars(select(License)).one()
    row.document = row.document.replace("seats: 3", "seats: 50")
    session.commit()
    info = licensing.current_license(session)
    assert info is not None and not info.valid and info.trust is None
    assert info.problem is not None and "changed since the vendor signed it" in info.problem


def test_a_license_trusted_only_by_environment_fails_where_the_key_is_not_trusted(
    session: Session, vendor_key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(session, make_license(vendor_key))
    monkeypatch.delenv("IBDESK_TRUST_KEY")
    info = licensing.current_license(session)
    assert info is not None and not info.valid
    assert info.problem is not None and "does not trust" in info.problem
    assert info.notice is None and info.title == "License"


def test_expiry_is_checked_when_read(session: Session, vendor_key: Ed25519PrivateKey) -> None:
    install(session, make_license(vendor_key, expires=TODAY + dt.timedelta(days=10)))
    last_day = licensing.current_license(session, today=TODAY + dt.timedelta(days=10))
    assert last_day is not None and last_day.valid
    later = licensing.current_license(session, today=TODAY + dt.timedelta(days=11))
    assert later is not None and later.problem is not None and "expired on" in later.problem
    assert later.title == "TEST license"  # still labelled by the key that signed it


def test_no_license_reads_as_none(session: Session) -> None:
    assert licensing.current_license(session) is None
    assert licensing.license_history(session) == []


# --- demo licenses --------------------------------------------------------------------------


def test_demo_license_says_demo_and_grants_three_seats(session: Session) -> None:
    db_settings.put(session, db_settings.CLINIC_NAME, "Tandvården Demo")
    info = licensing.make_demo_license(session, ADMIN)
    session.commit()
    assert info.is_demo and info.valid and info.seats == 3 and info.trust is Trust.DEMO
    assert info.title == "DEMO license" and info.notice is not None and "DEMO" in info.notice
    assert info.licensee.startswith("DEMO") and "DEMO" in info.registered_to
    assert info.as_dict()["is_demo"] is True
    assert [claim(session, n).slot for n in (1, 2, 3)] == [1, 2, 3]
    with pytest.raises(Refused, match="All 3 seats"):
        claim(session, 4)
    session.rollback()
    again = licensing.make_demo_license(session, ADMIN)
    assert again.row_id == info.row_id  # idempotent


def test_demo_license_works_only_in_its_own_database(session: Session) -> None:
    licensing.make_demo_license(session, ADMIN)
    session.commit()
    db_settings.put(session, licensing.DEMO_DATABASE_ID, "another-database")
    session.commit()
    with pytest.raises(Refused, match="belongs to another database"):
        claim(session, 1)
    session.rollback()
    info = licensing.current_license(session)
    assert info is not None and info.is_demo and not info.valid


def test_demo_license_with_more_seats_written_in_grants_nothing(session: Session) -> None:
    licensing.make_demo_license(session, ADMIN)
    row = session.scalars(select(License)).one()
    row.document = row.document.replace("seats: 3", "seats: 30")
    session.commit()
    with pytest.raises(Refused, match="at most 3 seats"):
        claim(session, 1)


def test_a_real_license_voids_the_demo_and_blocks_new_ones(
    session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    demo = licensing.make_demo_license(session, ADMIN)
    session.commit()
    install(session, make_license(vendor_key, seats=4))
    old = next(h for h in licensing.license_history(session) if h.row_id == demo.row_id)
    assert old.is_demo and old.problem is not None and "real license" in old.problem
    with pytest.raises(Refused, match="has held a real license"):
        licensing.make_demo_license(session, ADMIN)
    session.rollback()
    current = licensing.current_license(session)
    assert current is not None and current.seats == 4 and not current.is_demo
