"""The Licensing tab through real requests: install a file, refuse bad ones changing nothing,
DEMO and TEST markings, history, and freeing a seat after a confirmation."""

from __future__ import annotations

import datetime as dt
import html
import io
import os
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from factories import make_license
from ibdesk import i18n, licensing
from ibdesk.audit import Actor
from ibdesk.errors import UserError
from ibdesk.licensing import seats
from ibdesk.models import License, SeatActivation, SystemEvent
from webfixtures import ADMIN_NAME, HX, app, client, csrf_token

__all__ = ["app", "client"]  # fixtures, imported for pytest to find

ADMIN = Actor(user="admin", machine="SERVER")
TODAY = dt.date.today()
LICENSEE = "Folktandvården Exempelstad AB"


def upload(
    test_client: FlaskClient, data: bytes | None, name: str = "klinik.ibdesk-license", **kw: Any
) -> Any:
    """Send a license file through the install form, CSRF token and all."""
    form: dict[str, Any] = {"csrf_token": csrf_token(test_client, "/licensing/")}
    if data is not None:
        form["file"] = FileStorage(io.BytesIO(data), filename=name)
    # Encoded in memory: the test client would spool a large body to a file it never closes.
    boundary, body = encode_multipart(form)
    return test_client.post(
        "/licensing/install",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        **kw,
    )


def claim(session: Session, n: int, host: str | None = None) -> seats.SeatInfo:
    seat = seats.claim_seat(
        session, f"02:00:00:00:00:{n:02x}", f"machine-{n}", host or f"Röntgen-RUM-{n}"
    )
    session.commit()
    return seat


def snapshot(session: Session) -> tuple[Any, ...]:
    """Return everything an install may change: licenses, seat slots, system log."""
    licenses = session.execute(
        select(License.id, License.license_id, License.is_current, License.document)
    ).all()
    slots = session.execute(
        select(SeatActivation.id, SeatActivation.slot, SeatActivation.mac).order_by(
            SeatActivation.id
        )
    ).all()
    events = session.execute(select(func.count()).select_from(SystemEvent)).scalar_one()
    session.rollback()  # SQLite: a reading session here would hold the write lock
    return (sorted(licenses), slots, events)


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_a_license_installed_through_the_form_shows_everywhere_with_its_test_marking(
    client: FlaskClient, session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    empty = text_of(client.get("/licensing/"))
    assert "No license is installed" in empty and 'aria-current="page">Licensing<' in empty
    content = text_of(client.get("/licensing/", headers=HX))
    assert content.lstrip().startswith('<div id="licensing">') and "<html" not in content
    expires = TODAY + dt.timedelta(days=335)
    data = make_license(vendor_key, expires=expires, license_id="lic-2026-001")
    unsigned = client.post("/licensing/install", data={"file": (io.BytesIO(data), "x")})
    assert unsigned.status_code == 400  # no CSRF token
    response = upload(client, data, headers=HX)
    assert response.status_code == 200
    partial = text_of(response)
    assert partial.lstrip().startswith('<div id="licensing">')
    assert f"Installed test license lic-2026-001 for {LICENSEE} (556012-5790) with 10 seats." in (
        partial
    )
    current = partial[partial.index('id="license-current"') : partial.index('id="license-install"')]
    assert "<h2" in current and ">TEST license</h2>" in current
    assert 'data-field="marking"' in current and ">TEST</span>" in current
    assert "TEST license: verified by a key trusted only through IBDESK_TRUST_KEY" in current
    assert f'data-field="registered-to">{LICENSEE} (556012-5790)<' in current
    assert 'data-field="seats">10<' in current and 'data-field="active-seats">0<' in current
    created = (TODAY - dt.timedelta(days=30)).isoformat()
    assert f'data-field="created">{created}<' in current
    assert f'data-field="expires">{expires.isoformat()}<' in current
    history = partial[partial.index('id="license-history"') :]
    assert (
        'data-license-id="lic-2026-001" class="lic-current"' in history
        and ">TEST</span>" in history
    )
    info = licensing.current_license(session)
    assert info is not None and info.license_id == "lic-2026-001"
    event = session.scalars(
        select(SystemEvent).where(SystemEvent.action == "license.install")
    ).one()
    assert event.user_name == ADMIN_NAME
    session.rollback()

    page = upload(client, make_license(vendor_key, seats=5, license_id="lic-2026-002"))
    full = text_of(page)
    assert page.status_code == 200 and full.startswith("<!doctype html>")
    assert 'data-field="seats">5<' in full and 'data-field="expires">Never<' in full
    rows = re.findall(r'<tr data-license-id="([^"]+)"', full)
    assert rows == ["lic-2026-002", "lic-2026-001"]  # newest first, the old one kept
    assert full.count("<strong>Current</strong>") == 1 and "Replaced" in full


BAD_FILES = [
    "tampered",
    "unknown key",
    "truncated",
    "image",
    "noise",
    "invalid utf-8",
    "expired",
    "fewer seats than active",
]


def bad_file(kind: str, key: Ed25519PrivateKey) -> bytes:
    good = make_license(key, seats=3)
    if kind == "tampered":
        return good.replace(b"seats: 3", b"seats: 9")
    if kind == "unknown key":
        return make_license(Ed25519PrivateKey.generate(), seats=3)
    if kind == "truncated":
        return good[: len(good) * 2 // 3]
    if kind == "image":
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
        return buffer.getvalue()
    if kind == "noise":
        return os.urandom(10 * 1024 * 1024)
    if kind == "invalid utf-8":
        return good.replace("å".encode(), b"\xe5")
    if kind == "expired":
        return make_license(
            key, created=TODAY - dt.timedelta(days=400), expires=TODAY - dt.timedelta(days=1)
        )
    assert kind == "fewer seats than active"
    return make_license(key, seats=1)


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_shows_the_domains_sentence_and_changes_nothing(
    client: FlaskClient, session: Session, vendor_key: Ed25519PrivateKey, kind: str
) -> None:
    licensing.install_license(session, make_license(vendor_key, license_id="installed"), ADMIN)
    session.commit()
    claim(session, 1)
    claim(session, 2)
    data, name = bad_file(kind, vendor_key), "Röntgen åäö.ibdesk-license"
    with pytest.raises(UserError) as caught:
        licensing.install_license(session, data, ADMIN, name=licensing.upload_name(name))
    expected = str(caught.value)
    before = snapshot(session)
    response = upload(client, data, name, headers=HX)
    if kind == "noise":  # 10 MB: refused on its size before it is read, with a sentence
        assert response.status_code == 413 and "too large" in text_of(response)
        assert snapshot(session) == before
        return
    assert response.status_code == 422
    partial = text_of(response)
    errors = partial[partial.index('id="file-errors"') :]
    assert errors[: errors.index("</ul>")].count("<li>") == 1
    assert f"<li>{expected}</li>" in errors and 'aria-invalid="true"' in partial
    assert "Installed test license" not in partial
    assert 'data-license-id="installed" class="lic-current"' in partial
    assert 'data-field="active-seats">2<' in partial
    assert snapshot(session) == before
    if kind == "image":
        assert expected == (
            "The file Röntgen åäö.ibdesk-license is not an ImageBank license file; "
            "choose the file the vendor sent."
        )


@pytest.mark.backends("sqlite")
def test_no_file_chosen_asks_for_one(app: Flask, client: FlaskClient) -> None:
    response = upload(client, None, headers=HX)
    assert response.status_code == 422
    assert "Choose the license file the vendor sent." in text_of(response)
    i18n.set_app_language(app, "sv")
    swedish = upload(client, None, headers=HX)
    assert "Välj licensfilen som leverantören skickade." in text_of(swedish)


def test_a_seat_is_freed_after_a_confirmation_and_logged(
    client: FlaskClient, session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    licensing.install_license(session, make_license(vendor_key, seats=3), ADMIN)
    session.commit()
    gone, stays = claim(session, 1), claim(session, 2, "Reception")
    page = text_of(client.get("/licensing/"))
    row = page[page.index(f'<tr id="seat-{gone.id}"') :]
    row = row[: row.index("</tr>")]
    assert "Röntgen-RUM-1" in row and "02:00:00:00:00:01" in row and "machine-1" in row
    assert row.count(gone.first_seen.astimezone().strftime("%Y-%m-%d %H:%M")) == 2
    assert 'data-field="seat-count">2 of 3 in use<' in page

    ask = client.get(f"/licensing/seats/{gone.id}/remove", headers=HX)
    question = text_of(ask)
    assert ask.status_code == 200 and question.lstrip().startswith(f'<tr id="seat-{gone.id}"')
    assert "Free seat 1 of Röntgen-RUM-1 (" in question
    assert 'autofocus="autofocus"' in question and 'name="csrf_token"' in question
    assert f'hx-post="/licensing/seats/{gone.id}/remove"' in question
    full = text_of(client.get(f"/licensing/seats/{gone.id}/remove"))
    assert full.startswith("<!doctype html>") and 'class="lic-confirm"' in full
    assert f'<tr id="seat-{stays.id}" data-seat-id="{stays.id}">' in full  # the other row stays

    token = csrf_token(client, "/licensing/")
    assert client.post(f"/licensing/seats/{gone.id}/remove", headers=HX).status_code == 400
    done = client.post(f"/licensing/seats/{gone.id}/remove", data={"csrf_token": token}, headers=HX)
    after = text_of(done)
    assert done.status_code == 200
    assert "Freed seat 1 of Röntgen-RUM-1 (02:00:00:00:00:01)" in after
    assert f'id="seat-{gone.id}"' not in after and f'id="seat-{stays.id}"' in after
    assert 'data-field="active-seats">1<' in after
    event = session.scalars(select(SystemEvent).where(SystemEvent.action == "seat.release")).one()
    assert event.user_name == ADMIN_NAME and "Röntgen-RUM-1" in event.detail
    assert [s.id for s in seats.list_seats(session)] == [stays.id]
    session.rollback()

    again = client.post(
        f"/licensing/seats/{gone.id}/remove", data={"csrf_token": token}, headers=HX
    )
    assert again.status_code == 409
    said = text_of(again)
    assert (
        said.lstrip().startswith('<div id="licensing">')
        and f"Seat ID {gone.id} is already free." in said
    )
    missing = client.get("/licensing/seats/999999/remove", headers=HX)
    assert missing.status_code == 404


@pytest.mark.backends("sqlite")
def test_demo_and_expired_licenses_say_so_wherever_they_show(
    client: FlaskClient, session: Session, vendor_key: Ed25519PrivateKey
) -> None:
    licensing.make_demo_license(session, ADMIN, clinic_name="Tandvårdshuset")
    session.commit()
    claim(session, 1)
    page = text_of(client.get("/licensing/"))
    current = page[page.index('id="license-current"') : page.index('id="license-install"')]
    assert ">DEMO license</h2>" in current and ">DEMO</span>" in current
    assert "DEMO license: for trying ImageBank with the demo database only" in current
    seat_panel = page[page.index('id="license-seats"') : page.index('id="license-history"')]
    assert "DEMO license: for trying ImageBank" in seat_panel
    seats.release_seat(session, seats.list_seats(session)[0].id, ADMIN)
    session.commit()

    lapsed = make_license(
        vendor_key, created=TODAY - dt.timedelta(days=400), expires=TODAY - dt.timedelta(days=5)
    )
    licensing.install_license(session, lapsed, ADMIN, today=TODAY - dt.timedelta(days=10))
    session.commit()
    page = text_of(client.get("/licensing/"))
    current = page[page.index('id="license-current"') : page.index('id="license-install"')]
    assert "This license does not grant seats" in current
    assert f"The license expired on {(TODAY - dt.timedelta(days=5)).isoformat()}" in current
    history = page[page.index('id="license-history"') :]
    demo_row = history[history.index('<tr data-license-id="demo-') :]
    demo_row = demo_row[: demo_row.index("</tr>")]
    assert ">DEMO</span>" in demo_row and "Replaced" in demo_row
    assert "Not valid: A demo license stops working once a real license" in demo_row
