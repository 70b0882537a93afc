"""The Statistics tab: counts from the kept counters, their printout and PDF, the folder check.

The printout (``statistics/print.html``) is one template for the window's print layout, the
tab's [Save as PDF] and ``ibdesk stats --pdf``; ``print_html`` renders it with its
stylesheet inside, for Qt WebEngine to print in a child process (``ibdesk.pdf``).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Blueprint, Response, render_template, send_file
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ibdesk import audit, display, pdf, statistics, web
from ibdesk.audit import Actor
from ibdesk.blueprints import is_htmx
from ibdesk.blueprints.jobs import LOG_TAIL, registry
from ibdesk.db import session_scope
from ibdesk.errors import NotFound, Refused
from ibdesk.forms.statistics import CheckForm
from ibdesk.i18n import N_
from ibdesk.i18n import gettext as _
from ibdesk.jobs import JobStatus
from ibdesk.progress import Job
from ibdesk.settings.connection import DatabaseLabel
from ibdesk.statistics import imagecheck, lastreport, printout

bp = Blueprint("statistics", __name__, url_prefix="/statistics")

CHECK_JOB = N_("Image folder check")


def _running_check() -> JobStatus | None:
    return registry().running(CHECK_JOB, log_tail=LOG_TAIL)


def _render(partial: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Answer htmx with the partial, anyone else with the whole tab around it."""
    if is_htmx():
        return render_template(partial, **context), status
    page: dict[str, Any] = {"form": CheckForm(), "check": _running_check(), "gathered": None}
    page.update(context)
    if "source" not in page:
        page["source"] = web.status(web.database())
    return render_template("statistics/index.html", **page), status


@bp.get("/")
def index() -> tuple[str, int]:
    """Show the database and image folder, the buttons, a running folder check, and the
    last generated report with its time."""
    source = web.status(web.database())
    if is_htmx():
        return _render("statistics/_source.html", source=source)
    last = None
    if source.problem is None and source.ok:
        with Session(web.database().ready_engine()) as session:
            last = lastreport.load(session)
    context = printout.report_context(last) if last else {}
    return _render("statistics/_source.html", source=source, **context)


@bp.post("/generate")
def generate_submit() -> tuple[str, int]:
    """Generate the statistics from the counters (instant at any size), and keep them."""
    session = web.db_session()
    actor = web.actor()
    gathered = statistics.gather(session)
    if gathered.problem is None:
        lastreport.save(session, gathered, by=actor.user)
        audit.system_event(session, actor, "statistics.read", "Statistics tab")
        session.commit()
    return _render("statistics/_report.html", **printout.report_context(gathered))


def print_html(gathered: statistics.Gathered, label: DatabaseLabel, *, embed_css: bool) -> str:
    """Render the printout; with ``embed_css`` its stylesheet is inside (for the PDF)."""
    context = printout.print_context(gathered, label, embed_css=embed_css)
    return render_template("statistics/print.html", **context)


@bp.get("/print")
def print_page() -> str:
    """Show the printout: A4, no navigation, the clinic's name and the date."""
    gathered = statistics.gather(web.db_session())
    return print_html(gathered, web.database_label(web.database()), embed_css=False)


@bp.get("/statistics.pdf")
def save_pdf() -> Response:
    """Print the printout to an A4 PDF with Qt WebEngine and download it."""
    gathered = statistics.gather(web.db_session())
    data = pdf.html_to_pdf(printout.pdf_html(gathered, web.database_label(web.database())))
    return send_file(
        io.BytesIO(data),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=printout.pdf_name(dt.date.today()),
    )


@bp.post("/check")
def check_submit() -> tuple[str, int]:
    """Start comparing the image folder with the database, as a job with a live log."""
    form = CheckForm()
    if not form.validate_on_submit():
        return _render("statistics/_check.html", 422, form=form, check=None)
    engine = web.database().ready_engine()
    hashes, actor = bool(form.hashes.data), web.actor()
    try:
        job_id = registry().start(CHECK_JOB, lambda: _logged_check(engine, actor, hashes=hashes))
    except Refused as error:  # one is running already: show that one
        return _render(
            "statistics/_check.html", 409, form=form, check=_running_check(), message=str(error)
        )
    return _render(
        "statistics/_check.html", form=form, check=registry().status(job_id, log_tail=LOG_TAIL)
    )


def _logged_check(engine: Engine, actor: Actor, *, hashes: bool) -> Job[imagecheck.CheckReport]:
    """Run the folder check, then record its outcome in the system log (as ``ibdesk images
    check`` does) under the person who started it."""
    report = yield from imagecheck.check(engine, hashes=hashes)
    with session_scope(engine) as session:
        summary = f"{report.checked_rows} rows, {report.checked_files} files, ok {report.ok}"
        audit.system_event(session, actor, "images.check", summary)
    return report


def _check_job(job_id: str) -> JobStatus:
    job = registry().status(job_id, log_tail=0)
    if job.name != CHECK_JOB:
        raise NotFound(_("That job is not an image folder check."))
    return job


@bp.get("/check/<job_id>")
def check_result(job_id: str) -> tuple[str, int]:
    """Show what the check found once it has ended (nothing while it runs)."""
    return _render("statistics/_check_result.html", check=_check_job(job_id))


@bp.get("/check/<job_id>/differences.txt")
def check_list(job_id: str) -> Response:
    """Download the check's list of differences as text (one tab-separated line each)."""
    job = _check_job(job_id)
    report = job.result
    if not isinstance(report, imagecheck.CheckReport):
        raise Refused(_("The image folder check has not finished, so there is no list yet."))
    lines = [
        _(
            "# ImageBank image folder check, %(UTC)s",
            UTC=display.date_time(dt.datetime.now(dt.UTC)),
        ),
        _(
            "# %(checked_rows)s media rows and %(checked_files)s files checked",
            checked_rows=report.checked_rows,
            checked_files=report.checked_files,
        ),
        *report.lines(),
    ]
    name = f"image-folder-check-{dt.date.today().isoformat()}.txt"
    return send_file(
        io.BytesIO(("\n".join(lines) + "\n").encode("utf-8")),
        mimetype="text/plain; charset=utf-8",
        as_attachment=True,
        download_name=name,
    )
