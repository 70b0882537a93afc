"""Signing image sets: read-only while signed, unsign with a reason, verify names changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from factories import ACTOR, make_image_set, make_media
from ibdesk import clients, clinic_settings
from ibdesk.audit import Actor
from ibdesk.errors import Refused, UserError
from ibdesk.models import AuditEvent, ImageSet, MediaItem, Right
from ibdesk.patients import signing


def test_only_an_administrator_unsigns_at_a_workstation(session: Session) -> None:
    image_set = make_media(session).image_set
    clinician = Actor("dr.berg", "RUM-1", frozenset({Right.VIEW_PATIENTS, Right.SIGN}))
    clients.sign(session, clinician, image_set.id)
    session.commit()
    with pytest.raises(Refused, match=r"dr\.berg may not do that"):
        clients.unsign(session, clinician, image_set.id, "Fel tand angiven")
    session.rollback()
    assert session.get(ImageSet, image_set.id).signed_by == "dr.berg"  # type: ignore[union-attr]
    admin = Actor("chef", "RUM-1", frozenset({Right.VIEW_PATIENTS, Right.ADMINISTER}))
    clients.unsign(session, admin, image_set.id, "Fel tand angiven")
    session.commit()
    assert session.get(ImageSet, image_set.id).signed_at is None  # type: ignore[union-attr]


def _with_file(session: Session, folder: Path, name: str, data: bytes) -> MediaItem:
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
    (folder / name).write_bytes(data)
    return make_media(
        session, path=name, byte_size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def test_sign_verify_unsign_cycle(session: Session, tmp_path: Path) -> None:
    item = _with_file(session, tmp_path, "a.png", b"pixels")
    image_set = signing.sign(session, ACTOR, item.image_set_id)
    session.commit()
    assert image_set.signed_by == ACTOR.user and len(image_set.signature_digest or "") == 64
    assert signing.verify(session, image_set.id).ok
    with pytest.raises(Refused, match="signed"):
        clients.update_media(session, ACTOR, item.id, comment="ändrad")
    session.rollback()
    with pytest.raises(UserError, match="reason"):
        signing.unsign(session, ACTOR, image_set.id, "  ")
    signing.unsign(session, ACTOR, image_set.id, "Fel tand angiven")
    session.commit()
    clients.update_media(session, ACTOR, item.id, comment="ändrad")
    session.commit()
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-3:] == ["image_set.sign", "image_set.unsign", "media.update"]


def test_signing_an_empty_set_is_refused(session: Session) -> None:
    image_set = make_image_set(session)
    with pytest.raises(Refused, match="no media"):
        signing.sign(session, ACTOR, image_set.id)


def test_verify_names_a_changed_field(session: Session, tmp_path: Path) -> None:
    item = _with_file(session, tmp_path, "a.png", b"pixels")
    signing.sign(session, ACTOR, item.image_set_id)
    session.commit()
    session.execute(update(MediaItem).where(MediaItem.id == item.id).values(teeth="11"))
    session.commit()
    result = signing.verify(session, item.image_set_id)
    assert not result.ok
    assert result.problems == [f"Media item {item.id}: teeth changed from '11,21' to '11'."]


def test_verify_names_a_changed_or_missing_file(session: Session, tmp_path: Path) -> None:
    item = _with_file(session, tmp_path, "a.png", b"pixels")
    signing.sign(session, ACTOR, item.image_set_id)
    session.commit()
    (tmp_path / "a.png").write_bytes(b"other pixels")
    assert signing.verify(session, item.image_set_id).problems == [
        "File a.png was changed on disk (its SHA-256 differs)."
    ]
    (tmp_path / "a.png").unlink()
    assert signing.verify(session, item.image_set_id).problems == [
        "File a.png is missing from the image folder."
    ]


def test_verify_catches_an_edited_digest(session: Session, tmp_path: Path) -> None:
    item = _with_file(session, tmp_path, "a.png", b"pixels")
    signing.sign(session, ACTOR, item.image_set_id)
    session.commit()
    session.execute(text("UPDATE image_set SET signature_digest = :d"), {"d": "f" * 64})
    session.commit()
    session.expire_all()
    problems = signing.verify(session, item.image_set_id).problems
    assert problems and "signature record itself was changed" in problems[0]


def test_unsigned_set_cannot_be_verified(session: Session) -> None:
    item = make_media(session)
    with pytest.raises(Refused, match="not signed"):
        signing.verify(session, item.image_set_id)
    assert session.get(ImageSet, item.image_set_id).signed_at is None  # type: ignore[union-attr]
