"""The client contract: every change audited in its own transaction, signed sets read-only."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import ACTOR, make_image_set, make_media, make_patient, make_user, new_personnummer
from ibdesk import clients
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.models import AuditEvent, LoginEvent, MediaItem, Patient, utcnow


def _events(session: Session, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))


def test_create_patient_normalises_and_audits(session: Session) -> None:
    number = new_personnummer(dt.date(1985, 6, 15))
    typed = f"{number[2:8]}-{number[8:]}"
    patient = make_patient(session, personnummer=typed, first_name="Märta", last_name="Ågren")
    assert patient.personnummer == number
    assert patient.kind == "personnummer"
    assert patient.name_key == "ågren märta"
    (event,) = _events(session, "patient.create")
    assert event.patient_id == patient.id and event.personnummer == number
    assert event.user_name == ACTOR.user and event.machine == ACTOR.machine
    changes = json.loads(event.changes)
    assert changes["first_name"] == [None, "Märta"]
    assert changes["personnummer"] == [None, number]


def test_duplicate_patient_is_refused_and_nothing_written(session: Session) -> None:
    patient = make_patient(session)
    with pytest.raises(Refused, match="already exists"):
        clients.create_patient(session, ACTOR, patient.personnummer, first_name="X")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Patient)) == 1
    assert len(_events(session)) == 1


def test_bad_personnummer_gives_a_sentence(session: Session) -> None:
    with pytest.raises(ValueError, match=r"check digit|digit"):
        clients.create_patient(session, ACTOR, "19121212-1213")


def test_update_records_before_and_after(session: Session) -> None:
    patient = make_patient(session, phone="08-111")
    clients.update_patient(session, ACTOR, patient.id, phone="08-222", note="Allergi: latex")
    session.commit()
    (event,) = _events(session, "patient.update")
    assert json.loads(event.changes) == {
        "note": ["", "Allergi: latex"],
        "phone": ["08-111", "08-222"],
    }
    clients.update_patient(session, ACTOR, patient.id, phone="08-222")
    session.commit()
    assert len(_events(session, "patient.update")) == 1  # no change, no event


def test_unknown_field_is_refused(session: Session) -> None:
    patient = make_patient(session)
    with pytest.raises(UserError, match="not a patient field"):
        clients.update_patient(session, ACTOR, patient.id, personnummer="x")


def test_media_lifecycle_is_audited(session: Session) -> None:
    item = make_media(session, kind="photo", bit_depth=8, teeth="21, 11")
    assert item.teeth == "11,21"
    clients.update_media(session, ACTOR, item.id, comment="Karies 11")
    clients.delete_media(session, ACTOR, item.id)
    clients.undelete_media(session, ACTOR, item.id)
    session.commit()
    actions = [e.action for e in _events(session)]
    assert actions == [
        "patient.create",
        "image_set.create",
        "media.add",
        "media.update",
        "media.delete",
        "media.undelete",
    ]
    assert session.get(MediaItem, item.id).deleted_at is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "xray"}, "not a media kind"),
        ({"teeth": "19"}, "FDI"),
        ({"sha256": "abc"}, "SHA-256"),
        ({"path": "../secret.png"}, "inside the image folder"),
        ({"path": "/etc/passwd"}, "inside the image folder"),
        ({"path": "C:/x.png"}, "inside the image folder"),
        ({"byte_size": -1}, "negative"),
        ({"width": None}, "width"),
    ],
)
def test_bad_media_is_refused(session: Session, overrides: dict, message: str) -> None:
    image_set = make_image_set(session)
    before = len(_events(session))
    with pytest.raises(UserError, match=message):
        make_media(session, image_set, **overrides)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(MediaItem)) == 0
    assert len(_events(session)) == before


def test_signed_set_refuses_every_change(session: Session) -> None:
    item = make_media(session)
    image_set = item.image_set
    image_set.signed_at, image_set.signed_by, image_set.signature_digest = (
        utcnow(),
        "admin",
        "0" * 64,
    )
    session.commit()
    attempts = [
        lambda: clients.add_media(
            session,
            ACTOR,
            image_set.id,
            kind="document",
            path="a.pdf",
            byte_size=1,
            sha256="a" * 64,
        ),
        lambda: clients.update_media(session, ACTOR, item.id, comment="x"),
        lambda: clients.delete_media(session, ACTOR, item.id),
        lambda: clients.undelete_media(session, ACTOR, item.id),
    ]
    for attempt in attempts:
        with pytest.raises(Refused, match="signed"):
            attempt()
        session.rollback()
    assert session.get(MediaItem, item.id).comment == ""  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"width": None}, "width, height and bit depth"),
        ({"width": "abc"}, "width must be a whole number"),
        ({"height": 0}, "height must be a whole number"),
        ({"bit_depth": True}, "bit depth must be a whole number"),
        ({"taken_at": "yesterday"}, "time taken must be a date"),
        ({"comment": 7}, "comment is text"),
        ({"comment": "x" * 4001}, "at most 4000"),
        ({"comment": "rad\x00"}, "comment holds a control character"),
    ],
)
def test_a_media_change_the_database_cannot_hold_is_a_sentence(
    session: Session, fields: dict[str, object], words: str
) -> None:
    item = make_media(session)  # an intraoral image, with its width, height and bit depth
    before = (item.width, item.height, item.bit_depth, item.taken_at, item.comment)
    with pytest.raises(UserError, match=words):
        clients.update_media(session, ACTOR, item.id, **fields)
    session.rollback()
    again = session.get(MediaItem, item.id)
    assert again is not None
    assert (again.width, again.height, again.bit_depth, again.taken_at, again.comment) == before


def test_missing_things_are_named(session: Session) -> None:
    with pytest.raises(NotFound):
        clients.create_image_set(session, ACTOR, 999, dt.date(2026, 1, 1))
    with pytest.raises(NotFound):
        clients.update_media(session, ACTOR, 999, comment="x")
    with pytest.raises(NotFound, match="No patient"):
        clients.find_patient(session, new_personnummer())


def test_login_records_success_and_failure(session: Session) -> None:
    make_user(session, username="Anna", password="en lång fras om tänder")
    with pytest.raises(Refused, match="Wrong user name or password"):
        clients.login(session, "anna", "wrong password!", "RUM-1")
    with pytest.raises(Refused):
        clients.login(session, "nobody", "whatever123", "RUM-1")
    user = clients.login(session, "ANNA", "en lång fras om tänder", "RUM-2")
    session.commit()
    assert user.username == "anna" and user.last_login_at is not None
    rows = session.execute(
        select(
            LoginEvent.user_name, LoginEvent.machine, LoginEvent.success, LoginEvent.reason
        ).order_by(LoginEvent.id)
    ).all()
    assert rows == [
        ("anna", "RUM-1", False, "wrong password"),
        ("nobody", "RUM-1", False, "unknown user"),
        ("anna", "RUM-2", True, ""),
    ]


def test_counters_follow_client_changes(session: Session) -> None:
    from ibdesk import statistics

    item = make_media(session, byte_size=500)
    make_media(
        session,
        item.image_set,
        kind="video",
        path="v.mp4",
        byte_size=70,
        width=None,
        height=None,
        bit_depth=None,
    )
    clients.delete_media(session, ACTOR, item.id)
    session.commit()
    counts = statistics.counters(session)
    assert counts["intraoral"].deleted == 1 and counts["intraoral"].live == 0
    assert counts["intraoral"].deleted_bytes == 500
    assert counts["video"].live == 1 and counts["video"].live_bytes == 70
    assert counts["patient"].live == 1 and counts["image_set"].live == 1
    assert statistics.counters(session) == statistics.recount(session)


def test_fold_keeps_counts_exact(session: Session) -> None:
    from ibdesk import statistics

    for _ in range(3):
        make_media(session)
    before = statistics.counters(session)
    assert statistics.pending_deltas(session) > 0
    folded = statistics.fold(session)
    session.commit()
    assert folded > 0 and statistics.pending_deltas(session) == 0
    assert statistics.counters(session) == before == statistics.recount(session)


def test_workstation_claims_a_seat_through_the_contract(session: Session) -> None:
    from ibdesk import licensing

    licensing.make_demo_license(session, ACTOR)
    session.commit()
    seat = clients.claim_seat(session, "aa-bb-cc-dd-ee-01", "machine-1", "RUM-1")
    session.commit()
    again = clients.heartbeat(session, "AA:BB:CC:DD:EE:01", "machine-1")
    session.commit()
    assert seat.id == again.id and again.mac == "AA:BB:CC:DD:EE:01"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"first_name": "An\x00na"}, "first name holds a control character"),
        ({"city": "Lund\x07"}, "city holds a control character"),
        ({"note": "rad 1\nrad\x00 2"}, "note holds a control character"),
    ],
)
def test_a_control_character_is_a_sentence_on_every_backend(
    session: Session, change: dict[str, str], words: str
) -> None:
    # PostgreSQL refuses a NUL with a driver error; SQLite kept it: now both say so alike.
    patient = make_patient(session, first_name="Anna")
    before = len(_events(session))
    with pytest.raises(UserError, match=words):
        clients.update_patient(session, ACTOR, patient.id, **change)
    session.rollback()
    with pytest.raises(UserError, match=words):
        clients.create_patient(session, ACTOR, new_personnummer(), **change)
    session.rollback()
    with pytest.raises(UserError, match="description holds a control character"):
        clients.create_image_set(session, ACTOR, patient.id, dt.date(2026, 1, 2), "Kontroll\x00")
    session.rollback()
    again = session.get(Patient, patient.id)
    assert again is not None and again.first_name == "Anna"
    assert len(_events(session)) == before
    assert session.scalar(select(func.count()).select_from(Patient)) == 1
    kept = clients.update_patient(session, ACTOR, patient.id, note="rad 1\n\trad 2")
    assert kept.note == "rad 1\n\trad 2"  # a tab and a line break are text
