"""The audit trail proves itself: edits, deletions and insertions by raw SQL are found."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from factories import ACTOR, make_media, make_patient
from ibdesk import clients
from ibdesk.logs import auditchain
from ibdesk.progress import Progress, run_to_end


def _history(session: Session, engine: Engine) -> None:
    item = make_media(session)
    clients.update_media(session, ACTOR, item.id, comment="Karies")
    clients.delete_media(session, ACTOR, item.id)
    session.commit()
    make_patient(session)
    assert auditchain.seal(engine) == 6


def _verify(engine: Engine) -> auditchain.ChainReport:
    with Session(engine) as session:
        return auditchain.verify(session)


def test_untouched_log_verifies(session: Session, engine: Engine) -> None:
    _history(session, engine)
    report = _verify(engine)
    assert report.ok and report.checked == 6
    make_patient(session)
    assert _verify(engine).unsealed == 1
    assert auditchain.seal(engine) == 1 and _verify(engine).checked == 7


def test_edited_event_is_found(session: Session, engine: Engine) -> None:
    _history(session, engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET user_name = 'someone.else' WHERE seq = 3"))
    report = _verify(engine)
    assert not report.ok and report.seq == 3 and "altered" in report.problem


def test_deleted_event_is_found(session: Session, engine: Engine) -> None:
    _history(session, engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = 2"))
    report = _verify(engine)
    assert not report.ok and report.seq == 2 and "deleted" in report.problem


def test_deleted_newest_events_are_found(session: Session, engine: Engine) -> None:
    _history(session, engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq >= 5"))
    report = _verify(engine)
    assert not report.ok and "newest audit events (5 to 6)" in report.problem


def test_inserted_event_is_found(session: Session, engine: Engine) -> None:
    _history(session, engine)
    with engine.begin() as conn:
        # Shift the later events up and slip a forged one in at seq 3.
        for seq in (6, 5, 4, 3):
            conn.execute(
                text("UPDATE audit_event SET seq = :n WHERE seq = :o"), {"n": seq + 1, "o": seq}
            )
        conn.execute(
            text(
                "INSERT INTO audit_event (seq, at, user_name, machine, action, entity, changes, "
                "prev_hash, chain_hash) VALUES (3, '2026-01-01 10:00:00', 'x', 'y', "
                "'patient.view', 'patient', '{}', :h, :h)"
            ),
            {"h": "0" * 64},
        )
    report = _verify(engine)
    assert not report.ok and report.seq == 3


def test_unsealed_row_slipped_below_sealed_ones_is_found(session: Session, engine: Engine) -> None:
    _history(session, engine)
    with engine.begin() as conn:
        low = conn.execute(text("SELECT MIN(id) FROM audit_event")).scalar()
        conn.execute(text("DELETE FROM audit_event WHERE id = :i"), {"i": low})
        conn.execute(
            text(
                "INSERT INTO audit_event (id, at, user_name, machine, action, entity, changes) "
                "VALUES (:i, '2026-01-01 10:00:00', 'x', 'y', 'patient.view', 'patient', '{}')"
            ),
            {"i": low},
        )
    report = _verify(engine)
    assert not report.ok


@pytest.mark.parametrize("seq", [0, -5])
def test_event_given_a_sequence_below_one_is_found(
    session: Session, engine: Engine, seq: int
) -> None:
    _history(session, engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_event (seq, at, user_name, machine, action, entity, changes, "
                "prev_hash, chain_hash) VALUES (:s, '2025-01-01 10:00:00', 'dr.x', 'y', "
                "'patient.view', 'patient', '{}', :h, :h)"
            ),
            {"s": seq, "h": "0" * 64},
        )
        forged = conn.execute(text("SELECT id FROM audit_event WHERE seq = :s"), {"s": seq})
        forged_id = forged.scalar()
    report = _verify(engine)
    assert not report.ok and report.event_id == forged_id and "inserted" in report.problem


def test_missing_key_is_explained(session: Session, engine: Engine) -> None:
    _history(session, engine)
    auditchain._key_path().unlink()
    try:
        _verify(engine)
    except auditchain.MissingKey as error:
        assert "missing" in str(error)
    else:
        raise AssertionError("verify without the key must refuse")


def test_seal_and_verify_runs_as_a_job_with_progress(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auditchain, "BATCH", 2)
    for _ in range(5):
        make_patient(session)
    session.close()
    job = auditchain.seal_and_verify(engine)
    events = []
    while True:
        try:
            events.append(next(job))
        except StopIteration as stop:
            check = stop.value
            break
    assert check.sealed == 5 and check.report.ok and check.report.checked == 5
    progress = [(e.done, e.total) for e in events if isinstance(e, Progress)]
    assert progress[0] == (0, 5) and progress[-1] == (5, 5)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress) and len(progress) >= 4
    again, _ = run_to_end(auditchain.seal_and_verify(engine))
    assert again.sealed == 0 and again.report.checked == 5
