"""Patients tab domain: search, details with view logging, delete/restore/purge."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from factories import ACTOR, make_image_set, make_media, make_patient, new_personnummer
from ibdesk import clinic_settings, patients
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.models import AuditEvent, ImageSet, MediaItem, Patient
from ibdesk.patients import signing


def test_search_by_every_typed_form_and_prefix(session: Session) -> None:
    number = new_personnummer(dt.date(1980, 5, 17))
    make_patient(session, personnummer=number, last_name="Ågren", first_name="Åsa")
    make_patient(session, personnummer=new_personnummer(dt.date(1981, 1, 2)))
    for typed in (
        number,
        f"{number[:8]}-{number[8:]}",
        f"{number[2:8]}-{number[8:]}",
        f"{number[:8]} {number[8:]}",
        "19800517",
        "198005",
    ):
        page = patients.search(session, typed)
        assert [r.personnummer for r in page.rows] == [number], typed
    assert len(patients.search(session, "198").rows) == 2
    assert [r.last_name for r in patients.search(session, "ågr").rows] == ["Ågren"]
    assert [r.last_name for r in patients.search(session, "  ÅGREN ").rows] == ["Ågren"]


def test_search_pages_with_keyset_cursor(session: Session) -> None:
    numbers = sorted(make_patient(session, last_name=f"Berg{i:02d}").personnummer for i in range(7))
    seen, cursor = [], None
    while True:
        page = patients.search(session, "", cursor=cursor, limit=3)
        seen += [r.personnummer for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == numbers
    names, cursor = [], None
    while True:
        page = patients.search(session, "berg", cursor=cursor, limit=2)
        names += [r.last_name for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert names == [f"Berg{i:02d}" for i in range(7)]


def test_search_matching_nothing_and_bad_numbers(session: Session) -> None:
    make_patient(session)
    assert patients.search(session, "zzz").rows == []
    with pytest.raises(UserError):
        patients.search(session, "1912x212-1212")


def test_details_are_logged_as_a_view(session: Session) -> None:
    item = make_media(session)
    number = item.image_set.patient.personnummer
    info = patients.details(session, number, actor=ACTOR)
    session.commit()
    assert info.media_count == 1 and info.image_sets[0].kind_counts == {"intraoral": 1}
    views = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.view")).all()
    assert [(v.personnummer, v.user_name) for v in views] == [(number, ACTOR.user)]


def test_delete_needs_the_number_typed_again_and_restores(session: Session) -> None:
    patient = make_patient(session)
    with pytest.raises(Refused, match="does not match"):
        patients.delete_patient(session, ACTOR, patient.personnummer, confirm="191212121212")
    session.rollback()
    assert session.get(Patient, patient.id).deleted_at is None  # type: ignore[union-attr]
    patients.delete_patient(
        session,
        ACTOR,
        patient.personnummer,
        confirm=f"{patient.personnummer[2:8]}-{patient.personnummer[8:]}",
    )
    session.commit()
    assert patients.search(session, patient.personnummer, include_deleted=False).rows == []
    assert patients.search(session, patient.personnummer).rows[0].deleted
    patients.restore_patient(session, ACTOR, patient.personnummer)
    session.commit()
    with pytest.raises(Refused, match="not deleted"):
        patients.restore_patient(session, ACTOR, patient.personnummer)


def test_purge_removes_rows_and_files_but_keeps_the_trail(session: Session, tmp_path: Path) -> None:
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path))
    item = make_media(session, path="p/1.png")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "1.png").write_bytes(b"x")
    number = item.image_set.patient.personnummer
    events_before = patients.audit_count(session, number)
    result = patients.purge_patient(session, ACTOR, number, confirm=number)
    assert (result.media, result.files_removed, result.files_left) == (1, 1, [])
    assert not (tmp_path / "p" / "1.png").exists()
    for model in (Patient, ImageSet, MediaItem):
        assert session.scalar(select(func.count()).select_from(model)) == 0
    assert patients.audit_count(session, number) == events_before + 1


def test_purge_never_removes_a_file_outside_the_folder_or_one_still_named(
    session: Session, tmp_path: Path
) -> None:
    images, outside = tmp_path / "images", tmp_path / "outside"
    images.mkdir()
    outside.mkdir()
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(images))
    victim = outside / "victim.txt"
    victim.write_bytes(b"not the clinic's")
    (images / "linked").symlink_to(outside, target_is_directory=True)
    (images / "leaf.png").symlink_to(victim)
    (images / "shared.png").write_bytes(b"s")
    (images / "own.png").write_bytes(b"o")
    patient = make_patient(session)
    image_set = make_image_set(session, patient=patient)
    stored = [str(victim), "../outside/victim.txt", "linked/victim.txt", "leaf.png", "own.png"]
    for path in [*stored, "shared.png"]:
        item = make_media(session, image_set=image_set)
        # Written as any database writer could, past the workstation API's own check.
        session.execute(update(MediaItem).where(MediaItem.id == item.id).values(path=path))
    session.commit()
    make_media(session, path="shared.png")  # another patient's row names the same file
    number = patient.personnummer
    result = patients.purge_patient(session, ACTOR, number, confirm=number)
    assert result.files_removed == 1 and not (images / "own.png").exists()
    assert sorted(result.files_left) == sorted(stored[:4])
    assert victim.read_bytes() == b"not the clinic's"
    assert (images / "leaf.png").is_symlink() and (images / "shared.png").exists()
    assert session.scalar(select(func.count()).select_from(MediaItem)) == 1


def test_purge_refused_with_a_signed_set(session: Session) -> None:
    item = make_media(session)
    signing.sign(session, ACTOR, item.image_set_id)
    session.commit()
    number = item.image_set.patient.personnummer
    with pytest.raises(Refused, match="signed"):
        patients.purge_patient(session, ACTOR, number, confirm=number)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(MediaItem)) == 1


def test_set_without_patient_number_is_named(session: Session) -> None:
    make_image_set(session)
    with pytest.raises(NotFound, match="No patient"):
        patients.details(session, new_personnummer())


def test_one_image_set_is_shown_as_on_the_details_page(session: Session) -> None:
    item = make_media(session, kind="photo", teeth="")
    make_media(session, item.image_set)
    info = patients.details(session, item.image_set.patient.personnummer)
    one = patients.image_set_view(session, item.image_set_id)
    assert one == info.image_sets[0]
    assert one.kind_counts == {"photo": 1, "intraoral": 1}
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "patient.view")) == 0  # fmt: skip
    with pytest.raises(NotFound, match="Image set 999999"):
        patients.image_set_view(session, 999999)
    with pytest.raises(UserError, match="damaged"):
        patients.search(session, "öberg", cursor="no-separator")
