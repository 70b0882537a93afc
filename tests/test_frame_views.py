"""The frame: setup gate, tabs as data, status bar, overview, error pages, macros, job pages."""

from __future__ import annotations

import hashlib
import importlib
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from flask import Blueprint, Flask, render_template_string
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from wtforms import StringField
from wtforms.validators import DataRequired

from ibdesk import clinic_settings, config, schema, tabs, web
from ibdesk.app import create_app
from ibdesk.blueprints.jobs import registry
from ibdesk.db import DatabaseError, make_engine
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.progress import Event, LogLine, Progress
from webfixtures import HX, TEST_PORT, anon_client, app, client, csrf_token, login

__all__ = ["anon_client", "app", "client"]  # fixtures, imported for pytest to find

PACKAGE = Path(__file__).resolve().parent.parent / "ibdesk"
SWEDISH_FOLDER = "/srv/bilder/Röntgen åäö ÅÄÖ"

# A blueprint standing in for a tab, to drive the frame from the outside.
bp = Blueprint("probe", __name__, url_prefix="/probe")

# The clinic's order of the tabs, as the manual lists them (tabs not yet built included).
CLINIC_ORDER = (
    "wizard",
    "settings",
    "licensing",
    "users",
    "export",
    "statistics",
    "logs",
    "patients",
    "backup",
    "conversion",
)


class ExportForm(FlaskForm):
    folder = StringField(
        "Export folder", validators=[DataRequired()], description="Where the files go."
    )


@bp.get("/")
def index() -> str:
    return render_template_string(
        '{% extends "base.html" %}{% block content %}<h1>Probe</h1>{% endblock %}'
    )


@bp.get("/fail/<kind>")
def fail(kind: str) -> str:
    errors: dict[str, Exception] = {
        "user": UserError("The folder Åkessons bilder is not empty."),
        "refused": Refused("The image set is signed; it cannot change."),
        "missing": NotFound("There is no patient 19121212-1212."),
        "database": DatabaseError("The database server refused the connection."),
        "driver": OperationalError("SELECT 1", {}, Exception("could not translate host name")),
        "bug": ZeroDivisionError("division by zero"),
    }
    raise errors[kind]


@bp.post("/form")
def form_submit() -> tuple[str, int]:
    form = ExportForm()
    form.validate_on_submit()
    return render_template_string(
        '{% from "_macros/forms.html" import field, csrf, button %}'
        "<form>{{ csrf() }}{{ field(form.folder) }}{{ button('Export') }}</form>",
        form=form,
    ), 422


@bp.get("/job/<job_id>")
def job_page(job_id: str) -> str:
    return render_template_string(
        '{% from "_macros/jobs.html" import job_progress %}{{ job_progress(job) }}',
        job=registry().status(job_id),
    )


PROBE_TAB = tabs.Tab("export", "Export", "probe.index", __name__)
WIZARD_TAB = tabs.Tab("wizard", "Wizard", "probe.index", __name__)


MakeClient = Callable[..., FlaskClient]


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """Return a factory of logged-in clients, each on an app of its own (closed afterwards)."""
    made: list[Flask] = []

    def make(tab_list: tuple[tabs.Tab, ...] = (), db_option: str | None = None) -> FlaskClient:
        application = create_app(
            db_option=db_option, testing=True, port=TEST_PORT, tab_list=tab_list
        )
        made.append(application)
        test_client = application.test_client()
        login(test_client, application)
        return test_client

    yield make
    for application in made:
        application.extensions["ibdesk.jobs"].shutdown()
        application.extensions["ibdesk.database"].dispose()


def create_default_database() -> None:
    config.data_dir().mkdir(parents=True)
    engine = make_engine(config.default_sqlite_url(), create=True)
    schema.upgrade(engine)
    engine.dispose()


def test_without_a_database_every_page_leads_to_the_not_configured_page(
    make_client: MakeClient,
) -> None:
    test_client = make_client((PROBE_TAB,))
    for path in ("/", "/probe/", "/probe/fail/user"):
        response = test_client.get(path)
        assert response.status_code == 302 and response.location.endswith("/not-configured")
    htmx = test_client.get("/probe/", headers=HX)
    assert htmx.headers["HX-Redirect"].endswith("/not-configured")
    page = test_client.get("/not-configured").get_data(as_text=True)
    assert "has not been created yet" in page
    # The window never tells its user to run a command.
    for command in ("ibdesk db upgrade", "ibdesk --db URL", "IBDESK_DB", "<code>"):
        assert command not in page
    assert "Check again" in page
    assert str(config.data_dir() / config.DEFAULT_SQLITE_NAME) in page
    # The status bar keeps working on that page (gating it would reload the page forever),
    # and nothing is "unreachable" in red before a database was even chosen.
    bar = test_client.get("/status", headers=HX)
    assert bar.status_code == 200
    assert "not set up yet" in bar.text and "unreachable" not in bar.text
    assert "sb-bad" not in bar.text


def test_an_empty_default_database_is_not_configured_either(make_client: MakeClient) -> None:
    config.data_dir().mkdir(parents=True)
    engine = make_engine(config.default_sqlite_url(), create=True)
    engine.connect().close()  # creates the file, with no tables
    engine.dispose()
    test_client = make_client()
    assert test_client.get("/").status_code == 302
    assert "The database is empty" in test_client.get("/not-configured").get_data(as_text=True)


def test_a_ready_default_database_opens_the_frame(make_client: MakeClient) -> None:
    create_default_database()
    test_client = make_client()
    assert test_client.get("/").status_code == 200
    assert test_client.get("/not-configured").status_code == 302  # nothing left to set up


def test_the_gate_leads_to_the_wizard_once_that_tab_exists(make_client: MakeClient) -> None:
    test_client = make_client((WIZARD_TAB,))
    response = test_client.get("/")
    assert response.status_code == 302 and response.location.endswith("/probe/")
    assert test_client.get("/probe/").status_code == 200  # the wizard itself is not gated


def test_the_tab_list_is_honest() -> None:
    ids = [tab.id for tab in tabs.TABS]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids, key=lambda i: CLINIC_ORDER.index(i) if i in CLINIC_ORDER else 99)
    application = create_app(testing=True, port=TEST_PORT)
    endpoints = {rule.endpoint for rule in application.url_map.iter_rules()}
    for tab in tabs.TABS:
        module = importlib.import_module(tab.blueprint_module)
        assert isinstance(module.bp, Blueprint)
        assert tab.endpoint in endpoints, f"{tab.id}: {tab.endpoint} is a dead link"
        page = PACKAGE / "templates" / tab.id / "index.html"
        assert '{% extends "base.html" %}' in page.read_text(encoding="utf-8")


def test_the_nav_bar_is_drawn_from_the_tab_list(make_client: MakeClient, db_url: str) -> None:
    test_client = make_client((WIZARD_TAB, PROBE_TAB), db_option=db_url)
    page = test_client.get("/probe/").get_data(as_text=True)
    nav = page[page.index('<nav class="tabs"') : page.index("</nav>")]
    assert re.findall(r">([^<]+)</a>", nav) == ["Overview", "Wizard", "Export"]
    # Both tabs use the probe blueprint; the first one is marked as the current page.
    assert re.findall(r'aria-current="page">([^<]+)<', nav) == ["Wizard"]
    home = test_client.get("/").get_data(as_text=True)
    assert '<a href="/" aria-current="page">Overview</a>' in home


def test_the_status_bar_shows_database_schema_and_image_folder(
    client: FlaskClient, session: Session, backend: str, db_url: str
) -> None:
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, SWEDISH_FOLDER)
    session.commit()
    response = client.get("/status", headers=HX)
    assert response.content_type == "text/html; charset=utf-8"
    bar = response.get_data(as_text=True)
    assert "<html" not in bar
    assert ("SQLite file " if backend == "sqlite" else "PostgreSQL server 127.0.0.1:") in bar
    assert "ImageBank 2.1, up to date" in bar and schema.head_revision() in bar  # in a detail
    assert SWEDISH_FOLDER in bar
    overview = client.get("/").get_data(as_text=True)
    assert SWEDISH_FOLDER in overview and "The database cannot be reached" not in overview


def test_pages_do_not_wait_for_the_database_to_draw_the_status_bar(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        job_id = registry().start("Export", quiet_job)

    def no_database(*_args: object) -> None:
        raise AssertionError("the page connected to the database")

    monkeypatch.setattr(web.Database, "schema_status", no_database)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    bar = page[page.index('id="status-bar"') :]
    assert 'hx-get="/status"' in bar and "checking…" in bar
    assert "SQLite" in bar or "PostgreSQL" in bar  # from the URL alone


def test_an_unreachable_database_shows_in_the_bar_and_breaks_no_page(
    make_client: MakeClient,
) -> None:
    test_client = make_client(db_option="postgresql://ib:secret@127.0.0.1:1/imagebank")
    bar = test_client.get("/status").get_data(as_text=True)
    assert "unreachable" in bar and "refused the connection" in bar
    assert "secret" not in bar
    overview = test_client.get("/")
    assert overview.status_code == 200
    assert "The database cannot be reached" in overview.get_data(as_text=True)


@pytest.mark.parametrize(
    ("kind", "status", "text"),
    [
        ("user", 400, "The folder Åkessons bilder is not empty."),
        ("refused", 409, "The image set is signed; it cannot change."),
        ("missing", 404, "There is no patient 19121212-1212."),
        ("database", 409, "The database server refused the connection."),
        ("driver", 409, "host name"),
        ("bug", 500, "An unexpected error stopped this page."),
    ],
)
def test_errors_become_pages_in_the_apps_look(
    make_client: MakeClient, db_url: str, kind: str, status: int, text: str
) -> None:
    test_client = make_client((PROBE_TAB,), db_option=db_url)
    test_client.application.config["PROPAGATE_EXCEPTIONS"] = False
    response = test_client.get(f"/probe/fail/{kind}")
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert text in page and "Traceback" not in page and "ZeroDivisionError" not in page
    assert 'class="tabs"' in page and "Back to the overview" in page
    partial = test_client.get(f"/probe/fail/{kind}", headers=HX)
    assert partial.status_code == status
    assert "<html" not in partial.get_data(as_text=True) and text in partial.get_data(as_text=True)


def test_an_unknown_page_is_a_404_in_the_apps_look(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is no such page in ImageBank SysAdmin." in response.get_data(as_text=True)


def test_the_same_endpoint_answers_a_page_or_its_partial(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    partial = client.get("/", headers=HX).get_data(as_text=True)
    assert page.startswith("<!doctype html>") and 'id="overview"' in page
    assert "<html" not in partial and partial.strip().startswith(
        '<section class="panel" id="overview"'
    )


def test_the_field_macro_ties_help_and_errors_to_the_input(
    make_client: MakeClient, db_url: str
) -> None:
    test_client = make_client((PROBE_TAB,), db_option=db_url)
    token = csrf_token(test_client)
    html = test_client.post("/probe/form", data={"csrf_token": token, "folder": ""}).get_data(
        as_text=True
    )
    assert 'aria-describedby="folder-help folder-errors"' in html
    assert 'aria-invalid="true"' in html and "required" in html
    assert '<p class="field-help" id="folder-help">Where the files go.</p>' in html
    assert 'id="folder-errors"' in html and "This field is required." in html
    assert 'name="csrf_token" value="' in html
    assert '<button type="submit" class="button">Export</button>' in html


def test_htmx_is_vendored_pinned_and_nothing_loads_from_the_network() -> None:
    vendored = PACKAGE / "static" / "vendor"
    table = (vendored / "VENDORED.md").read_text(encoding="utf-8")
    found = re.search(r"`(htmx-[\d.]+\.min\.js)` .*`([0-9a-f]{64})`", table)
    assert found, "VENDORED.md lists htmx with its hash"
    name, digest = found.groups()
    assert hashlib.sha256((vendored / name).read_bytes()).hexdigest() == digest
    assert f"vendor/{name}" in (PACKAGE / "templates" / "base.html").read_text(encoding="utf-8")
    for template in (PACKAGE / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), template


def quiet_job() -> Generator[Event, None, None]:
    yield Progress(0, None)


def backup_job() -> Generator[Event, None, None]:
    yield LogLine("Säkerhetskopia klar")


def counting_job(release: threading.Event) -> Generator[Event, None, str]:
    yield LogLine("Exporterar Åsa Öberg")
    yield Progress(1, 4, "patient 1")
    release.wait(30)
    yield Progress(4, 4)
    return "4 patients exported."


def test_a_job_page_polls_while_running_and_stops_when_done(
    app: Flask, client: FlaskClient
) -> None:
    release = threading.Event()
    with app.app_context():
        job_id = registry().start("Export", lambda: counting_job(release))
    with app.app_context():
        for _ in range(600):  # the worker reaches its first step at once; wait up to 30 s
            if registry().status(job_id).done >= 1:
                break
            time.sleep(0.05)
    page = client.get(f"/jobs/{job_id}")
    html = page.get_data(as_text=True)
    assert f'hx-get="/jobs/{job_id}" hx-trigger="every 1s"' in html
    assert "Exporterar Åsa Öberg" in html and "1 of 4 (25 %)" in html and "Cancel" in html
    assert "so far" in html  # a running job counts its time up
    assert "HX-Trigger" not in page.headers
    release.set()
    with app.app_context():
        registry().wait(job_id, 30)
    done = client.get(f"/jobs/{job_id}", headers=HX)
    html = done.get_data(as_text=True)
    assert "hx-trigger" not in html and "Cancel" not in html
    assert "4 patients exported." in html and "Done" in html
    assert "so far" not in html and "took " in html  # after Done, how long it took
    assert '"ibdeskJobEnded"' in done.headers["HX-Trigger"]


def test_the_job_macro_renders_the_same_partial(make_client: MakeClient, db_url: str) -> None:
    test_client = make_client((PROBE_TAB,), db_option=db_url)
    with test_client.application.app_context():
        job_id = registry().start("Backup", backup_job)
        registry().wait(job_id, 30)
    html = test_client.get(f"/probe/job/{job_id}").get_data(as_text=True)
    assert f'id="job-{job_id}"' in html and "Säkerhetskopia klar" in html


def test_an_unknown_job_says_so(client: FlaskClient) -> None:
    response = client.get("/jobs/nope")
    assert response.status_code == 404
    assert "That job is not known" in response.get_data(as_text=True)


def test_the_engine_behind_the_app_is_the_chosen_one(app: Flask, engine: Engine) -> None:
    with app.test_request_context("/", base_url=f"http://127.0.0.1:{TEST_PORT}"):
        bind = web.db_session().get_bind()
        assert isinstance(bind, Engine) and bind.url == engine.url
