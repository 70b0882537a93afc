"""``ibdesk export`` and ``ibdesk export verify``; a killed export; a closed export job."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import glymur
import numpy as np
import pytest
from click.testing import CliRunner, Result
from lxml import etree
from PIL import Image
from processes import LINUX_PROC, descendants, wait_gone
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from exportclinic import Clinic, clinic, png, standard_patient, xray16
from ibdesk.audit import Actor
from ibdesk.cli import main
from ibdesk.db import make_engine
from ibdesk.export import ExportOptions, ExportSummary, Selection, export_patients
from ibdesk.export.manifest import MANIFEST, lock, read
from ibdesk.export.patient_xml import schema
from ibdesk.models import MediaItem, SystemEvent
from ibdesk.progress import Job, Progress, run_to_end

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def db(
    db_url: str, tmp_path: Path, cli_admin: str
) -> Iterator[tuple[str, Engine, Session, Clinic]]:
    """A clinic to export, with an administrator signed in on the command line."""
    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as session:
        yield db_url, engine, session, clinic(session, tmp_path)
    engine.dispose()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    return folder


def test_export_all_then_verify(db: tuple[str, Engine, Session, Clinic], out: Path) -> None:
    url, _, _, c = db
    patient, _ = standard_patient(c)
    result = run("--db", url, "export", "--all", "--to", str(out), "--jobs", "0", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] and summary["patients"] == 1 and summary["files_encoded"] == 3
    assert (out / patient.personnummer / "patient.xml").is_file()
    result = run("--db", url, "export", "verify", str(out))
    assert result.exit_code == 0 and "all intact" in result.stdout
    # Typed the way staff type it; photos visually lossless on request.
    short = f"{patient.personnummer[2:8]}-{patient.personnummer[8:]}"
    again = run("--db", url, "export", "--patient", short, "--to", str(out), "--jobs", "0",
                "--lossy-photos")  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert "1 files encoded, 0 copied, 4 already there" in again.stdout


@pytest.mark.backends("sqlite")
def test_problems_exit_non_zero_with_the_summary(
    db: tuple[str, Engine, Session, Clinic], out: Path
) -> None:
    url, _, _, c = db
    patient, items = standard_patient(c)
    c.source(items["panoramic"]).unlink()
    result = run("--db", url, "export", "--all", "--to", str(out), "--jobs", "0", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["failures"] == 1 and summary["failed"][0]["media_id"] == items["panoramic"].id
    assert result.stderr.strip().splitlines()[-1].startswith("ibdesk: 1 item could not be")
    text = run("--db", url, "export", "--all", "--to", str(out), "--jobs", "0")
    assert text.exit_code == 1 and "is missing" in text.stdout
    assert patient.personnummer in text.stdout


@pytest.mark.backends("sqlite")
def test_verify_reports_every_kind_of_damage(
    db: tuple[str, Engine, Session, Clinic], out: Path
) -> None:
    url, _, _, c = db
    patient, _ = standard_patient(c)
    other = c.patient()
    assert run("--db", url, "export", "--all", "--to", str(out), "--jobs", "0").exit_code == 0
    folder = out / patient.personnummer
    names = sorted(read(folder / MANIFEST))
    jp2s = [n for n in names if n.endswith(".jp2")]
    (folder / jp2s[0]).write_bytes(b"changed")
    (folder / jp2s[1]).unlink()
    (folder / "extra.txt").write_text("not exported")
    (folder / ".part-4-9-photo.jp2").write_bytes(b"half")
    (out / other.personnummer / "patient.xml").write_text("<patient/>")
    (out / "200001019999").mkdir()

    result = run("--db", url, "export", "verify", str(out), "--json")
    assert result.exit_code == 1
    problems = "\n".join(json.loads(result.stdout)["problems"])
    assert f"{jp2s[0]} has changed" in problems
    assert f"{jp2s[1]} is missing" in problems
    assert "extra.txt is not in the manifest" in problems
    assert "half-written" in problems
    assert f"{other.personnummer}/patient.xml has changed" in problems
    assert "200001019999 is a patient folder the manifest does not list" in problems
    assert "does not match its manifest" in result.stderr
    swedish = CliRunner().invoke(
        main, ["--db", url, "export", "verify", str(out), "--json"], env={"LANG": "sv_SE.UTF-8"}
    )
    found = "\n".join(json.loads(swedish.stdout)["problems"])
    assert f"{jp2s[1]} saknas." in found and "is missing" not in found

    bare = run("export", "verify", str(out / "200001019999"))
    assert bare.exit_code == 1 and "no manifest.sha256" in bare.stderr


def test_usage_errors(db: tuple[str, Engine, Session, Clinic], out: Path) -> None:
    url = db[0]
    for args in (
        ["export", "--to", str(out)],
        ["export", "--all", "--patient", "19121212-1212", "--to", str(out)],
        ["export", "--all"],
        ["export", "--all", "verify", str(out)],
    ):
        result = run("--db", url, *args)
        assert result.exit_code == 2, args
    missing = run("--db", url, "export", "--all", "--to", str(out / "nope"))
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    unknown = run("--db", url, "export", "--patient", "19121212-1212", "--to", str(out))
    assert unknown.exit_code == 1 and "19121212-1212" in unknown.stderr


def _assert_every_final_file_is_complete(out: Path, c: Clinic, session: Session) -> int:
    """Check that no file with a final name is half-written; return how many were checked."""
    checked = 0
    for folder in (p for p in out.iterdir() if p.is_dir()):
        journal = read(folder / MANIFEST)
        for path in folder.iterdir():
            if path.name.startswith(".part-") or path.name == MANIFEST:
                continue
            if path.suffix == ".jp2":
                item = session.get(MediaItem, int(path.name.split("-")[1]))
                assert item is not None
                original = np.asarray(Image.open(c.source(item)))
                assert np.array_equal(glymur.Jp2k(path)[:], original), path
            elif path.name == "patient.xml":
                assert schema().validate(etree.parse(str(path)))
            if path.name in journal:
                assert hashlib.sha256(path.read_bytes()).hexdigest() == journal[path.name]
            checked += 1
    session.rollback()  # SQLite: a session's transaction holds the write lock
    return checked


@LINUX_PROC
@pytest.mark.slow
@pytest.mark.backends("sqlite")
def test_kill_9_in_the_middle_then_rerun_completes(
    db: tuple[str, Engine, Session, Clinic], out: Path
) -> None:
    url, _, session, c = db
    for n in range(6):
        patient = c.patient()
        image_set = c.image_set(patient)
        for k in range(3):
            # Noise does not compress: each file takes a moment to encode.
            c.add(image_set, "intraoral", png(xray16(420, 380, seed=10 * n + k)), f"{k}.png")
    command = [sys.executable, "-m", "ibdesk", "--db", url, "export", "--all", "--to", str(out),
               "--jobs", "1"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if any(read(p / MANIFEST) for p in out.iterdir() if p.is_dir()):
                break
            time.sleep(0.01)
        workers = descendants(process.pid)
        assert process.poll() is None, "the export ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    assert workers and not wait_gone(workers), "worker processes outlived the killed export"
    finished = [p for p in out.iterdir() if (p / "patient.xml").exists()]
    assert len(finished) < 6 and not (out / MANIFEST).exists()
    assert _assert_every_final_file_is_complete(out, c, session) >= 1

    result = run("--db", url, "export", "--all", "--to", str(out), "--jobs", "1", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["patients"] == 6 and summary["files_skipped"] >= 1
    assert summary["files_skipped"] + summary["files_encoded"] == 18
    assert run("--db", url, "export", "verify", str(out)).exit_code == 0
    assert _assert_every_final_file_is_complete(out, c, session) == 6 * 4


def _running_export(
    engine: Engine, session: Session, tmp_path: Path, out: Path, patients: int, images: int
) -> tuple[Job[ExportSummary], set[int]]:
    """Start an export on two workers; return it after its first file, with the workers."""
    import multiprocessing.forkserver as forkserver

    c = clinic(session, tmp_path)
    for _ in range(patients):
        image_set = c.image_set(c.patient())
        for k in range(images):
            c.add(image_set, "intraoral", png(xray16(300, 300, seed=k)), f"{k}.png")
    job = export_patients(
        engine, Selection.all_patients(), ExportOptions(to=out, jobs=2), Actor("admin")
    )
    next(e for e in job if isinstance(e, Progress) and e.done >= 1)
    server: int | None = getattr(forkserver._forkserver, "_forkserver_pid", None)
    assert server is not None
    workers = descendants(server)
    assert workers
    return job, workers


@LINUX_PROC
@pytest.mark.backends("sqlite")
def test_closing_the_job_shuts_the_worker_processes_down(
    engine: Engine, session: Session, tmp_path: Path, out: Path
) -> None:
    job, workers = _running_export(engine, session, tmp_path, out, patients=4, images=3)
    job.close()  # returns (pytest-timeout would catch a hang) and leaves no worker behind
    assert not wait_gone(workers, 5.0)
    with lock(out):  # released
        pass
    assert not any(p.name.startswith(".part-") for p in out.rglob("*"))
    assert (out / MANIFEST).exists()  # the folder's manifest covers what was finished
    last = session.scalars(select(SystemEvent).order_by(SystemEvent.id.desc())).first()
    assert last is not None and last.action == "export.finish" and "cancelled" in last.detail


@LINUX_PROC
@pytest.mark.backends("sqlite")
def test_a_worker_killed_midway_costs_no_file(
    engine: Engine, session: Session, tmp_path: Path, out: Path
) -> None:
    # A worker dies (the kernel's OOM killer, an operator's kill): the files it and its pool
    # held are encoded again in a new pool, and that new pool is not shut down when the old
    # pool's other broken files come in.
    job, workers = _running_export(engine, session, tmp_path, out, patients=6, images=4)
    os.kill(min(workers), signal.SIGKILL)
    summary, log = run_to_end(job)
    problems = [line.text for line in log if line.level == "error"]
    assert summary.files_failed == 0, problems
    assert summary.files_encoded == 24 and summary.patients == 6
    assert run("export", "verify", str(out)).exit_code == 0
