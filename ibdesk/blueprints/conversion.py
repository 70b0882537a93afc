"""The Conversion tab: from an ImageBank 1.2 installation into this 2.1 database, in four steps.

Left the 2.1 target (this database and its image folder), right the 1.2 source and [Test
connection]; four steps, each unlocked once the one before has passed, each a long job on
the one registry. Reports are kept in the database and offered for download.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from sqlalchemy import Engine

from ibdesk import conversion, folders, web
from ibdesk.audit import Actor
from ibdesk.blueprints import TabPage, is_htmx, signin
from ibdesk.blueprints.jobs import LOG_TAIL, registry
from ibdesk.conversion import report as reports
from ibdesk.conversion.source import TABLES
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.forms.conversion import SourceForm
from ibdesk.i18n import gettext as _
from ibdesk.jobs import JobStatus
from ibdesk.progress import Job
from ibdesk.settings.connection import ServerSpec
from ibdesk.settings.connection import url as server_url

bp = Blueprint("conversion", __name__, url_prefix="/conversion")

JOB = "Conversion from 1.2"
FORMATS = {"json": "application/json", "csv": "text/csv", "html": "text/html"}


def source_url(form: SourceForm) -> str:
    """Build the 1.2 database URL from the form (with its password: used, never shown)."""
    backend = form.backend.data or "mssql"
    database = (form.database.data or "").strip()
    if backend == "sqlite":
        path = folders.expand(database)
        spec = ServerSpec("sqlite", folder=str(path.parent))
        built = server_url(spec, path.name)
    else:
        spec = ServerSpec(
            backend,
            host=(form.server.data or "").strip(),
            instance=(form.instance.data or "").strip(),
            user=form.user.data or "",
            password=form.password.data or "",
            driver=(form.driver.data or "").strip(),
        )
        built = server_url(spec, database)
    return built.render_as_string(hide_password=False)


def _running() -> JobStatus | None:
    return registry().running(JOB, log_tail=LOG_TAIL)


def _context(**extra: Any) -> dict[str, Any]:
    session = web.db_session()
    return {
        "target": web.status(web.database()),
        "images21": conversion.target_images(session),
        "steps": conversion.STEPS,
        "passed": conversion.passed_steps(session),
        "reports": {step: conversion.saved_report(session, step) for step in conversion.STEPS},
        "job": _running(),
        "form": SourceForm(),
        "message": None,
        "step_message": None,
        "tested": None,
        **extra,
    }


_render = TabPage("conversion/index.html", _context)


@bp.get("/")
@bp.get("/steps", endpoint="steps")  # asked again after a job ended: the next may be unlocked
def index() -> tuple[str, int]:
    """Show the target, the source form and the four steps."""
    return _render("conversion/_steps.html")


@bp.post("/test")
def test_submit() -> tuple[str, int]:
    """Open the 1.2 source read-only and count its rows."""
    form = SourceForm()
    if not form.validate_on_submit():
        return _render("conversion/_source.html", 422, form=form)
    try:
        source = conversion.open_source(source_url(form), (form.images.data or "").strip())
    except UserError as error:
        return _render("conversion/_source.html", 400, form=form, message=str(error))
    try:
        counts = {table.name: source.count(table) for table in TABLES}
    finally:
        source.close()
    return _render("conversion/_source.html", form=form, tested=counts)


def _job(engine: Engine, url: str, images: str, step: int, actor: Actor) -> Job[dict[str, Any]]:
    source = conversion.open_source(url, images)
    try:
        result = yield from conversion.run_step(engine, source, step, actor=actor)
    finally:
        source.close()
    return result


@bp.post("/step/<int:step>")
@signin.fresh_required
def step_submit(step: int) -> tuple[str, int]:
    """Start one step as a job with live progress and a log."""
    if step not in conversion.STEPS:
        raise NotFound(_("There is no step %(step)s.", step=step))
    form = SourceForm()
    if not form.validate_on_submit():
        message = _("Correct the 1.2 source first: each field's problem is shown under it.")
        return _render(
            "conversion/_steps.html", 422, step_message=message, form=form, source_oob=is_htmx()
        )
    engine = web.database().ready_engine()
    try:
        url = source_url(form)
        images = (form.images.data or "").strip()
        source = conversion.open_source(url, images)  # one clear sentence before the job starts
        try:
            conversion.check_target(web.db_session(), source, step)
        finally:
            source.close()
        actor = web.actor()
        registry().start(JOB, lambda: _job(engine, url, images, step, actor))
    except Refused as error:
        return _render("conversion/_steps.html", 409, step_message=str(error))
    except UserError as error:
        return _render("conversion/_steps.html", 400, step_message=str(error))
    return _render("conversion/_steps.html")


@bp.get("/report/<int:step>.<fmt>")
def report_download(step: int, fmt: str) -> Response:
    """Download a step's kept report (JSON, CSV or HTML to print)."""
    if fmt not in FORMATS:
        raise NotFound(_("Reports are offered as JSON, CSV or HTML."))
    session = web.db_session()
    found = conversion.saved_report(session, step)
    if found is None:
        raise NotFound(_("Step %(step)s has not run yet, so there is no report.", step=step))
    if fmt == "json":
        body = reports.as_json(found)
    elif fmt == "html":
        body = reports.html(found)
    else:
        body = reports.reject_csv(session) if step > 1 else reports.analysis_csv(found)
    response = Response(body, mimetype=FORMATS[fmt])
    if fmt != "html":
        name = f"conversion-step{step}.{fmt}"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
