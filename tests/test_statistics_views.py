"""The Statistics tab through real requests: the counters on the page, printout and PDF, the
image-folder check job, and a folder or database that fails part of the way."""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
import subprocess
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.orm import Session

from factories import ACTOR, make_image_set, make_media, make_patient
from ibdesk import clients, clinic_settings, demo, patients, statistics, vendor, web
from ibdesk.app import create_app
from ibdesk.blueprints import statistics as view
from ibdesk.blueprints.jobs import registry
from ibdesk.licensing import install_license
from ibdesk.models import MediaItem
from ibdesk.patients import signing
from ibdesk.progress import Event, run_to_end
from ibdesk.statistics import printout
from webfixtures import HX, TEST_PORT, app, client, login
from webfixtures import post as post_from

__all__ = ["app", "client"]  # fixtures, imported for pytest to find

CLINIC = "Folktandvården Åre"


post = functools.partial(post_from, page="/statistics/")  # as the Statistics page posts


def figure(page: str, name: str) -> int:
    found = re.search(rf'data-field="{name}" data-value="(\d+)"', page)
    assert found, f"no {name} on the page"
    return int(found.group(1))


def kind_figures(page: str, kind: str) -> tuple[int, int, int]:
    row = page[page.index(f'data-kind="{kind}"') :]
    row = row[: row.index("</tr>")]
    values = [int(v) for v in re.findall(r'data-value="(\d+)"', row)]
    return values[0], values[1], values[2]


def small_clinic(session: Session) -> None:
    """Three patients (one deleted), three sets (one signed), media of several kinds."""
    first, second = make_patient(session), make_patient(session, first_name="Örjan")
    gone = make_patient(session, last_name="Ängström")
    signed = make_image_set(session, first)
    make_media(session, signed)
    make_media(session, signed, kind="panoramic", byte_size=7_000_000)
    other = make_image_set(session, second)
    make_media(session, other, kind="photo")
    make_media(session, other, kind="photo")
    for kind in ("audio", "document"):
        make_media(session, other, kind=kind, width=None, height=None, bit_depth=None)
    removed = make_media(session, make_image_set(session, second), kind="photo")
    clients.delete_media(session, ACTOR, removed.id)
    signing.sign(session, ACTOR, signed.id)
    patients.delete_patient(session, ACTOR, gone.personnummer, confirm=gone.personnummer)
    session.commit()


def test_generate_shows_the_counters_on_the_right_with_a_chart(
    client: FlaskClient, session: Session, tmp_path: Path, backend: str
) -> None:
    folder = tmp_path / "Röntgen åäö ÅÄÖ"
    folder.mkdir()
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
    session.commit()
    small_clinic(session)
    page = client.get("/statistics/").get_data(as_text=True)
    assert "/<wbr>Röntgen åäö ÅÄÖ" in page  # wraps at a separator, not inside a name
    page = page.replace("<wbr>", "")
    assert str(folder) in page
    assert ("SQLite" if backend == "sqlite" else "PostgreSQL") in page
    assert re.search(r'aria-current="page">Statistics<', page)
    assert 'id="statistics-generate"' in page and "Check image folder" in page
    source = client.get("/statistics/", headers=HX).get_data(as_text=True).replace("<wbr>", "")
    assert "<html" not in source and 'id="statistics-source"' in source and str(folder) in source

    assert client.post("/statistics/generate", headers=HX).status_code == 400  # no CSRF token
    response = post(client, "/statistics/generate")
    assert response.status_code == 200
    partial = response.get_data(as_text=True)
    assert "<html" not in partial and partial.lstrip().startswith("<section")
    counts = statistics.counters(session)
    assert counts == statistics.recount(session)
    session.rollback()  # SQLite: a reading session here would hold the write lock
    assert figure(partial, "patients") == counts["patient"].live == 2
    assert figure(partial, "patients-deleted") == counts["patient"].deleted == 1
    assert figure(partial, "image-sets") == counts["image_set"].live == 3
    assert figure(partial, "signed-sets") == counts["signed_set"].live == 1
    for kind in statistics.MEDIA_SUBJECTS:
        count = counts.get(kind, statistics.Count())
        assert kind_figures(partial, kind) == (count.live, count.live_bytes, count.deleted)
    assert kind_figures(partial, "photo") == (2, counts["photo"].live_bytes, 1)
    assert figure(partial, "media-total") == 6
    assert "free of" in partial and "on the image folder's disk" in partial
    bar = r'<rect class="statistics-bar"[^>]*data-month="([\d-]+)" data-value="(\d+)"'
    bars = re.findall(bar, partial)
    this_month = dt.date.today().strftime("%Y-%m")
    assert len(bars) == 24 and bars[-1] == (this_month, "7")  # the deleted one was added too
    assert " style=" not in partial and "<script" not in partial  # the CSP allows neither
    assert 'href="/statistics/statistics.pdf"' in partial and 'href="/statistics/print"' in partial

    full = post(client, "/statistics/generate", htmx=False).get_data(as_text=True)
    assert full.startswith("<!doctype html>") and 'data-field="patients" data-value="2"' in full
    assert 'id="statistics-source"' in full and 'id="statistics-check"' in full


@pytest.mark.backends("sqlite")
def test_a_missing_or_silent_image_folder_leaves_the_counts_and_says_why(
    client: FlaskClient, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_media(session)
    missing = tmp_path / "Nätverksenhet" / "Bilder"
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(missing))
    session.commit()
    partial = post(client, "/statistics/generate").get_data(as_text=True)
    assert figure(partial, "media-total") == 1
    assert html.unescape(partial).count(f"The image folder {missing} does not exist") == 1

    release, gave_up = threading.Event(), threading.Event()

    def dead_share(_path: str) -> None:  # a disconnected network share never answers
        release.wait(30)
        gave_up.set()
        raise OSError(112, "Host is down")

    monkeypatch.setattr(statistics.shutil, "disk_usage", dead_share)
    partial = post(client, "/statistics/generate").get_data(as_text=True)
    # The page came while the share still hung: the request did not wait for it.
    assert not gave_up.is_set()
    release.set()
    assert figure(partial, "media-total") == 1
    assert f"The image folder {missing} did not answer within 3 seconds." in html.unescape(partial)


@pytest.mark.backends("postgresql")
def test_a_database_that_goes_away_midway_shows_what_could_be_had(
    app: Flask, client: FlaskClient, session: Session, tmp_path: Path, pg_server: Any
) -> None:
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path))
    session.commit()
    make_media(session)
    engine: Engine = app.extensions["ibdesk.database"].engine()
    admin = create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    killed: list[int] = []

    def pull_the_plug(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "stat_delta" in statement and not killed:
            killed.append(conn.connection.dbapi_connection.info.backend_pid)
            with admin.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed[0]})

    event.listen(engine, "before_cursor_execute", pull_the_plug)
    try:
        response = post(client, "/statistics/generate")
    finally:
        event.remove(engine, "before_cursor_execute", pull_the_plug)
        admin.dispose()
    partial = html.unescape(response.get_data(as_text=True))
    assert killed and response.status_code == 200
    assert "The database stopped answering; the figures below are all that could be had" in partial
    assert "The database reported an error: terminating connection" in partial
    assert "free of" in partial  # the disk needs no database
    assert 'data-field="patients"' not in partial and "Save as PDF" not in partial
    again = post(client, "/statistics/generate").get_data(as_text=True)
    assert figure(again, "media-total") == 1  # the next press works again


def test_an_unreachable_database_is_a_message_not_a_hang() -> None:
    application = create_app(
        db_option="postgresql://ib:hemligt@127.0.0.1:1/imagebank", testing=True, port=TEST_PORT
    )
    test_client = application.test_client()
    login(test_client, application)
    try:
        page = test_client.get("/statistics/")
        text_ = html.unescape(page.get_data(as_text=True))
        assert page.status_code == 200 and "The database cannot be reached" in text_
        assert "Unknown while the database cannot be reached." in text_
        answer = post(test_client, "/statistics/generate")
        assert answer.status_code == 409
        said = answer.get_data(as_text=True)
        assert "refused the connection" in said and "<html" not in said and "hemligt" not in said
    finally:
        application.extensions["ibdesk.database"].dispose()


@pytest.fixture
def signed_license(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Return a license file signed by a key trusted through IBDESK_TRUST_KEY."""
    key = vendor.Ed25519PrivateKey.generate()
    (tmp_path / "test.pub").write_bytes(vendor.public_pem(key))
    monkeypatch.setenv("IBDESK_TRUST_KEY", str(tmp_path / "test.pub"))
    text_ = vendor.issue_license(
        key, licensee="Tandläkarna i Överkalix AB", org_number="556012-5790", seats=3
    )
    return text_.encode("utf-8")


@pytest.mark.backends("sqlite")
def test_the_printout_has_no_navigation_and_names_the_clinic(
    client: FlaskClient, session: Session, signed_license: bytes
) -> None:
    assert statistics.clinic_name(session) == ""
    install_license(session, signed_license, ACTOR)
    session.commit()
    assert statistics.clinic_name(session) == "Tandläkarna i Överkalix AB"  # the licensee
    session.rollback()  # SQLite: a reading session here would hold the write lock
    page = client.get("/statistics/print").get_data(as_text=True)
    assert "Tandläkarna i Överkalix AB" in page
    clinic_settings.put(session, clinic_settings.CLINIC_NAME, f"  {CLINIC}  ")
    session.commit()
    assert statistics.clinic_name(session) == CLINIC  # the setting wins
    session.rollback()
    response = client.get("/statistics/print")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and page.startswith("<!doctype html>")
    assert f'data-field="clinic">{CLINIC}<' in page
    assert f'data-field="printed-on">{dt.date.today().isoformat()}' in page
    assert 'class="tabs"' not in page and 'id="status-bar"' not in page
    assert 'href="/static/print.css"' in page and 'src="/static/print.js"' in page
    assert 'id="print-now"' in page and 'href="/statistics/"' in page
    assert "<style" not in page and " style=" not in page  # the CSP would block them
    assert 'data-field="media-total" data-value="0"' in page
    with client.application.test_request_context("/"):  # the PDF's version: CSS inside
        label = web.database_label(web.database())
        embedded = view.print_html(statistics.gather(session), label, embed_css=True)
    assert "@page { size: A4 portrait" in embedded and "print-now" not in embedded
    assert "/static/" not in embedded and CLINIC in embedded


@pytest.mark.backends("sqlite")
def test_save_as_pdf_downloads_the_printout(client: FlaskClient, session: Session) -> None:
    clinic_settings.put(session, clinic_settings.CLINIC_NAME, CLINIC)
    session.commit()
    response = client.get("/statistics/statistics.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition == f"attachment; filename={printout.pdf_name(dt.date.today())}"
    assert response.data.startswith(b"%PDF-")
    words = subprocess.run(
        ["pdftotext", "-", "-"], input=response.data, capture_output=True, check=True
    ).stdout.decode("utf-8")
    assert CLINIC in words and "Image bank statistics" in words


def wait_for(app: Flask, job_id: str) -> Any:
    with app.app_context():
        return registry().wait(job_id, 60)


def job_id_in(page: str) -> str:
    found = re.search(r'id="job-([0-9a-f]+)"', page)
    assert found, "no job on the page"
    return found.group(1)


@pytest.mark.backends("sqlite")
def test_the_folder_check_finds_every_difference_and_saves_the_list(
    app: Flask, client: FlaskClient, engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "Bilder åäö"
    folder.mkdir()
    run_to_end(demo.generate(engine, demo.DemoOptions(3, 3, image_folder=folder)))
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
        session.commit()
        paths = list(session.scalars(select(MediaItem.path).order_by(MediaItem.id)))
    missing, grown, altered = paths[0], paths[1], paths[2]
    (folder / missing).unlink()
    with (folder / grown).open("ab") as fh:
        fh.write(b"x")
    data = bytearray((folder / altered).read_bytes())
    data[-1] ^= 0xFF
    (folder / altered).write_bytes(bytes(data))
    (folder / "Okänd fil.jpg").write_bytes(b"\xff\xd8 not in any row")

    response = post(client, "/statistics/check", {"hashes": "y"})
    assert response.status_code == 200
    partial = response.get_data(as_text=True)
    job_id = job_id_in(partial)
    assert partial.lstrip().startswith('<section class="panel" id="statistics-check"')
    status = wait_for(app, job_id)
    assert status.state == "succeeded"
    result = client.get(f"/statistics/check/{job_id}", headers=HX).get_data(as_text=True)
    assert "4 differences between database and image folder" in result
    for name in ("missing", "unknown", "size-differs", "hash-differs"):
        assert f'data-field="{name}">1<' in result
    assert f'href="/statistics/check/{job_id}/differences.txt"' in result
    saved = client.get(f"/statistics/check/{job_id}/differences.txt")
    assert saved.mimetype == "text/plain" and "attachment" in saved.headers["Content-Disposition"]
    lines = saved.get_data(as_text=True).splitlines()
    assert f"Missing on disk\t{missing}" in lines
    assert f"Size differs\t{grown}" in lines and f"SHA-256 differs\t{altered}" in lines
    assert "On disk but in no row\tOkänd fil.jpg" in lines
    job_page = client.get(f"/jobs/{job_id}", headers=HX).get_data(as_text=True)
    assert f"Missing on disk: {missing}" in html.unescape(job_page)  # the live log


@pytest.mark.backends("sqlite")
def test_a_check_runs_once_at_a_time_and_a_lost_folder_fails_it_with_a_sentence(
    app: Flask,
    client: FlaskClient,
    session: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()

    def slow_check(_engine: Engine, *, hashes: bool) -> Generator[Event, None, None]:
        yield from ()
        release.wait(30)

    monkeypatch.setattr(view.imagecheck, "check", slow_check)
    first = post(client, "/statistics/check", {"hashes": "y"})
    job_id = job_id_in(first.get_data(as_text=True))
    running = first.get_data(as_text=True)
    assert f'hx-get="/statistics/check/{job_id}" hx-trigger="ibdeskJobEnded from:body"' in running
    again = post(client, "/statistics/check")
    said = again.get_data(as_text=True)
    assert again.status_code == 409 and "Image folder check is already running" in said
    assert f'id="job-{job_id}"' in said
    assert f'id="job-{job_id}"' in client.get("/statistics/").get_data(as_text=True)
    refused = client.get(f"/statistics/check/{job_id}/differences.txt")
    assert refused.status_code == 409 and "has not finished" in refused.get_data(as_text=True)
    release.set()
    wait_for(app, job_id)

    monkeypatch.undo()
    gone = tmp_path / "Frånkopplad resurs"
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(gone))
    session.commit()
    failed = post(client, "/statistics/check").get_data(as_text=True)
    status = wait_for(app, job_id_in(failed))
    assert status.state == "failed"
    assert status.error == f"The image folder {gone} cannot be reached; is the share connected?"
    shown = client.get(f"/jobs/{status.id}", headers=HX).get_data(as_text=True)
    assert status.error in html.unescape(shown)
    assert status.id != job_id  # the first check ended, so a second one could start


def export_job() -> Generator[Event, None, str]:
    yield from ()
    return "done"


@pytest.mark.backends("sqlite")
def test_another_kind_of_job_is_not_a_check(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        job_id = registry().start("Export", export_job)
    response = client.get(f"/statistics/check/{job_id}/differences.txt")
    assert response.status_code == 404
    assert "That job is not an image folder check." in response.get_data(as_text=True)
