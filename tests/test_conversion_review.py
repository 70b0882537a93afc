"""The conversion against what a review found: planted links, made-up numbers, rows that trip."""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import subprocess
import sys
import zlib
from contextlib import closing
from pathlib import Path
from typing import Any

import legacy12
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, conversion
from ibdesk.conversion import checks
from ibdesk.conversion.batches import Converter, Outcome, write_batch
from ibdesk.errors import UserError
from ibdesk.models import ConversionIssue, ConversionMap, ImageSet, MediaItem, Patient
from ibdesk.progress import run_to_end


class _Tripping(Converter):
    """A converter whose second row trips over something no check foresaw."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def convert(self, batch: Any, row: dict[str, Any]) -> Outcome:
        if row["id"] == 2:
            raise self.error
        return Outcome("converted", None)


def test_an_unforeseen_error_rejects_its_row_not_the_batch(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [{"id": n} for n in (1, 2, 3)]
    with caplog.at_level(logging.ERROR, logger="ibdesk.conversion.batches"):
        counts = write_batch(
            engine, 3, "Bilder", lambda r: str(r["id"]), rows, _Tripping(KeyError("Typ"))
        )
    assert counts == {"converted": 2, "merged": 0, "rejected": 1, "skipped": 0}
    assert any(r.exc_info for r in caplog.records), "the traceback is logged"
    with Session(engine) as session:
        issue = session.scalars(select(ConversionIssue)).one()
        found = session.execute(select(ConversionMap.source_key, ConversionMap.outcome)).all()
    outcomes = dict(found)
    assert (issue.source_key, issue.reason, issue.rejected) == ("2", checks.CONVERT_FAILED, True)
    assert issue.raw_value == "KeyError: 'Typ'"
    assert outcomes == {"1": "converted", "2": "rejected", "3": "converted"}
    # A rerun skips them all: the bad row is not met again.
    again = write_batch(engine, 3, "Bilder", lambda r: str(r["id"]), rows, _Tripping(KeyError()))
    assert again["skipped"] == 3


@pytest.mark.backends("sqlite")
def test_a_whole_disk_problem_still_stops_the_step(engine: Engine) -> None:
    with pytest.raises(UserError, match="full"):
        write_batch(
            engine, 3, "Bilder", lambda r: str(r["id"]), [{"id": 2}], _Tripping(UserError("full"))
        )
    with Session(engine) as session:
        assert session.scalars(select(ConversionMap)).all() == []


# The whole conversion, on small 1.2 builds with one defect each.


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """Build a small 1.2 installation (SQLite; patients 1-12, all with valid numbers)."""
    out = tmp_path / "legacy12"
    legacy12.build(out, patients=12)
    return out


@pytest.fixture
def target(engine: Engine, tmp_path: Path) -> Engine:
    """Return the empty 2.1 database with its image folder set."""
    (tmp_path / "images21").mkdir()
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path / "images21"))
        session.commit()
    return engine


def _edit(out: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    with closing(sqlite3.connect(out / "imagebank12.sqlite")) as db, db:
        for sql, params in statements:
            db.execute(sql, params)


def _run(engine: Engine, out: Path, steps: tuple[int, ...], **options: Any) -> dict[int, Any]:
    source = conversion.open_source(legacy12.source_url(out, None), out / "Bilder")
    try:
        return {
            step: run_to_end(
                conversion.run_step(engine, source, step, conversion.Options(**options))
            )[0]
            for step in steps
        }
    finally:
        source.close()


def _entry(session: Session, table: str, key: Any) -> ConversionMap:
    entry = session.scalar(
        select(ConversionMap).where(
            ConversionMap.source_table == table, ConversionMap.source_key == str(key)
        )
    )
    assert entry is not None, (table, key)
    return entry


def _reasons(session: Session, table: str, key: Any) -> set[str]:
    return set(
        session.scalars(
            select(ConversionIssue.reason).where(
                ConversionIssue.source_table == table, ConversionIssue.source_key == str(key)
            )
        )
    )


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("link", [True, False], ids=["link", "copy"])
def test_a_linked_patient_folder_rejects_its_items_and_writes_nothing_outside(
    target: Engine, legacy: Path, tmp_path: Path, link: bool
) -> None:
    _run(target, legacy, (1, 2))
    with Session(target) as session:
        patient = session.get(Patient, _entry(session, "Patienter", 1).target_id)
        assert patient is not None
        number = patient.personnummer
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "images21" / number).symlink_to(elsewhere)
    _run(target, legacy, (3,), link=link)
    assert list(elsewhere.rglob("*")) == []
    with Session(target) as session:
        for bid in range(1, 9):  # patient 1's items
            assert _entry(session, "Bilder", bid).outcome == "rejected"
            assert checks.FILE_OUTSIDE in _reasons(session, "Bilder", bid)
        assert _entry(session, "Bilder", 9).outcome == "converted"  # patient 2's


@pytest.mark.parametrize("batch", [1, 500])
@pytest.mark.parametrize("typed_first", [True, False], ids=["typed-first", "made-up-first"])
def test_a_made_up_number_never_meets_a_typed_one(
    target: Engine, legacy: Path, batch: int, typed_first: bool
) -> None:
    # Patient 1 or 2 has no usable number; the other typed the number it would be given.
    bad, typed = (2, 1) if typed_first else (1, 2)
    _edit(
        legacy,
        ("UPDATE Patienter SET PersonNr = 'bad' WHERE PatientId = ?", (bad,)),
        ("UPDATE Patienter SET PersonNr = ? WHERE PatientId = ?", (f"99{bad:010d}", typed)),
    )
    _run(target, legacy, (1, 2), batch=batch)
    with Session(target) as session:
        made_up, kept = _entry(session, "Patienter", bad), _entry(session, "Patienter", typed)
        assert made_up.outcome == kept.outcome == "converted"
        assert made_up.target_id != kept.target_id
        typed_patient = session.get(Patient, kept.target_id)
        made_patient = session.get(Patient, made_up.target_id)
        assert typed_patient is not None and made_patient is not None
        assert typed_patient.personnummer == f"99{bad:010d}"
        assert made_patient.personnummer.startswith("99")
        assert made_patient.personnummer != typed_patient.personnummer
        assert checks.PN_INVALID in _reasons(session, "Patienter", bad)


def test_a_row_is_never_merged_into_a_patient_with_a_made_up_number(
    target: Engine, legacy: Path
) -> None:
    _edit(legacy, ("UPDATE Patienter SET PersonNr = NULL WHERE PatientId = 1", ()))
    _run(target, legacy, (1, 2))
    # Someone types the number the converter made up into 1.2 before step 2 is run again.
    _edit(
        legacy,
        (
            "INSERT INTO Patienter (PatientId, PersonNr, Fornamn, Efternamn, Raderad) "
            "VALUES (50, '990000000001', 'Ny', 'Patient', 0)",
            (),
        ),
    )
    _run(target, legacy, (2,))
    with Session(target) as session:
        first, later = _entry(session, "Patienter", 1), _entry(session, "Patienter", 50)
        assert later.outcome == "converted" and later.target_id != first.target_id
        assert checks.RESERVE_TAKEN in _reasons(session, "Patienter", 50)
        patient = session.get(Patient, later.target_id)
        assert patient is not None and patient.personnummer != "990000000001"


def _png_bomb() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # claims 10^10 pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_a_type_that_is_no_number_is_one_rejected_row(target: Engine, legacy: Path) -> None:
    _edit(legacy, ("UPDATE Bilder SET Typ = 'x' WHERE BildId = 10", ()))
    results = _run(target, legacy, (1, 2, 3, 4))
    assert results[1]["problems"][checks.WRONG_TYPE]["examples"][0]["key"] == "10"
    assert results[4]["reconciliation"]["passed"]
    with Session(target) as session:
        assert _entry(session, "Bilder", 10).outcome == "rejected"
        assert checks.WRONG_TYPE in _reasons(session, "Bilder", 10)
        assert _entry(session, "Bilder", 11).outcome == "converted"


@pytest.mark.backends("sqlite")
def test_an_image_bomb_is_kept_and_flagged(target: Engine, legacy: Path) -> None:
    (legacy / "Bilder" / "000001" / "B000003.JPG").write_bytes(_png_bomb())
    _run(target, legacy, (1, 2, 3))
    with Session(target) as session:
        bomb = _entry(session, "Bilder", 3)
        assert bomb.outcome == "converted"  # the file is kept; it is flagged as unreadable
        assert checks.FILE_UNREADABLE in _reasons(session, "Bilder", 3)
        item = session.get(MediaItem, bomb.target_id)
        assert item is not None and item.width is None
        assert _entry(session, "Bilder", 4).outcome == "converted"


def test_an_item_of_another_patient_than_its_status_is_kept_and_reported(
    target: Engine, legacy: Path
) -> None:
    # Item 9 is in status 4 (patient 2) but names patient 1.
    _edit(legacy, ("UPDATE Bilder SET PatientId = 1 WHERE BildId = 9", ()))
    _run(target, legacy, (1, 2, 3))
    with Session(target) as session:
        entry = _entry(session, "Bilder", 9)
        assert entry.outcome == "converted"
        item = session.get(MediaItem, entry.target_id)
        image_set = session.get(ImageSet, _entry(session, "Status", 4).target_id)
        assert item is not None and image_set is not None
        assert item.image_set_id == image_set.id and item.patient_id == image_set.patient_id
        issue = session.scalar(
            select(ConversionIssue).where(
                ConversionIssue.source_key == "9",
                ConversionIssue.reason == checks.PATIENT_DIFFERS,
            )
        )
        status_patient = session.get(Patient, image_set.patient_id)
        assert issue is not None and not issue.rejected and issue.raw_value == "1"
        assert status_patient is not None and issue.new_value == status_patient.personnummer


@pytest.mark.backends("sqlite")
def test_a_name_typed_with_a_leading_dot_is_no_orphan(target: Engine, legacy: Path) -> None:
    _edit(legacy, ("UPDATE Bilder SET Filnamn = ? WHERE BildId = 5", (".\\000001\\B000005.JPG",)))
    results = _run(target, legacy, (1, 2, 3, 4))
    assert "000001/B000005.JPG" not in str(results[1]["problems"][checks.ORPHAN_FILE])
    assert results[4]["reconciliation"]["passed"]
    with Session(target) as session:
        assert _entry(session, "Bilder", 5).outcome == "converted"
        orphans = session.scalars(
            select(ConversionIssue.source_key).where(ConversionIssue.reason == checks.ORPHAN_FILE)
        ).all()
        assert "000001/B000005.JPG" not in orphans


@pytest.mark.backends("sqlite")
def test_the_extension_comes_from_the_last_name_only(target: Engine, legacy: Path) -> None:
    folder = legacy / "Bilder" / "000002.d"
    folder.mkdir()
    (folder / "noext").write_bytes(b"%PDF-1.4\n")
    _edit(
        legacy,
        (
            "INSERT INTO Bilder VALUES (900, 4, 2, ?, 6, NULL, NULL, NULL, 0)",
            ("000002.d\\noext",),
        ),
    )
    _run(target, legacy, (1, 2, 3))
    with Session(target) as session:
        item = session.get(MediaItem, _entry(session, "Bilder", 900).target_id)
        assert item is not None and item.path.endswith("/000900_document.bin"), item


def test_a_wal_mode_source_is_read_without_a_file_beside_it(legacy: Path) -> None:
    database = legacy / "imagebank12.sqlite"
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    before = sorted(os.listdir(legacy))
    source = conversion.open_source(legacy12.source_url(legacy, None), legacy / "Bilder")
    try:
        report, _log = run_to_end(conversion.run_step(None, source, 1))
    finally:
        source.close()
    assert report["tables"]["Patienter"] == 12
    assert sorted(os.listdir(legacy)) == before

    # A -wal file that still holds changes (1.2 is open somewhere) is refused, untouched.
    with closing(sqlite3.connect(database)) as writer:
        writer.execute("INSERT INTO Logg (LoggId, Handelse) VALUES (999999, 'EXPORT')")
        writer.commit()
        during = {name: (legacy / name).stat().st_size for name in os.listdir(legacy)}
        assert during[database.name + "-wal"] > 0
        with pytest.raises(UserError, match="not yet saved"):
            conversion.open_source(legacy12.source_url(legacy, None), legacy / "Bilder")
        assert {name: (legacy / name).stat().st_size for name in os.listdir(legacy)} == during


def test_an_unsupported_source_url_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"cannot read a 1\.2 database") as refused:
        conversion.open_source("mysql://clinic:secret@db.example/ib12", tmp_path)
    assert "secret" not in str(refused.value)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "ibdesk", "convert"),
            *("--from", "mysql://clinic:secret@h/ib12", "--images", str(tmp_path), "--analyse"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot read a 1.2 database" in lines[0], done.stderr
    assert "secret" not in done.stderr


def test_control_characters_are_dropped_and_flagged_alike_on_every_backend(
    target: Engine, legacy: Path
) -> None:
    # PostgreSQL cannot store a NUL; SQLite can. Before, the same 1.2 row converted with its
    # NUL on SQLite and was rejected on PostgreSQL, taking the patient's images with it.
    nul = "char(0)"
    _edit(
        legacy,
        (
            f"UPDATE Patienter SET Fornamn = 'An' || {nul} || 'na', "
            f"Anteckning = 'rad 1' || char(10) || 'rad' || {nul} || ' 2' WHERE PatientId = 2",
            (),
        ),
        (f"UPDATE Status SET Beskrivning = 'Kontroll' || {nul} WHERE StatusId = 4", ()),
        (f"UPDATE Status SET SigneradAv = {nul} WHERE StatusId = 5", ()),
        (
            f"UPDATE Bilder SET Kommentar = 'Ett' || {nul} || char(7) || ' foto' "
            "WHERE PatientId = 2",
            (),
        ),
        (
            f"UPDATE Logg SET Anvandare = 'tand' || {nul} || 'lakare1', "
            f"Handelse = 'BILD' || char(1) || '_TILLAGD' WHERE LoggId = 3",
            (),
        ),
        (f"INSERT INTO Installningar (Nyckel, Varde) VALUES ('Extra' || {nul}, 'v' || {nul})", ()),
    )
    results = _run(target, legacy, (1, 2, 3, 4))
    assert results[4]["reconciliation"]["passed"], results[4]["reconciliation"]
    with Session(target) as session:
        patient = session.get(Patient, _entry(session, "Patienter", 2).target_id)
        assert patient is not None
        assert (patient.first_name, patient.note) == ("Anna", "rad 1\nrad 2")
        assert checks.TEXT_CONTROL in _reasons(session, "Patienter", 2)
        shown = session.scalars(
            select(ConversionIssue.raw_value).where(
                ConversionIssue.source_key == "2", ConversionIssue.column_name == "Fornamn"
            )
        ).one()
        assert shown == "An\\x00na"  # the report shows what was typed, the NUL written out
        assert _entry(session, "Status", 4).outcome == "converted"
        image_set = session.get(ImageSet, _entry(session, "Status", 4).target_id)
        assert image_set is not None and image_set.description == "Kontroll"
        signed = session.get(ImageSet, _entry(session, "Status", 5).target_id)
        assert signed is not None and signed.signed_at is not None
        assert checks.SIGNER_MISSING in _reasons(session, "Status", 5)
        comments = session.scalars(
            select(MediaItem.comment).where(MediaItem.patient_id == patient.id)
        ).all()
        assert comments and set(comments) == {"Ett foto"}
        assert _entry(session, "Logg", 3).outcome == "converted"
        assert checks.TEXT_CONTROL in _reasons(session, "Logg", 3)
        assert clinic_settings.get(session, "legacy12.Extra") == "v"


def test_a_file_name_that_is_not_utf8_is_a_file_no_row_names(target: Engine, legacy: Path) -> None:
    # A folder copied from Windows by an old tool keeps names in its code page ("Åsa" as the
    # one byte 0xC5). Before, the folder walk stopped step 1 with a UnicodeEncodeError.
    folder = os.fsencode(legacy / "Bilder" / "000001")
    with open(folder + b"/\xc5sa.JPG", "wb") as odd:
        odd.write(b"not named by any row")
    results = _run(target, legacy, (1, 2, 3, 4))
    assert results[4]["reconciliation"]["passed"], results[4]["reconciliation"]
    with Session(target) as session:
        orphans = session.scalars(
            select(ConversionIssue.raw_value).where(ConversionIssue.reason == checks.ORPHAN_FILE)
        ).all()
    assert "000001/\\xc5sa.JPG" in orphans
    assert os.path.exists(folder + b"/\xc5sa.JPG")  # the 1.2 folder is only read
