"""Conversion from ImageBank 1.2: builds from the shared builder checked against its manifest."""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import legacy12
import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from factories import make_patient
from ibdesk import clinic_settings, conversion, personnummer, statistics
from ibdesk.conversion import checks
from ibdesk.conversion import report as reports
from ibdesk.errors import Refused
from ibdesk.logs import auditchain
from ibdesk.models import (
    AuditEvent,
    ConversionIssue,
    ConversionMap,
    ImageSet,
    MediaItem,
    Patient,
    UserAccount,
)
from ibdesk.patients import signing
from ibdesk.progress import run_to_end

_names = itertools.count()


@dataclass
class Legacy:
    out: Path
    url: str
    manifest: dict[str, Any]


@pytest.fixture
def legacy(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Legacy]:
    """Build a 1.2 installation on the backend under test (seed 3: every quirk at least once)."""
    out = tmp_path / "legacy12"
    if backend == "sqlite":
        manifest = legacy12.build(out)
        yield Legacy(out, legacy12.source_url(out, None), manifest)
        return
    server = request.getfixturevalue("pg_server")
    name = f"legacy12_{next(_names)}"
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        manifest = legacy12.build(out, url=server.url(name))
        yield Legacy(out, server.url(name), manifest)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def target(engine: Engine, tmp_path: Path) -> Engine:
    """Return the migrated, empty 2.1 database with its image folder set."""
    folder = tmp_path / "images21"
    folder.mkdir()
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
        session.commit()
    return engine


def run_steps(
    engine: Engine, source: conversion.Source, steps: tuple[int, ...] = (1, 2, 3, 4)
) -> dict[int, Any]:
    """Run the steps in order; return each one's report."""
    results = {}
    for step in steps:
        results[step], _log = run_to_end(conversion.run_step(engine, source, step))
    return results


def _issues(session: Session, table: str, reason: str) -> dict[str, ConversionIssue]:
    rows = session.scalars(
        select(ConversionIssue).where(
            ConversionIssue.source_table == table, ConversionIssue.reason == reason
        )
    )
    return {row.source_key: row for row in rows}


def _target(session: Session, table: str, key: Any) -> ConversionMap:
    entry = session.scalar(
        select(ConversionMap).where(
            ConversionMap.source_table == table, ConversionMap.source_key == str(key)
        )
    )
    assert entry is not None, (table, key)
    return entry


def test_every_quirk_of_the_manifest_is_handled(target: Engine, legacy: Legacy) -> None:
    assert all(legacy.manifest["quirks"].values()), "the build holds every quirk"
    before = legacy12.fingerprint(legacy.out, legacy.url)
    source = conversion.open_source(legacy.url, legacy.out / "Bilder")
    try:
        results = run_steps(target, source)
    finally:
        source.close()
    assert legacy12.fingerprint(legacy.out, legacy.url) == before, "the source was modified"
    truth, quirks = legacy.manifest, legacy.manifest["quirks"]
    analysis = results[1]
    assert analysis["tables"]["Patienter"] == truth["patients"]
    assert analysis["tables"]["Bilder"] == truth["items"]
    assert analysis["folder"]["files"] == truth["files"]
    assert analysis["folder"]["bytes"] == truth["bytes"]
    assert analysis["problems"][checks.FILE_MISSING]["count"] == len(quirks["missing_file"])
    assert analysis["problems"][checks.ORPHAN_FILE]["count"] == len(quirks["orphan_file"])
    rec = results[4]["reconciliation"]
    assert rec["passed"] and rec["accounted"], rec
    for table, counts in rec["tables"].items():
        assert counts["read"] == counts["converted"] + counts["merged"] + counts["rejected"], table
    folder = rec["folder"]
    assert folder["found"] == truth["files"]
    assert folder["missing"] == len(quirks["missing_file"])
    assert folder["orphans"] == len(quirks["orphan_file"])
    assert folder["zero_byte"] == len(quirks["zero_byte_file"])
    assert folder["sha256_mismatch"] == 0
    assert folder["balanced"]
    assert (
        folder["found"] == folder["placed"] + folder["named_by_rejected_rows"] + folder["orphans"]
    )
    with Session(target) as session:
        image_root = Path(str(clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)))
        # The same person twice: one patient, both kept in the map, reported.
        merged = _issues(session, "Patienter", checks.DUPLICATE)
        assert set(merged) <= {str(p) for p in quirks["duplicate_person"]}
        assert merged, "the build holds at least one person entered twice"
        for key in merged:
            assert _target(session, "Patienter", key).outcome == "merged"
        assert session.scalar(select(func.count()).select_from(Patient)) == truth["patients"] - len(
            merged
        )
        # Invalid and empty personnummer: kept as typed in the report, filed under a reserve number.
        typed = {r["PatientId"]: r["PersonNr"] for r in _rows(legacy.url, "Patienter")}
        invalid = _issues(session, "Patienter", checks.PN_INVALID)
        for pid in quirks["personnr_invalid_check"]:
            issue = invalid[str(pid)]
            assert issue.raw_value == typed[pid]
            patient = session.get(Patient, _target(session, "Patienter", pid).target_id)
            assert patient is not None and patient.personnummer == checks.reserve_number(pid)
            assert patient.kind == "reserve"
        empty = _issues(session, "Patienter", checks.PN_EMPTY)
        assert {int(k) for k in empty} == set(quirks["personnr_empty"])
        # Mojibake: repaired when certain (original kept), otherwise flagged and kept.
        repaired = _issues(session, "Patienter", checks.TEXT_REPAIRED)
        doubtful = _issues(session, "Patienter", checks.TEXT_DOUBTFUL)
        for pid in quirks["mojibake_patient"]:
            patient = session.get(Patient, _target(session, "Patienter", pid).target_id)
            assert patient is not None
            assert str(pid) in repaired or str(pid) in doubtful
            if "Ã" in patient.first_name:
                assert str(pid) in doubtful
            else:
                assert patient.first_name.endswith("å")
        for issue in repaired.values():
            assert "Ã" in (issue.raw_value or "") and "Ã" not in (issue.new_value or "")
        # Soft-deleted patients stay deleted (unless merged with a live record of the same person).
        for pid in quirks["deleted_patient"]:
            entry = _target(session, "Patienter", pid)
            patient = session.get(Patient, entry.target_id)
            assert patient is not None
            if entry.outcome == "converted" and not _merged_into(session, entry.target_id):
                assert patient.deleted_at is not None
        # Orphans and files.
        for sid in quirks["orphan_status"]:
            assert _target(session, "Status", sid).outcome == "rejected"
        for bid in quirks["orphan_item_patient"]:
            assert _issues(session, "Bilder", checks.ORPHAN_PATIENT)[str(bid)].rejected
        for bid in quirks["orphan_item_status"]:
            assert _issues(session, "Bilder", checks.ORPHAN_STATUS)[str(bid)].rejected
        for bid in quirks["missing_file"]:
            assert _target(session, "Bilder", bid).outcome == "rejected"
            assert str(bid) in _issues(session, "Bilder", checks.FILE_MISSING)
        for bid in quirks["zero_byte_file"]:
            assert str(bid) in _issues(session, "Bilder", checks.FILE_EMPTY)
        cased = _issues(session, "Bilder", checks.CASE_DIFFERS)
        assert set(cased) == {str(b) for b in quirks["case_mismatch"]}
        orphans = _issues(session, "file", checks.ORPHAN_FILE)
        assert set(orphans) == set(quirks["orphan_file"])
        # Every placed file hashes as its source did.
        sources = {r["BildId"]: r["Filnamn"] for r in _rows(legacy.url, "Bilder")}
        by_lower = {k.lower(): v for k, v in truth["sha256"].items()}
        placed = 0
        for entry in session.scalars(
            select(ConversionMap).where(
                ConversionMap.source_table == "Bilder", ConversionMap.outcome == "converted"
            )
        ):
            item = session.get(MediaItem, entry.target_id)
            assert item is not None
            expected = by_lower[sources[int(entry.source_key)].replace("\\", "/").lower()]
            assert item.sha256 == expected
            assert hashlib.sha256((image_root / item.path).read_bytes()).hexdigest() == expected
            assert entry.detail in ("linked", "copied")
            placed += 1
        assert placed == folder["placed"]
        for bid in quirks["deleted_item"]:
            entry = _target(session, "Bilder", bid)
            if entry.outcome == "converted":
                item = session.get(MediaItem, entry.target_id)
                assert item is not None and item.deleted_at is not None
        # Signed statuses stay signed, by who signed, and verify.
        signed = session.scalars(select(ImageSet).where(ImageSet.signed_at.is_not(None))).all()
        assert len(signed) == truth["statuses_signed"]
        for image_set in signed:
            assert image_set.signed_by == "tandlakare1"
            assert signing.verify(session, image_set.id).ok
        # MD5 passwords are never usable.
        accounts = session.scalars(select(UserAccount)).all()
        assert len(accounts) == truth["users"]
        assert all(a.password_hash is None for a in accounts)
        assert len(_issues(session, "Anvandare", checks.MD5_PASSWORD)) == truth["users"]
        # The log became patient history, marked converted; the chain verifies.
        converted = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("legacy.%"))
        )
        assert converted and converted > truth["patients"]
        assert auditchain.verify(session).ok
        assert statistics.counters(session) == statistics.recount(session)
        # The final report is kept in the database.
        assert conversion.saved_report(session, 4) is not None
        assert conversion.passed_steps(session) == {1, 2, 3, 4}


def _merged_into(session: Session, target_id: int | None) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(ConversionMap)
            .where(
                ConversionMap.source_table == "Patienter",
                ConversionMap.target_id == target_id,
                ConversionMap.outcome == "merged",
            )
        )
    )


def _rows(url: str, table: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{table}"'))]
    engine.dispose()
    return rows


@pytest.mark.backends("sqlite")
def test_rerun_adds_nothing(target: Engine, legacy: Legacy) -> None:
    source = conversion.open_source(legacy.url, legacy.out / "Bilder")
    run_steps(target, source)
    with Session(target) as session:
        counts = {
            m: session.scalar(select(func.count()).select_from(m))
            for m in (Patient, ImageSet, MediaItem, ConversionMap)
        }
    results = run_steps(target, source, (2, 3, 4))
    source.close()
    with Session(target) as session:
        again = {
            m: session.scalar(select(func.count()).select_from(m))
            for m in (Patient, ImageSet, MediaItem, ConversionMap)
        }
    assert again == counts
    assert results[2]["tables"]["Patienter"]["skipped"] == legacy.manifest["patients"]
    assert results[4]["reconciliation"]["passed"]


@pytest.mark.backends("sqlite")
def test_a_non_empty_target_is_refused(session: Session, target: Engine, legacy: Legacy) -> None:
    make_patient(session)
    source = conversion.open_source(legacy.url, legacy.out / "Bilder")
    with pytest.raises(Refused, match=r"needs an empty 2\.1 database"):
        run_to_end(conversion.run_step(target, source, 2))
    source.close()
    assert session.scalar(select(func.count()).select_from(ConversionMap)) == 0
    assert session.scalar(select(func.count()).select_from(Patient)) == 1


@pytest.mark.backends("sqlite")
def test_steps_must_pass_in_order(target: Engine, legacy: Legacy) -> None:
    source = conversion.open_source(legacy.url, legacy.out / "Bilder")
    with pytest.raises(Refused, match="Step 2 must pass before step 3"):
        run_to_end(conversion.run_step(target, source, 3))
    source.close()
    with Session(target) as session:
        assert session.scalar(select(func.count()).select_from(ConversionMap)) == 0


@pytest.mark.backends("sqlite")
def test_hostile_paths_are_never_followed(target: Engine, legacy: Legacy, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not a radiograph")
    folder = legacy.out / "Bilder"
    (folder / "000001" / "B900003.BMP").symlink_to(secret)
    with sqlite3.connect(legacy.out / "imagebank12.sqlite") as db:
        status = db.execute('SELECT StatusId FROM "Status" WHERE PatientId = 1').fetchone()
        if status is None:
            db.execute('INSERT INTO "Status" VALUES (900000, 1, NULL, NULL, 0, NULL)')
            status = (900000,)
        for bid, name in (
            (900001, r"..\..\secret.txt"),
            (900002, str(secret)),
            (900003, r"000001\B900003.BMP"),
        ):
            db.execute(
                'INSERT INTO "Bilder" VALUES (?, ?, 1, ?, 1, NULL, NULL, NULL, 0)',
                (bid, status[0], name),
            )
        # Two names that are one 2.1 user: the batch fails on the unique name, retried row by row.
        db.execute("INSERT INTO \"Anvandare\" VALUES (6, 'ADMIN', NULL, 0)")
    source = conversion.open_source(legacy.url, folder)
    results = run_steps(target, source)
    source.close()
    with Session(target) as session:
        outside = _issues(session, "Bilder", checks.FILE_OUTSIDE)
        assert set(outside) == {"900001", "900002", "900003"}
        assert all(i.rejected for i in outside.values())
        assert not session.scalar(select(MediaItem).where(MediaItem.path.like("%secret%")))
        assert _target(session, "Anvandare", 6).outcome == "merged"
        assert session.scalar(select(func.count()).select_from(UserAccount)) == 5
    rec = results[4]["reconciliation"]
    assert rec["tables"]["Anvandare"] == {
        "read": 6,
        "converted": 5,
        "merged": 1,
        "rejected": 0,
        "balanced": True,
    }
    assert rec["folder"]["outside"] == 3


@pytest.mark.backends("sqlite")
def test_reports_save_as_json_csv_and_html(target: Engine, legacy: Legacy, tmp_path: Path) -> None:
    source = conversion.open_source(legacy.url, legacy.out / "Bilder")
    results = run_steps(target, source)
    source.close()
    reports.save(results[1], tmp_path / "analysis.csv")
    lines = (tmp_path / "analysis.csv").read_text().splitlines()
    assert any(line.startswith("problem,file_missing,") for line in lines)
    reports.save(results[4], tmp_path / "final.json")
    assert json.loads((tmp_path / "final.json").read_text())["reconciliation"]["passed"]
    reports.save(results[4], tmp_path / "final.html")
    assert "Every row and file is accounted for." in (tmp_path / "final.html").read_text()
    with Session(target) as session:
        reports.save(results[4], tmp_path / "rejects.csv", session)
    rejects = (tmp_path / "rejects.csv").read_text().splitlines()
    assert rejects[0] == ",".join(reports.REJECT_HEADER)
    assert any(",file_missing,yes," in line for line in rejects)
    assert (tmp_path / "rejects.csv").stat().st_mode & 0o077 == 0


def test_personnummer_reading_is_the_2_1_one() -> None:
    assert checks.read_personnummer(" 121212-1212 ").number == personnummer.normalize("121212-1212")
    assert checks.read_personnummer("19121212-1213").problem == checks.PN_INVALID
    assert checks.read_personnummer(None).problem == checks.PN_EMPTY
    assert checks.repair_text("BjÃ¶rn") == checks.Text("Björn", checks.TEXT_REPAIRED)
    assert checks.repair_text("Ã…berg").problem == checks.TEXT_DOUBTFUL
    assert checks.repair_text("Ring före besök; ”viktigt”.").problem is None


def test_the_source_is_opened_read_only(legacy: Legacy) -> None:
    from sqlalchemy.exc import DBAPIError

    source = conversion.open_source(legacy.url, legacy.out / "Bilder")
    try:
        with pytest.raises(DBAPIError, match=r"(?i)read.?only"), source.engine.begin() as conn:
            conn.execute(text('DELETE FROM "Logg"'))
    finally:
        source.close()
    assert len(_rows(legacy.url, "Logg")) == legacy.manifest["logs"]
