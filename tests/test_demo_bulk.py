"""The demo's fast bulk load: the same clinic for a seed, exact counters, a valid audit chain."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ibdesk import demo, statistics
from ibdesk.logs import auditchain
from ibdesk.models import AuditEvent, ImageSet, LoginEvent, MediaItem, Patient
from ibdesk.progress import run_to_end

TODAY = dt.date(2026, 12, 1)
# The clinic seed 7 makes (patients, sets, media, audit and log-in rows) as the demo wrote
# it before its rows became tuples: a faster writer must not change what a seed makes.
SEED_7_DIGEST = "544a866908cc4751d8762b54c561d36e04652964345eec33d6b84add922386e9"


def _fingerprint(engine: Engine) -> str:
    digest = hashlib.sha256()
    with Session(engine) as session:
        for model in (Patient, ImageSet, MediaItem, AuditEvent, LoginEvent):
            table = model.__table__
            for row in session.execute(select(table).order_by(table.c.id)):
                digest.update(repr(tuple(str(v) for v in row)).encode())
    return digest.hexdigest()


def test_a_seed_makes_the_same_clinic(engine: Engine) -> None:
    options = demo.DemoOptions(patients=40, media_per_patient=9, seed=7, today=TODAY)
    run_to_end(demo.generate(engine, options))
    assert _fingerprint(engine) == SEED_7_DIGEST


def test_counters_and_audit_chain_hold_after_a_demo(engine: Engine) -> None:
    summary, _ = run_to_end(demo.generate(engine, demo.DemoOptions(patients=30, seed=3)))
    with Session(engine) as session:
        assert statistics.counters(session) == statistics.recount(session)
        assert statistics.counters(session)["patient"].live == 30 == summary.patients
    assert auditchain.seal(engine) == summary.audit_events
    with Session(engine) as session:
        report = auditchain.verify(session)
    assert report.ok and report.checked == summary.audit_events
