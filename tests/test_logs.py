"""Logs domain additions: who has seen and changed one patient's record."""

from __future__ import annotations

from sqlalchemy.orm import Session

from factories import ACTOR, make_patient
from ibdesk import clients, logs, patients
from ibdesk.audit import Actor


def test_patient_access_counts_each_user_and_event(session: Session) -> None:
    erik = Actor("erik.tandlakare", "RUM-2")
    patient = make_patient(session)
    other = make_patient(session)
    for actor in (erik, erik, ACTOR):
        patients.details(session, patient.personnummer, actor=actor)
    clients.update_patient(session, erik, patient.id, phone="08-123")
    patients.details(session, other.personnummer, actor=erik)
    session.commit()
    number = f"{patient.personnummer[2:8]}-{patient.personnummer[8:]}"
    lines = logs.patient_access(session, number)
    assert [(a.user, a.action, a.events) for a in lines] == [
        (ACTOR.user, "patient.create", 1),
        (ACTOR.user, "patient.view", 1),
        (erik.user, "patient.update", 1),
        (erik.user, "patient.view", 2),
    ]
    assert all(a.first.tzinfo is not None and a.first <= a.last for a in lines)
