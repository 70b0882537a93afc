"""PDFs printed by Qt WebEngine in a child process: real A4 PDFs, or one clear sentence."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, demo, pdf, statistics
from ibdesk.cli import main
from ibdesk.progress import run_to_end

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CLINIC = "Folktandvården Åre – Östra mottagningen"


def poppler(tool: str, *args: str) -> str:
    """Run a poppler-utils tool (Debian package poppler-utils) and return its output."""
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install poppler-utils (scripts/apt-packages.txt)"
    return subprocess.run([path, *args], capture_output=True, text=True, check=True).stdout


def pages(file: Path) -> int:
    info = poppler("pdfinfo", str(file))
    return int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])


def test_html_becomes_a_one_page_a4_pdf_with_its_text(tmp_path: Path) -> None:
    data = pdf.html_to_pdf(
        "<!doctype html><meta charset=utf-8><h1>Röntgenbilder åäö ÅÄÖ</h1>"
        '<img src="http://192.0.2.1/tracker.png" alt="">'  # outside: blocked; still prints
    )
    assert data.startswith(b"%PDF-")
    file = tmp_path / "page.pdf"
    file.write_bytes(data)
    assert pages(file) == 1
    assert "Page size:       594.96 x 840.96 pts (A4)" in poppler("pdfinfo", str(file))
    assert "Röntgenbilder åäö ÅÄÖ" in poppler("pdftotext", str(file), "-")


@pytest.mark.backends("sqlite")
def test_ibdesk_stats_pdf_prints_the_clinics_statistics(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "Bilder åäö"
    folder.mkdir()
    options = demo.DemoOptions(patients=6, media_per_patient=5, image_folder=folder)
    run_to_end(demo.generate(engine, options))
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
        clinic_settings.put(session, clinic_settings.CLINIC_NAME, CLINIC)
        session.commit()
        counts = statistics.counters(session)
    target = tmp_path / "Statistik för 2026.pdf"
    result = CliRunner().invoke(main, ["--db", db_url, "stats", "--pdf", str(target)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {target}." in result.output
    assert target.read_bytes().startswith(b"%PDF-") and pages(target) == 1
    assert not list(tmp_path.glob("*.part"))
    text = poppler("pdftotext", "-layout", str(target), "-")
    assert CLINIC in text and str(folder) in text
    assert "Image bank statistics" in text
    assert f"Patients {counts['patient'].live}" in " ".join(text.split())
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "statistics-pdf-page1"
    poppler("pdftoppm", "-png", "-r", "70", "-singlefile", str(target), str(png))  # page 1
    assert (ARTIFACTS / "statistics-pdf-page1.png").stat().st_size > 10_000


def test_qt_that_cannot_run_is_one_sentence_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Qt aborts the process (SIGABRT) when its helper process is missing.
    monkeypatch.setenv("QTWEBENGINEPROCESS_PATH", str(tmp_path / "no-such-QtWebEngineProcess"))
    target = tmp_path / "out.pdf"
    with pytest.raises(pdf.PdfError) as caught:
        pdf.write_pdf("<p>x</p>", target)
    message = str(caught.value)
    assert message.startswith("Qt WebEngine could not run to print the PDF (signal 6")
    assert message.endswith("check that its libraries are installed.")
    assert "\n" not in message and not target.exists()


def test_without_pyside6_it_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "fake" / "PySide6"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no Qt here')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    with pytest.raises(pdf.PdfError) as caught:
        pdf.html_to_pdf("<p>x</p>")
    assert str(caught.value) == pdf.NO_QT


def test_the_child_runs_offscreen_and_without_the_sandbox_only_as_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = {"QT_QPA_PLATFORM": "xcb", "QTWEBENGINE_CHROMIUM_FLAGS": "--disable-gpu"}
    monkeypatch.setattr(pdf.os, "geteuid", lambda: 0)
    as_root = pdf.child_environment(base)
    assert as_root["QT_QPA_PLATFORM"] == "offscreen"
    assert as_root["QTWEBENGINE_CHROMIUM_FLAGS"] == "--disable-gpu --no-sandbox"
    assert pdf.child_environment(as_root) == as_root  # not added twice
    monkeypatch.setattr(pdf.os, "geteuid", lambda: 1000)
    as_user = pdf.child_environment(base)
    assert as_user["QT_QPA_PLATFORM"] == "offscreen"
    assert as_user["QTWEBENGINE_CHROMIUM_FLAGS"] == "--disable-gpu"
    assert base["QT_QPA_PLATFORM"] == "xcb"  # the caller's mapping is left alone
