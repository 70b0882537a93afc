"""One bad row never loses its batch: the batch is retried around it through the bulk path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import legacy12
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ibdesk import conversion
from ibdesk.conversion import checks
from ibdesk.models import ConversionIssue, ConversionMap, Patient
from ibdesk.progress import run_to_end


@pytest.mark.backends("postgresql")
def test_a_row_the_database_refuses_is_rejected_alone(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "legacy12"
    manifest = legacy12.build(out, patients=12)
    db = sqlite3.connect(out / "imagebank12.sqlite")
    bad = db.execute("SELECT MIN(PatientId) + 2 FROM Patienter").fetchone()[0]
    # A rule of the clinic's own database refuses this row: its COPY fails inside its batch
    # of five. (A NUL byte did so once; the converter now drops control characters.)
    db.execute("UPDATE Patienter SET Fornamn = 'Vägrad' WHERE PatientId = ?", [bad])
    db.commit()
    db.close()
    rule = "ALTER TABLE patient ADD CONSTRAINT refuses_one CHECK (first_name <> 'Vägrad')"
    with engine.begin() as conn:
        conn.exec_driver_sql(rule)
    source = conversion.open_source(legacy12.source_url(out, None), out / "Bilder")
    try:
        for step in (1, 2):
            run_to_end(conversion.run_step(engine, source, step, conversion.Options(batch=5)))
    finally:
        source.close()
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE patient DROP CONSTRAINT refuses_one")
    with Session(engine) as session:
        outcomes = dict(
            session.execute(
                select(ConversionMap.outcome, func.count())
                .where(ConversionMap.source_table == "Patienter")
                .group_by(ConversionMap.outcome)
            ).all()
        )
        entry = session.scalar(
            select(ConversionMap).where(
                ConversionMap.source_table == "Patienter", ConversionMap.source_key == str(bad)
            )
        )
        issue = session.scalar(
            select(ConversionIssue).where(
                ConversionIssue.source_key == str(bad),
                ConversionIssue.reason == checks.WRITE_FAILED,
            )
        )
        patients = session.scalar(select(func.count()).select_from(Patient))
    assert entry is not None and entry.outcome == "rejected" and entry.target_id is None
    assert issue is not None and issue.rejected and issue.raw_value
    assert outcomes.get("rejected") == 1
    assert sum(outcomes.values()) == manifest["patients"]
    assert patients == outcomes.get("converted")
