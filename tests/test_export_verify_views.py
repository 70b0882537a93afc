"""[Verify export] on the Export tab runs the check of ``ibdesk export verify DIR`` as a job."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from exportclinic import clinic, wav
from ibdesk.audit import Actor
from ibdesk.cli import main
from ibdesk.export import ExportOptions, Selection, export_patients
from ibdesk.progress import run_to_end
from webfixtures import HX
from webfixtures import post as post_from

WAIT_S = 120.0
ADMIN = Actor(user="admin.export", machine="SERVER-1")
post = partial(post_from, page="/export/")


def exported(session: Session, engine: Engine, tmp_path: Path) -> Path:
    """Export one patient with a sound recording (copied as it is: no encoding to wait for)."""
    c = clinic(session, tmp_path)
    patient = c.patient(personnummer="19850312-2387", first_name="Åsa", last_name="Öberg")
    c.add(c.image_set(patient), "audio", wav(), "c.wav")
    out = tmp_path / "export"
    out.mkdir()
    summary, _log = run_to_end(
        export_patients(engine, Selection.all_patients(), ExportOptions(to=out, jobs=0), ADMIN)
    )
    assert summary.ok
    return out


def verify_in_the_window(app: Flask, client: FlaskClient, folder: Path) -> str:
    """Press [Verify export] for a folder, wait for the job, and return what the tab shows."""
    started = post(client, "/export/verify", {"folder": str(folder)})
    assert started.status_code == 200
    job_id = re.search(r"/export/verify/([0-9a-f]+)", started.get_data(as_text=True))
    if job_id is None:  # the job ended before the answer was drawn: the answer is the result
        return started.get_data(as_text=True)
    app.extensions["ibdesk.jobs"].wait(job_id.group(1), WAIT_S)
    shown = client.get(f"/export/verify/{job_id.group(1)}", headers=HX)
    assert shown.status_code == 200
    return shown.get_data(as_text=True)


def test_verify_export_reports_an_intact_folder_and_then_a_tampered_file(
    app: Flask, client: FlaskClient, session: Session, engine: Engine, tmp_path: Path
) -> None:
    folder = exported(session, engine, tmp_path)
    intact = verify_in_the_window(app, client, folder)
    assert 'data-field="verify-outcome" data-ok="yes"' in intact
    assert "The export folder is intact: 4 files of 1 patients" in intact
    assert CliRunner().invoke(main, ["export", "verify", str(folder)]).exit_code == 0

    sound = next(folder.rglob("*.wav"))
    sound.write_bytes(sound.read_bytes() + b"\0")
    tampered = verify_in_the_window(app, client, folder)
    assert 'data-ok="no"' in tampered
    problem = f"{sound.relative_to(folder).as_posix()} has changed: its SHA-256 does not match"
    assert problem in tampered
    # The same check as the command line, which names the same file.
    cli = CliRunner().invoke(main, ["export", "verify", str(folder)])
    assert cli.exit_code == 1 and problem in cli.stdout


def test_verify_export_of_a_folder_that_is_not_an_export_says_so(
    client: FlaskClient, tmp_path: Path
) -> None:
    answer = post(client, "/export/verify", {"folder": str(tmp_path / "missing")})
    assert answer.status_code in (400, 404, 409, 422)
    assert "is not a folder" in answer.get_data(as_text=True)
