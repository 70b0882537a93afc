"""The Patients tab through real requests (CSRF on): search, details, thumbnails, signing,
delete/restore/purge, and a clear message on the page for every kind of bad input."""

from __future__ import annotations

import functools
import hashlib
import html
import io
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from factories import ACTOR, make_image_set, make_patient
from ibdesk import clients, clinic_settings, tabs
from ibdesk.app import create_app
from ibdesk.blueprints import patients as patients_view
from ibdesk.db import session_scope
from ibdesk.demo import content as demo_content
from ibdesk.models import AuditEvent, ImageSet, MediaItem, Patient
from ibdesk.patients import thumbnails
from webfixtures import ADMIN_NAME, HX, TEST_PORT
from webfixtures import post as post_from

TABS = tuple(t for t in tabs.TABS if t.id in ("logs", "patients"))


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """Return the app with the Patients and Logs tabs only (other tabs are not under test)."""
    application = create_app(db_option=db_url, testing=True, port=TEST_PORT, tab_list=TABS)
    yield application
    application.extensions["ibdesk.jobs"].shutdown()
    application.extensions["ibdesk.database"].dispose()


def short(number: str) -> str:
    """Return the number as staff often type it: YYMMDD-NNNN."""
    return f"{number[2:8]}-{number[8:]}"


def text(response: TestResponse) -> str:
    """Return the page's text with entities decoded (Jinja writes ' as &#39;)."""
    return html.unescape(response.get_data(as_text=True))


post = functools.partial(post_from, page="/patients/")  # as the Patients page posts


@pytest.fixture
def check(engine: Engine) -> Callable[[Any], Any]:
    """Return a function that reads one value in a read-only session of its own.

    The test's own session is closed once the data is made: on SQLite an open write
    transaction would keep the app from writing.
    """

    def read(statement: Any) -> Any:
        with session_scope(engine, read_only=True) as reader:
            return reader.scalar(statement)

    return read


def with_files(session: Session, folder: Path) -> tuple[str, ImageSet]:
    """Make a patient's image set with a 16-bit X-ray and a colour photo really on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
    patient = make_patient(session)
    image_set = make_image_set(session, patient, description="Årskontroll")
    rng = random.Random(9)
    for name, kind, made in (
        ("p/röntgen 11.png", "intraoral", demo_content.xray_png(rng, panoramic=False)),
        ("p/foto ö.jpg", "photo", demo_content.photo_jpeg(rng)),
    ):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(made.data)
        clients.add_media(
            session,
            ACTOR,
            image_set.id,
            kind=kind,
            path=name,
            byte_size=len(made.data),
            sha256=hashlib.sha256(made.data).hexdigest(),
            width=made.width,
            height=made.height,
            bit_depth=made.bit_depth,
            teeth="11" if kind == "intraoral" else "",
        )
    session.commit()
    return patient.personnummer, image_set


def set_url(number: str, set_id: int, action: str) -> str:
    return f"/patients/{number}/sets/{set_id}/{action}"


def test_search_by_typed_short_form_by_name_and_blank_pages_with_more(
    client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    asa = make_patient(session, first_name="Åsa", last_name="Öberg")
    others = [make_patient(session, first_name="Per", last_name="Berg") for _ in range(2)]
    page = text(client.get("/patients/", query_string={"q": short(asa.personnummer)}))
    assert (
        "Öberg, Åsa" in page
        and f'href="/patients/?q={short(asa.personnummer)}&patient={asa.personnummer}"' in page
    )
    assert "Berg, Per" not in page
    partial = client.get("/patients/", query_string={"q": "öb"}, headers=HX)
    assert "<html" not in text(partial) and "Öberg, Åsa" in text(partial)
    assert "Berg, Per" not in text(partial)

    monkeypatch.setattr(patients_view, "SEARCH_PAGE", 2)
    first = text(client.get("/patients/", headers=HX))
    more = re.search(r'hx-get="(/patients/more\?[^"]+)"', first)
    assert more, first
    rest = text(client.get(more.group(1).replace("&amp;", "&"), headers=HX))
    assert "<table" not in rest and "More patients" not in rest
    shown = re.findall(r'href="/patients/\?q=&patient=(\d{12})"', first + rest)
    assert shown == sorted(p.personnummer for p in [asa, *others])


def test_search_says_what_is_wrong_or_that_nothing_matches(
    client: FlaskClient, session: Session
) -> None:
    make_patient(session)
    bad = client.get("/patients/", query_string={"q": "19121212-12a4"}, headers=HX)
    assert bad.status_code == 400 and "Letters are not allowed" in text(bad)
    assert "cannot be searched" in text(bad)
    none = client.get("/patients/", query_string={"q": "Zäta"})
    assert none.status_code == 200 and "No patient matches “Zäta”" in text(none)


def test_details_show_the_patient_log_the_view_and_never_wait_for_files(
    client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path / "tomt"))
    patient = make_patient(
        session, first_name="Örjan", last_name="Ängström", note="Tandvårdsrädd", city="Malmö"
    )
    image_set = make_image_set(session, patient)
    for n in range(200):  # rows only: none of these files exists
        clients.add_media(
            session, ACTOR, image_set.id, kind="intraoral", path=f"saknas/{n}.png",
            byte_size=10, sha256=f"{n:064x}", width=10, height=10, bit_depth=16,
        )  # fmt: skip
    session.commit()
    response = client.get(f"/patients/{short(patient.personnummer)}")
    page = text(response)
    assert response.status_code == 200
    for shown in ("Ängström, Örjan", "Tandvårdsrädd", "Malmö", "031-123456", "200 media"):
        assert shown in page, shown
    assert f"{patient.personnummer[:8]}-{patient.personnummer[8:]}" in page
    assert len(re.findall(r'<img src="/patients/media/\d+/thumbnail" loading="lazy"', page)) == 200
    assert not thumbnails.cache_dir().exists()  # the page itself never touches a file
    views = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.view")).all()
    assert [(v.personnummer, v.user_name) for v in views] == [(patient.personnummer, ADMIN_NAME)]
    assert f'href="/logs/patient/{patient.personnummer}"' in page  # the log extract, one click
    session.close()  # SQLite: the lookup of a number stored as typed must not wait on a lock
    missing = client.get("/patients/191212121213")
    assert missing.status_code == 400 and "check digit" in text(missing)


def test_sign_verify_and_unsign_with_a_reason(
    client: FlaskClient, session: Session, check: Callable[[Any], Any], tmp_path: Path
) -> None:
    folder = tmp_path / "Bilder åäö"
    number, image_set = with_files(session, folder)
    session.close()
    signed_by = select(ImageSet.signed_by).where(ImageSet.id == image_set.id)
    signed = post(client, set_url(number, image_set.id, "sign"))
    assert signed.status_code == 200 and "<html" not in text(signed)
    assert "Image set signed by " + ADMIN_NAME in text(signed)
    assert ">Verify</button>" in text(signed) and "Reason for unsigning" in text(signed)
    assert check(signed_by) == ADMIN_NAME
    ok = post(client, set_url(number, image_set.id, "verify"))
    assert "matches its signature" in text(ok)

    (folder / "p/foto ö.jpg").unlink()
    changed = post(client, set_url(number, image_set.id, "verify"))
    assert changed.status_code == 200 and "does NOT match" in text(changed)
    assert "File p/foto ö.jpg is missing from the image folder." in text(changed)

    reason = f"set{image_set.id}-reason"
    no_reason = post(client, set_url(number, image_set.id, "unsign"), {reason: "  "})
    assert no_reason.status_code == 422 and "Give a reason for unsigning" in text(no_reason)
    assert check(signed_by) == ADMIN_NAME
    unsigned = post(client, set_url(number, image_set.id, "unsign"), {reason: "Fel tand angiven"})
    assert unsigned.status_code == 200 and "Signature removed" in text(unsigned)
    assert "Sign image set" in text(unsigned)
    assert check(signed_by) is None
    changes = check(select(AuditEvent.changes).where(AuditEvent.action == "image_set.unsign"))
    assert "Fel tand angiven" in changes
    forged = client.post(set_url(number, image_set.id, "sign"), headers=HX)  # no CSRF token
    assert forged.status_code == 400 and "Form expired" in text(forged)
    assert check(signed_by) is None


def test_signing_an_empty_set_says_so_and_changes_nothing(
    client: FlaskClient, session: Session, check: Callable[[Any], Any]
) -> None:
    patient = make_patient(session)
    image_set = make_image_set(session, patient)
    session.close()
    url = set_url(patient.personnummer, image_set.id, "sign")
    refused = post(client, url)
    assert refused.status_code == 409 and "holds no media" in text(refused)
    assert "Sign image set" in text(refused)  # the set is shown again, still signable
    without_htmx = post(client, url, htmx=False)
    assert without_htmx.status_code == 303
    assert "holds no media" in text(client.get(without_htmx.location))  # flashed
    count = select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("image_%"))
    assert check(count) == 1  # only image_set.create
    assert check(select(ImageSet.signed_at).where(ImageSet.id == image_set.id)) is None


def test_delete_with_the_number_typed_restore_and_purge(
    client: FlaskClient, session: Session, check: Callable[[Any], Any], tmp_path: Path
) -> None:
    number, image_set = with_files(session, tmp_path / "bilder")
    session.close()
    base = f"/patients/{number}"
    deleted_at = select(Patient.deleted_at).where(Patient.personnummer == number)

    empty = post(client, f"{base}/delete", {"delete-confirm": ""})
    assert empty.status_code == 422 and "Type the patient's personnummer" in text(empty)
    wrong = post(client, f"{base}/delete", {"delete-confirm": "19121212-1212"})
    assert wrong.status_code == 409 and "does not match" in text(wrong)
    assert check(deleted_at) is None

    deleted = text(post(client, f"{base}/delete", {"delete-confirm": short(number)}))
    assert "is deleted" in deleted and "Restore patient" in deleted
    assert 'id="patient-facts" aria-labelledby="patient-name" hx-swap-oob="true"' in deleted
    assert 'data-field="status">Deleted' in deleted
    assert check(deleted_at) is not None
    assert "badge-deleted" in text(client.get("/patients/", query_string={"q": number}))
    restored = text(post(client, f"{base}/restore"))
    assert "is restored" in restored and "Delete patient" in restored
    assert check(deleted_at) is None

    post(client, set_url(number, image_set.id, "sign"))
    refused = post(client, f"{base}/purge", {"purge-confirm": number})
    assert refused.status_code == 409 and "cannot be purged" in text(refused)
    assert check(select(func.count()).select_from(MediaItem)) == 2
    post(client, set_url(number, image_set.id, "unsign"), {f"set{image_set.id}-reason": "Rensas"})
    purged = post(client, f"{base}/purge", {"purge-confirm": short(number)})
    assert purged.status_code == 204 and purged.headers["HX-Redirect"] == "/patients/"
    assert "is purged: 1 image set(s) and 2 media removed, 2 file(s) deleted" in text(
        client.get("/patients/")
    )
    assert check(select(func.count()).select_from(Patient)) == 0
    assert not (tmp_path / "bilder/p/röntgen 11.png").exists()


def test_thumbnails_come_from_the_files_and_never_from_outside_the_folder(
    client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    _, image_set = with_files(session, tmp_path / "bilder")
    xray, photo = session.scalars(select(MediaItem).order_by(MediaItem.id)).all()
    (tmp_path / "hemlig.txt").write_text("personnummer och journal")
    outside = clients.add_media(
        session, ACTOR, image_set.id, kind="photo", path="p/hemlig.txt",
        byte_size=1, sha256="cd" * 32, width=1, height=1, bit_depth=8,
    )  # fmt: skip
    # The workstations' contract refuses such a path; raw SQL (or a damaged row) does not.
    session.execute(
        update(MediaItem).where(MediaItem.id == outside.id).values(path="../hemlig.txt")
    )
    document = clients.add_media(
        session, ACTOR, image_set.id, kind="document", path="p/remiss.pdf",
        byte_size=1, sha256="ef" * 32,
    )  # fmt: skip
    session.commit()
    session.close()

    ready = client.get(f"/patients/media/{xray.id}/thumbnail")
    assert ready.status_code == 200 and ready.mimetype == "image/jpeg"
    assert ready.headers["X-Ibdesk-Thumbnail"] == "ready"
    with Image.open(io.BytesIO(ready.data)) as image:
        assert max(image.size) == thumbnails.SIZE
    ready.close()
    refused = client.get(f"/patients/media/{outside.id}/thumbnail")
    assert refused.headers["X-Ibdesk-Thumbnail"] == "unreadable"
    assert refused.mimetype == "image/svg+xml" and b"journal" not in refused.data
    icon = client.get(f"/patients/media/{document.id}/thumbnail")
    assert icon.headers["X-Ibdesk-Thumbnail"] == "icon" and b"Document" in icon.data
    (tmp_path / "bilder" / photo.path).unlink()
    gone = client.get(f"/patients/media/{photo.id}/thumbnail")
    assert gone.status_code == 200 and gone.headers["X-Ibdesk-Thumbnail"] == "missing"
    assert client.get("/patients/media/999999/thumbnail").status_code == 404
    assert client.get("/patients/media/..%2Fetc/thumbnail").status_code == 404
