"""The demo's fast bulk load: the same clinic for a seed, exact counters, a valid audit chain."""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from processes import descendants, wait_gone
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session

from factories import make_patient
from ibdesk import bulkload, bulkwrite, demo, statistics, workers
from ibdesk.demo import producer
from ibdesk.demo.writer import Chunk, ChunkBuilder, iter_chunks
from ibdesk.logs import auditchain
from ibdesk.models import AuditEvent, ImageSet, LoginEvent, MediaItem, Patient
from ibdesk.progress import Progress, run_to_end

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


def test_a_second_process_makes_the_same_clinic(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    real_chunks = producer.chunks

    def chunks(*args: Any) -> Generator[Chunk]:
        started.append(1)
        return real_chunks(*args)

    monkeypatch.setattr(producer, "chunks", chunks)
    monkeypatch.setattr(demo, "PROCESS_FROM_PATIENTS", 1)
    options = demo.DemoOptions(patients=40, media_per_patient=9, seed=7, today=TODAY)
    run_to_end(demo.generate(engine, options))
    assert started == [1]
    assert _fingerprint(engine) == SEED_7_DIGEST


@pytest.mark.parametrize("start", ["forkserver", "spawn"])  # spawn: as on Windows
def test_the_second_process_builds_chunk_for_chunk_what_this_one_would(
    monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    if start == "forkserver" and start not in multiprocessing.get_all_start_methods():
        pytest.skip("this platform has no fork server")
    monkeypatch.setattr(workers, "worker_context", lambda: multiprocessing.get_context(start))
    options = demo.DemoOptions(patients=40, media_per_patient=9, seed=7, today=TODAY)
    here = ChunkBuilder(options, random.Random(7), set(), _ids())
    expected = [here.build(count) for count in iter_chunks(40, 7)]
    built = list(producer.chunks(options, random.Random(7), _ids(), 7))
    assert [len(c.patients) for c in built] == [7, 7, 7, 7, 7, 5]
    assert built == expected


def _builders() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "ibdesk-demo-rows"]


def _builder_process() -> multiprocessing.process.BaseProcess:
    [process] = _builders()
    return process


def _ids() -> bulkload.LocalIds:
    return bulkload.LocalIds({str(m.__table__.name): 0 for m in demo.LOADED})


def test_closing_the_rows_stops_the_second_process() -> None:
    chunks = producer.chunks(demo.DemoOptions(patients=50), random.Random(1), _ids(), 2)
    first = next(chunks)
    assert len(first.patients) == 2 and first.summary.media == 40
    process = _builder_process()
    assert process.is_alive()  # waiting: one chunk in the pipe, one built, at the most
    chunks.close()
    assert process.exitcode is not None


def test_a_second_process_that_dies_is_an_error_not_a_hang() -> None:
    # 50 patients a chunk: more than a pipe holds, so the builder is killed halfway through
    # sending the next one, and what it sent of it must not be waited for.
    chunks = producer.chunks(demo.DemoOptions(patients=500), random.Random(1), _ids(), 50)
    next(chunks)
    time.sleep(1)  # to let it build the next chunk and start sending it
    os.kill(_builder_process().pid, signal.SIGKILL)
    with pytest.raises(producer.BuilderError, match=r"stopped unexpectedly \(exit code -9"):
        for _chunk in chunks:
            pass


def test_an_error_in_the_second_process_is_one_sentence_and_its_trace_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    no_ids = bulkload.LocalIds({})  # a table it cannot count ids for
    chunks = producer.chunks(demo.DemoOptions(patients=5), random.Random(1), no_ids, 2)
    sentence = r"row builder failed \(KeyError: 'patient'\); nothing was written\.$"
    with pytest.raises(producer.BuilderError, match=sentence):
        next(chunks)
    assert "Traceback" in caplog.text and "in _build_all" in caplog.text  # for the log
    assert not _builders()


def test_counters_and_audit_chain_hold_after_a_demo(engine: Engine) -> None:
    summary, _ = run_to_end(demo.generate(engine, demo.DemoOptions(patients=30, seed=3)))
    with Session(engine) as session:
        assert statistics.counters(session) == statistics.recount(session)
        assert statistics.counters(session)["patient"].live == 30 == summary.patients
    assert auditchain.seal(engine) == summary.audit_events
    with Session(engine) as session:
        report = auditchain.verify(session)
    assert report.ok and report.checked == summary.audit_events


def _schema(engine: Engine) -> list[tuple[str, ...]]:
    """Return every index, trigger and constraint definition of the database, sorted."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                text("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master")
            )
        else:
            rows = conn.execute(
                text(
                    "SELECT 'index', indexname, tablename, indexdef FROM pg_indexes "
                    "WHERE schemaname = current_schema() UNION ALL "
                    "SELECT 'constraint', c.conname, t.relname, "
                    "pg_get_constraintdef(c.oid) || ' ' || c.convalidated::text "
                    "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                    "WHERE t.relnamespace = CAST(current_schema() AS regnamespace) UNION ALL "
                    "SELECT 'trigger', tgname, tgrelid::regclass::text, "
                    "pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal"
                )
            )
        return sorted(tuple(str(v) for v in row) for row in rows)


def test_a_load_into_an_empty_clinic_restores_every_index_and_key(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _schema(engine)
    assert any("ix_media_item_sha256" in row[1] for row in before)
    seen: list[tuple[int, int]] = []
    real = bulkload.indexes_after

    @contextmanager
    def watched(session: Session, models: Sequence[type[Any]]) -> Iterator[None]:
        def found() -> int:
            indexes = bulkload.secondary_indexes(session, models)
            return len(indexes) + len(bulkload.foreign_keys(session, models))

        outside = found()
        with real(session, models):
            seen.append((outside, found()))
            yield

    monkeypatch.setattr(bulkload, "indexes_after", watched)
    monkeypatch.setattr(demo, "CHUNK_PATIENTS", 7)  # several chunks in the one transaction
    summary, log = run_to_end(demo.generate(engine, demo.DemoOptions(patients=30, seed=5)))
    assert "now the indexes are built" in log[-2].text
    # gone while the rows went in: 16 indexes (PostgreSQL: and 3 foreign keys)
    assert seen == [(16 if engine.dialect.name == "sqlite" else 19, 0)]
    assert _schema(engine) == before
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(MediaItem)) == summary.media
        assert statistics.counters(session) == statistics.recount(session)
        # the re-created indexes hold every row (an index-only count agrees)
        by_sha = session.scalar(
            select(func.count()).select_from(MediaItem).where(MediaItem.sha256 >= "")
        )
        assert by_sha == summary.media


def test_a_load_into_an_empty_clinic_counts_its_rows_once_and_restores_the_triggers(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as session:
        before = bulkload.triggers(session, demo.LOADED)
    # the counter triggers of media, patients and image sets: insert, delete, update each
    assert len(before) == 9
    during: list[int] = []
    real_write = Chunk.write

    def write(self: Chunk, session: Session) -> None:
        during.append(len(bulkload.triggers(session, demo.LOADED)))
        real_write(self, session)

    monkeypatch.setattr(Chunk, "write", write)
    monkeypatch.setattr(demo, "CHUNK_PATIENTS", 7)
    summary, _ = run_to_end(demo.generate(engine, demo.DemoOptions(patients=30, seed=5)))
    assert during == [0, 0, 0, 0, 0]  # no trigger fired for a loaded row
    with Session(engine) as session:
        assert bulkload.triggers(session, demo.LOADED) == before
        counted = statistics.counters(session)
        assert counted == statistics.recount(session)
        assert counted["patient"].live + counted["patient"].deleted == summary.patients
    # the re-created triggers count what comes after the load
    with Session(engine) as session:
        make_patient(session)
        session.execute(text("UPDATE media_item SET deleted_at = created_at WHERE id IN (1, 2)"))
        session.commit()
        assert statistics.counters(session) == statistics.recount(session)
        after = statistics.counters(session)
        assert after["patient"].live == counted["patient"].live + 1
        assert after != counted


class _Broken(RuntimeError):
    pass


@pytest.mark.parametrize("with_files", [False, True])
def test_a_load_that_fails_halfway_leaves_the_clinic_as_it_was(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, with_files: bool
) -> None:
    before = _schema(engine)
    folder = tmp_path / "bilder"
    folder.mkdir()
    real_build = ChunkBuilder.build
    calls = []

    def build(self: ChunkBuilder, count: int) -> Chunk:
        calls.append(count)
        if len(calls) == 3:
            raise _Broken("disk full")
        return real_build(self, count)

    monkeypatch.setattr(ChunkBuilder, "build", build)
    monkeypatch.setattr(demo, "CHUNK_PATIENTS", 2)
    options = demo.DemoOptions(
        patients=10, media_per_patient=2, image_folder=folder if with_files else None
    )
    with pytest.raises(_Broken):
        run_to_end(demo.generate(engine, options))
    assert len(calls) == 3
    assert _schema(engine) == before
    with Session(engine) as session:
        for model in (Patient, ImageSet, MediaItem, AuditEvent, LoginEvent):
            assert session.scalar(select(func.count()).select_from(model)) == 0
    assert [p for p in folder.rglob("*") if p.is_file()] == []


def test_a_cancelled_load_writes_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "CHUNK_PATIENTS", 3)
    job = demo.generate(engine, demo.DemoOptions(patients=12, media_per_patient=2))
    assert isinstance(next(job), Progress)
    job.close()  # what the job registry's cancel does
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0
        assert statistics.counters(session) == statistics.recount(session)


def test_a_clinic_with_patients_gets_chunk_transactions(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_to_end(demo.generate(engine, demo.DemoOptions(patients=4, media_per_patient=2)))
    monkeypatch.setattr(
        bulkload, "indexes_after", lambda *_a: pytest.fail("indexes dropped in a full clinic")
    )
    monkeypatch.setattr(demo, "CHUNK_PATIENTS", 3)
    job = demo.generate(engine, demo.DemoOptions(patients=9, media_per_patient=2, seed=9))
    next(job)
    job.close()  # the first chunk was committed on its own
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 4 + 3
        assert statistics.counters(session) == statistics.recount(session)


def test_rows_added_after_a_load_get_new_ids(engine: Engine) -> None:
    summary, _ = run_to_end(demo.generate(engine, demo.DemoOptions(patients=5, seed=11)))
    with Session(engine) as session:
        patient = make_patient(session)
        event = AuditEvent(user_name="anna", action="patient.view", entity="patient")
        session.add(event)
        session.commit()
        assert patient.id == 5 + 1
        assert event.id > summary.audit_events  # (make_patient audits too)


def test_stored_form_is_read_back_for_other_backends() -> None:
    columns = ("taken_on", "created_at", "description")
    row = ("2026-11-30", "2026-11-30 07:05:09.000000", "Årskontroll")
    taken_on, created_at, description = bulkwrite._parsed(ImageSet.__table__, columns, row)
    assert taken_on == dt.date(2026, 11, 30) and description == "Årskontroll"
    assert created_at == dt.datetime(2026, 11, 30, 7, 5, 9, tzinfo=dt.UTC)
    success, at = bulkwrite._parsed(LoginEvent.__table__, ("success", "at"), (0, None))
    assert success is False and at is None


def test_a_load_killed_halfway_leaves_the_clinic_as_it_was(engine: Engine, db_url: str) -> None:
    before = _schema(engine)
    # 50 000 patients: the rows are built in a second process, which must end with this one.
    assert demo.PROCESS_FROM_PATIENTS <= 50_000
    proc = subprocess.Popen(
        [sys.executable, "-m", "ibdesk", "--db", db_url, "demo", "--patients", "50000"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "patients" in line and "/50000" in line:  # the load is under way
                break
        helpers = descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert helpers and not wait_gone(helpers), "the row builder outlived the killed demo"
    engine.dispose()
    assert _schema(engine) == before
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0
        assert session.scalar(select(func.count()).select_from(MediaItem)) == 0
        assert statistics.counters(session) == statistics.recount(session)


def test_numbers_are_looked_up_only_in_a_clinic_that_has_patients(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("SELECT patient.personnummer"):
            lookups.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        monkeypatch.setattr(demo, "CHUNK_PATIENTS", 7)
        run_to_end(demo.generate(engine, demo.DemoOptions(patients=20, seed=5)))
        assert lookups == []  # an empty clinic: the run's own numbers are all there are
        # A second run with the same seed draws the same numbers first: each is taken.
        second, _ = run_to_end(demo.generate(engine, demo.DemoOptions(patients=20, seed=5)))
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert len(lookups) >= 3  # asked the database, a chunk at a time
    with Session(engine) as session:
        numbers = list(session.scalars(select(Patient.personnummer)))
    assert second.patients == 20 and len(numbers) == len(set(numbers)) == 40
