"""Killed at any point (SIGKILL), a conversion step rerun continues without duplicates or loss."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import legacy12
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibdesk.db import make_engine
from ibdesk.models import AuditEvent, ConversionMap, ImageSet, MediaItem, Patient

pytestmark = pytest.mark.backends("sqlite")
_PROGRESS = re.compile(r": (\d+)/(\d+)")


def _command(db_url: str, out: Path, step: int, images21: Path) -> list[str]:
    return [
        sys.executable, "-m", "ibdesk", "--db", db_url, "convert",
        "--from", legacy12.source_url(out, None), "--images", str(out / "Bilder"),
        "--step", str(step), "--batch", "3", "--target-images", str(images21),
    ]  # fmt: skip


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr


def _kill_after_progress(command: list[str]) -> None:
    """Start the step and SIGKILL it once it has made some progress but not finished."""
    with subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            match = _PROGRESS.search(line)
            if match and 0 < int(match[1]) < int(match[2]):
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=600)
    assert process.returncode == -signal.SIGKILL, "the step ended before it could be killed"


@pytest.mark.parametrize("step", [2, 3, 4])
def test_kill_9_then_rerun(step: int, backend: str, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "legacy12"
    manifest = legacy12.build(out)
    before = legacy12.fingerprint(out, legacy12.source_url(out, None))
    images21 = tmp_path / "images21"
    for earlier in range(1, step):
        _run(_command(db_url, out, earlier, images21))
    _kill_after_progress(_command(db_url, out, step, images21))
    for rest in range(step, 5):
        _run(_command(db_url, out, rest, images21))
    assert legacy12.fingerprint(out, legacy12.source_url(out, None)) == before
    engine = make_engine(db_url)
    with Session(engine) as session:

        def mapped(table: str, outcome: str) -> int:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(ConversionMap)
                    .where(ConversionMap.source_table == table, ConversionMap.outcome == outcome)
                )
                or 0
            )

        def count(model: type) -> int:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

        merged = mapped("Patienter", "merged")
        assert count(Patient) == mapped("Patienter", "converted") == manifest["patients"] - merged
        assert count(ImageSet) == mapped("Status", "converted") + mapped(
            "Status+loose", "converted"
        )
        assert count(MediaItem) == mapped("Bilder", "converted")
        paths = session.scalar(select(func.count(func.distinct(MediaItem.path))))
        assert paths == count(MediaItem)
        converted_log = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("legacy.%"))
        )
        assert converted_log == mapped("Logg", "converted") - mapped_logins(session)
        for table in legacy12.TABLES:
            read = len(legacy12_rows(out, table))
            total = sum(mapped(table, o) for o in ("converted", "merged", "rejected"))
            assert total == read, table
    engine.dispose()
    # Nothing is left half-placed in the 2.1 folder.
    assert not list(images21.rglob("*.part"))


def mapped_logins(session: Session) -> int:
    """Return how many 1.2 log rows became log-ins rather than patient history."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ConversionMap)
            .where(ConversionMap.source_table == "Logg", ConversionMap.detail == "login")
        )
        or 0
    )


def legacy12_rows(out: Path, table: str) -> list[tuple[object, ...]]:
    """Return the rows of a 1.2 SQLite table."""
    import sqlite3

    with sqlite3.connect(f"file:{out / 'imagebank12.sqlite'}?mode=ro", uri=True) as db:
        return db.execute(f'SELECT * FROM "{table}"').fetchall()
