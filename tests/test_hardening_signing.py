"""A signature covers every file of a set: a stored SHA-256 changed behind the program's back
(and the file replaced to match) is named by verify, whichever file of several it is."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from factories import ACTOR, make_image_set, make_media
from ibdesk import clinic_settings
from ibdesk.patients import signing


@pytest.mark.parametrize("changed", [0, 1, 2])
def test_verify_names_the_one_file_whose_stored_hash_was_changed(
    session: Session, tmp_path: Path, changed: int
) -> None:
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path))
    image_set = make_image_set(session)
    items = []
    for n in range(3):
        data = f"pixels {n}".encode()
        (tmp_path / f"{n}.png").write_bytes(data)
        items.append(
            make_media(
                session,
                image_set,
                path=f"{n}.png",
                byte_size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    signing.sign(session, ACTOR, image_set.id)
    session.commit()
    assert signing.verify(session, image_set.id).ok
    forged = f"forged {changed}".encode()[: len(f"pixels {changed}")]
    (tmp_path / f"{changed}.png").write_bytes(forged)
    session.execute(
        text("UPDATE media_item SET sha256 = :sha WHERE id = :id"),
        {"sha": hashlib.sha256(forged).hexdigest(), "id": items[changed].id},
    )
    session.commit()
    session.expire_all()
    problems = signing.verify(session, image_set.id).problems
    assert problems and all(f"{changed}.png" in p for p in problems), problems
