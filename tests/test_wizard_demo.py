"""Demo clinics: valid, consistent rows; real files whose size and SHA-256 match."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, demo, licensing, personnummer, statistics
from ibdesk.db import make_engine
from ibdesk.demo import clinic as democlinic
from ibdesk.errors import UserError
from ibdesk.models import AuditEvent, ImageSet, LoginEvent, MediaItem, Patient
from ibdesk.progress import Progress, run_to_end


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_demo_rows_are_consistent(engine: Engine) -> None:
    summary, log = run_to_end(
        demo.generate(engine, demo.DemoOptions(patients=60, media_per_patient=7))
    )
    assert summary.patients == 60 and summary.media == 60 * 7
    with Session(engine) as session:
        assert _count(session, Patient) == 60
        assert _count(session, MediaItem) == 420
        assert _count(session, ImageSet) == summary.image_sets
        # one audit event per patient, set and media item
        assert _count(session, AuditEvent) == 60 + summary.image_sets + 420
        assert _count(session, LoginEvent) == summary.logins > 0
        for number in session.scalars(select(Patient.personnummer)):
            assert personnummer.parse(number).number == number
        # media belong to a set of the same patient
        mismatched = session.scalar(
            select(func.count())
            .select_from(MediaItem)
            .join(ImageSet)
            .where(ImageSet.patient_id != MediaItem.patient_id)
        )
        assert mismatched == 0
        assert statistics.counters(session) == statistics.recount(session)
        assert statistics.counters(session)["patient"].live == 60
    assert "60 patients" in log[-1].text


def test_second_run_adds_new_patients(engine: Engine) -> None:
    options = demo.DemoOptions(patients=20, media_per_patient=1)
    run_to_end(demo.generate(engine, options))
    run_to_end(demo.generate(engine, options))  # same seed: the numbers are drawn again
    with Session(engine) as session:
        assert _count(session, Patient) == 40


def test_demo_progress_reaches_total(engine: Engine) -> None:
    events = list(demo.generate(engine, demo.DemoOptions(patients=5, media_per_patient=2)))
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[0].done > 0 and progress[-1].done == progress[-1].total == 5


@pytest.mark.backends("sqlite")  # files are backend-independent; one run is enough
def test_demo_files_match_their_rows(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "bilder"
    folder.mkdir()
    summary, _ = run_to_end(
        demo.generate(
            engine, demo.DemoOptions(patients=4, media_per_patient=12, image_folder=folder)
        )
    )
    assert summary.files == 48
    depths = set()
    with Session(engine) as session:
        for item in session.scalars(select(MediaItem)):
            data = (folder / item.path).read_bytes()
            assert len(data) == item.byte_size
            assert hashlib.sha256(data).hexdigest() == item.sha256
            if item.kind in ("intraoral", "panoramic", "photo"):
                with Image.open(folder / item.path) as image:
                    assert image.size == (item.width, item.height)
                depths.add((item.kind, item.bit_depth))
    assert ("intraoral", 16) in depths
    assert not list(folder.rglob("*.part"))


def test_bad_options_are_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="between 1 and"):
        demo.DemoOptions(patients=0).check()
    with pytest.raises(UserError, match="does not exist"):
        next(demo.generate(engine, demo.DemoOptions(patients=1, image_folder=tmp_path / "missing")))


def test_a_demo_clinic_has_files_a_demo_license_and_never_overwrites(tmp_path: Path) -> None:
    clinic, log = run_to_end(democlinic.demo_clinic(tmp_path, patients=3, media_per_patient=2))
    assert Path(str(clinic.url.database)).name == "imagebank-demo.sqlite3"
    assert clinic.image_folder == tmp_path / "images"
    assert clinic.files == 6 and len(list(clinic.image_folder.rglob("*.*"))) == 6
    assert clinic.licensee.startswith("DEMO") and any("DEMO license" in line.text for line in log)
    engine = make_engine(clinic.url)
    with Session(engine) as session:
        info = licensing.current_license(session)
        assert info is not None and info.is_demo and info.valid
        assert clinic_settings.get(session, clinic_settings.IMAGE_FOLDER) == str(
            tmp_path / "images"
        )
    engine.dispose()
    # A second demo gets a new file; a cancelled one leaves no database behind.
    job = democlinic.demo_clinic(tmp_path, patients=3, media_per_patient=0)
    next(job)
    next(job)
    job.close()
    assert sorted(p.name for p in tmp_path.glob("*.sqlite3*")) == ["imagebank-demo.sqlite3"]
    with pytest.raises(UserError, match="does not exist"):
        democlinic.demo_clinic(tmp_path / "missing")
