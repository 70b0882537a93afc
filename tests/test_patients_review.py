"""The Patients tab against what a review found: damaged cursors, the sign right, another
patient's set, verify's words in Swedish, and a purge that leaves no copy of a picture."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_patients_views import app, check, post, set_url, text, with_files

from factories import ACTOR, USER_PASSWORD, make_image_set, make_patient, make_user
from ibdesk import i18n
from ibdesk.models import ImageSet, MediaItem, Right
from ibdesk.patients import signing, thumbnails
from ibdesk.users import groups
from webfixtures import HX, sign_in

__all__ = ["app", "check"]  # fixtures, imported for pytest to find


@pytest.mark.parametrize(
    "cursor",
    ["andersson a\x1f²", "andersson a\x1f99999999999999999999", "andersson a\x1f-1"],
    ids=["unicode-digit", "too-large", "negative"],
)
def test_a_damaged_name_cursor_is_a_sentence_not_a_500(client: FlaskClient, cursor: str) -> None:
    for path in ("/patients/", "/patients/more"):
        answer = client.get(path, query_string={"q": "an", "cursor": cursor}, headers=HX)
        assert answer.status_code == 400, (path, answer.status_code)
        assert "This page's address is damaged; search again." in text(answer)


def test_signing_needs_the_sign_right_also_for_an_administrator(
    client: FlaskClient, session: Session, check: Callable[[Any], Any], tmp_path: Path
) -> None:
    number, image_set = with_files(session, tmp_path / "bilder")
    groups.create_group(session, ACTOR, "Förvaltning", rights=(Right.ADMINISTER.value,))
    make_user(session, username="forvaltare", groups=["Förvaltning"])
    session.commit()
    session.close()
    assert sign_in(client, "forvaltare", USER_PASSWORD).status_code in (302, 303)
    refused = post(client, set_url(number, image_set.id, "sign"))
    assert refused.status_code == 409  # Refused, as every refusal of the program
    assert "needs the right “Sign image sets”" in text(refused)
    assert check(select(ImageSet.signed_at).where(ImageSet.id == image_set.id)) is None


def test_an_address_naming_another_patients_set_changes_nothing(
    client: FlaskClient, session: Session, check: Callable[[Any], Any], tmp_path: Path
) -> None:
    number, image_set = with_files(session, tmp_path / "bilder")
    other = make_patient(session)
    session.commit()
    session.close()
    for action in ("sign", "verify"):
        wrong = post(client, set_url(other.personnummer, image_set.id, action))
        assert wrong.status_code == 404, action
        assert f"has no image set {image_set.id}" in text(wrong)
    assert check(select(ImageSet.signed_at).where(ImageSet.id == image_set.id)) is None
    assert post(client, set_url(number, image_set.id, "sign")).status_code == 200


def test_what_changed_since_signing_is_said_in_swedish(session: Session, tmp_path: Path) -> None:
    _number, image_set = with_files(session, tmp_path / "bilder")
    signing.sign(session, ACTOR, image_set.id)
    session.commit()
    item = session.scalars(select(MediaItem).where(MediaItem.kind == "intraoral")).one()
    item.teeth, image_set.description = "21", "Akut"
    session.commit()
    try:
        i18n.use_language("sv")
        problems = signing.verify(session, image_set.id).problems
    finally:
        i18n.use_language(None)
    assert "Bildsetets beskrivning ändrades från 'Årskontroll' till 'Akut'." in problems
    assert f"Mediet {item.id}: tänder ändrades från '11' till '21'." in problems


def test_a_purge_removes_the_kept_thumbnails_of_its_pictures(
    client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    number, _image_set = with_files(session, tmp_path / "bilder")
    xray, photo = session.scalars(select(MediaItem).order_by(MediaItem.id)).all()
    # Another patient's row with the same content keeps its (shared) thumbnail.
    keeper = make_image_set(session, make_patient(session))
    twin = MediaItem(
        image_set_id=keeper.id, patient_id=keeper.patient_id, kind="photo", path="q/kopia.jpg",
        byte_size=photo.byte_size, sha256=photo.sha256, width=photo.width,
        height=photo.height, bit_depth=photo.bit_depth,
    )  # fmt: skip
    session.add(twin)
    session.commit()
    session.close()
    for media_id in (xray.id, photo.id):
        shown = client.get(f"/patients/media/{media_id}/thumbnail")
        assert shown.headers["X-Ibdesk-Thumbnail"] == "ready"
        shown.close()
    assert thumbnails.cache_path(xray.sha256).exists()
    assert thumbnails.cache_path(photo.sha256).exists()
    purged = post(client, f"/patients/{number}/purge", {"purge-confirm": number})
    assert purged.status_code == 204
    assert not list(thumbnails.cache_path(xray.sha256).parent.glob(f"{xray.sha256}-*"))
    assert thumbnails.cache_path(photo.sha256).exists()  # still shown for the other patient
