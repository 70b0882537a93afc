"""`ibdesk convert --step N` in a new process: earlier steps are read from the database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import legacy12
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibdesk.conversion import history
from ibdesk.db import make_engine
from ibdesk.models import ConversionMap, ImageSet, MediaItem, Patient
from ibdesk.patients import signing

pytestmark = pytest.mark.backends("sqlite")


def _convert(db_url: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "ibdesk", "--db", db_url, "convert",
        "--from", legacy12.source_url(out, None), "--images", str(out / "Bilder"), *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _refusal(before: int, step: int) -> list[str]:
    return [f"ibdesk: Step {before} must pass before step {step} can run."]


def _mapped(db_url: str) -> int:
    engine = make_engine(db_url)
    with Session(engine) as session:
        count = int(session.scalar(select(func.count()).select_from(ConversionMap)) or 0)
    engine.dispose()
    return count


def test_each_step_in_its_own_process(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "legacy12"
    manifest = legacy12.build(out, patients=20)
    images21 = tmp_path / "images21"

    refused = _convert(db_url, out, "--step", "2")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == _refusal(1, 2)
    assert _mapped(db_url) == 0

    assert _convert(db_url, out, "--analyse").returncode == 0
    early = _convert(db_url, out, "--step", "3", "--target-images", str(images21))
    assert early.returncode != 0
    assert early.stderr.strip().splitlines() == _refusal(2, 3)
    assert _mapped(db_url) == 0

    assert _convert(db_url, out, "--step", "2").returncode == 0
    too_soon = _convert(db_url, out, "--step", "4")
    assert too_soon.returncode != 0
    assert too_soon.stderr.strip().splitlines() == _refusal(3, 4)

    third = _convert(db_url, out, "--step", "3", "--target-images", str(images21))
    assert third.returncode == 0, third.stderr
    fourth = _convert(db_url, out, "--step", "4", "--json")
    assert fourth.returncode == 0, fourth.stderr
    report = json.loads(fourth.stdout)
    assert report["reconciliation"]["passed"]
    assert report["reconciliation"]["tables"]["Patienter"]["read"] == manifest["patients"]
    engine = make_engine(db_url)
    with Session(engine) as session:
        patients = report["reconciliation"]["tables"]["Patienter"]["converted"]
        assert session.scalar(select(func.count()).select_from(Patient)) == patients
        # The reconciliation's batched signature check agrees with [Verify], tampering too.
        sets = session.scalars(select(ImageSet.id).where(ImageSet.signed_at.is_not(None))).all()
        assert sets and all(signing.verify(session, s).ok for s in sets)
        assert history._verify_signed(session, batch=2) == (len(sets), [])
        item = session.scalars(select(MediaItem).where(MediaItem.image_set_id == sets[0])).first()
        assert item is not None
        item.comment = "changed after signing"
        session.flush()
        assert not signing.verify(session, sets[0], check_files=False).ok
        assert history._verify_signed(session, batch=2) == (len(sets), [sets[0]])
        session.rollback()
    engine.dispose()
