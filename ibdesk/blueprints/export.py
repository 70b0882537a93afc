"""The Export tab: choose patients (or all), a folder and options; export with a live log.

The chosen patients live in the page, as hidden inputs of database ids, so nothing is kept
on the server between requests; [Select >>] and [Remove selected patient] post the form and
get the right-hand list back (and the left one, without the picked patients). [Folder…]
opens the desktop window's own folder dialog (``IBDESK_CHOOSE_FOLDER``, see
``ibdesk.desktop``); in a web browser [Browse…] lists folders on the server's side
(``ibdesk.folders.browse``, system folders refused), or the folder is typed. The export
runs as a job (``ibdesk.export.export_patients``) that is handed its cancel event, so a
cancelled export still ends with its summary, which can be saved as text or JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ibdesk import csvsafe, display, folders, limits, patients, web
from ibdesk.blueprints import checks_own_length, is_htmx, page_or_partial, status_for
from ibdesk.blueprints.jobs import LOG_TAIL, registry
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.export import ExportOptions, ExportSummary, Selection, export_patients
from ibdesk.export.verify import VerifyReport, verify_export
from ibdesk.forms.export import ExportForm, SearchForm, VerifyForm
from ibdesk.i18n import N_
from ibdesk.i18n import gettext as _
from ibdesk.jobs import JobStatus, format_duration

if TYPE_CHECKING:
    from ibdesk.desktop import FolderChooser

bp = Blueprint("export", __name__, url_prefix="/export")

EXPORT_JOB = N_("Export")
VERIFY_JOB = N_("Verify export")
FOUND_LIMIT = 50  # patients on one page of the left list; [Next patients] shows more
LISTED_FAILURES = 200  # failed items shown on the page; the saved summary has them all


def _chooser() -> FolderChooser | None:
    chooser: FolderChooser | None = current_app.config.get("IBDESK_CHOOSE_FOLDER")
    return chooser


def _running() -> JobStatus | None:
    return registry().running(EXPORT_JOB, log_tail=LOG_TAIL)


def _export_job(job_id: str, log_tail: int | None = LOG_TAIL) -> JobStatus:
    job = registry().status(job_id, log_tail=log_tail)
    if job.name != EXPORT_JOB:
        raise NotFound(_("That job is not an export."))
    return job


@dataclass(frozen=True)
class Found:
    """The left list: what was typed, the patients it finds, or why it cannot be searched."""

    text: str = ""
    page: patients.SearchPage | None = None
    problem: str | None = None
    cursor: str | None = None  # where this page starts (None: the first page)


def find(search: SearchForm, cursor: str | None = None) -> Found:
    """Search the patients that are not deleted, leaving out those already picked.

    The one patient search (``ibdesk.patients.search``): blank lists everyone, a page at a
    time, by personnummer in any form or by name.
    """
    text = (search.q.data or "").strip()
    if search.patient.process_errors:
        return Found(text, None, str(search.patient.process_errors[0]))
    try:
        if cursor is not None and len(cursor) > limits.SEARCH_MAX + limits.CURSOR_MAX_DIGITS:
            raise UserError(_("This page's address is damaged; search again."))
        page = patients.search(
            web.db_session(),
            text,
            cursor=cursor,
            limit=FOUND_LIMIT,
            include_deleted=False,
            exclude=search.patient.data,
        )
    except UserError as error:
        return Found(text, None, str(error))
    return Found(text, page, None, cursor)


def _page(form: ExportForm, status: int = 200, **context: object) -> tuple[str, int]:
    """Render the tab (to htmx, without the frame): the form, and the export job if any."""
    context.setdefault("search", SearchForm(formdata=None))
    if "found" not in context:  # blank lists everyone, less those already picked
        picked = SearchForm(formdata=None)
        picked.patient.data = list(form.patient.data)
        context["found"] = find(picked)
    context.setdefault("chosen", patients.live_rows_by_id(web.db_session(), form.patient.data))
    context.setdefault("job", _running())
    context.setdefault("verify_form", VerifyForm(formdata=None))
    context.setdefault("verify_job", None)
    html = page_or_partial(
        "export/index.html", "export/_tab.html", form=form, can_choose=bool(_chooser()), **context
    )
    return html, status


@bp.get("/")
def index() -> tuple[str, int]:
    """Show the export form (and the export that is running, or the one just started)."""
    job_id = request.args.get("job")
    job = _export_job(job_id) if job_id else _running()
    return _page(ExportForm(formdata=None), job=job)


@bp.get("/patients")
@checks_own_length("q")  # too long a search is said in the result list, which stays
def search() -> tuple[str, int]:
    """List the patients (not deleted, not picked) found by what was typed, for the left list."""
    typed = SearchForm(request.args)
    found = find(typed, request.args.get("cursor") or None)
    status = 400 if found.problem else 200
    if is_htmx():
        return render_template("export/_found.html", found=found), status
    return _page(ExportForm(formdata=None), status, search=typed, found=found)


def _posted_lists() -> ExportForm:
    form = ExportForm()
    for ids in (form.patient, form.found, form.chosen):
        if ids.process_errors:  # ids that are not numbers: the page was tampered with
            raise UserError(str(ids.process_errors[0]))
    return form


def _chosen_answer(
    form: ExportForm, ids: Sequence[int], note: str | None = None
) -> tuple[str, int]:
    rows = patients.live_rows_by_id(web.db_session(), ids)
    search = SearchForm(request.form)
    search.patient.data = [row.id for row in rows]  # a picked patient leaves the left list
    found = find(search)
    if is_htmx():
        html = render_template("export/_chosen.html", chosen=rows, note=note)
        html += render_template("export/_found.html", found=found, oob=True)
        return html, 200
    return _page(form, chosen=rows, note=note, search=search, found=found)


@bp.post("/select")
def select_patients() -> tuple[str, int]:
    """Move the patients highlighted on the left to the list of patients to export."""
    form = _posted_lists()
    if not form.found.data:
        return _chosen_answer(form, form.patient.data, _("Highlight a patient on the left first."))
    return _chosen_answer(form, [*form.patient.data, *form.found.data])


@bp.post("/remove")
def remove_patients() -> tuple[str, int]:
    """Take the patients highlighted on the right out of the list of patients to export."""
    form = _posted_lists()
    if not form.chosen.data:
        return _chosen_answer(form, form.patient.data, _("Highlight a patient on the right first."))
    return _chosen_answer(form, form.without(form.chosen.data))


@bp.post("/folder")
def choose_folder() -> tuple[str, int]:
    """Ask for the export folder with the window's own folder dialog (desktop window only)."""
    chooser = _chooser()
    if chooser is None:
        raise Refused(
            _(
                "The folder dialog opens only in the ImageBank SysAdmin window; type the "
                "folder's path instead."
            )
        )
    form = ExportForm()
    typed = form.to.data or ""
    chosen = chooser(str(folders.expand(typed)) if typed and folders.is_folder(typed) else "")
    if chosen:
        form.to.data = chosen
        form.to.raw_data = [chosen]
    if is_htmx():
        return render_template("export/_folder.html", form=form, can_choose=True), 200
    return _page(form)


@bp.get("/folders")
def browse() -> tuple[str, int]:
    """List a folder's subfolders, to choose the export folder in a web browser."""
    start = request.args.get("at") or request.args.get("to") or ""
    limits.check_length(start, limits.TEXT_MAX, _("folder"))
    try:
        listing = folders.browse(start.strip() or None)
    except UserError as error:
        return render_template("export/_browse.html", listing=None, problem=str(error)), 400
    return render_template("export/_browse.html", listing=listing, problem=None), 200


@bp.get("/folders/use")
def use_folder() -> tuple[str, int]:
    """Put the folder chosen in the browser into the export form's folder field."""
    chosen = request.args.get("at") or ""
    limits.check_length(chosen, limits.TEXT_MAX, _("folder"))
    folders.refuse_dangerous(chosen, _("export folder"))  # the words plan.py uses too
    form = ExportForm(formdata=None, to=chosen)
    return render_template("export/_folder.html", form=form, can_choose=bool(_chooser())), 200


@bp.post("/")
def start() -> BaseResponse | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Check the choices with the domain and start the export job."""
    form = ExportForm()
    if not form.validate_on_submit():
        return _form_answer(form, 422)
    selection = Selection.all_patients() if form.everyone else Selection.of_ids(form.patient.data)
    options = ExportOptions(
        to=Path(form.to.data or ""), jobs=form.jobs.data or 1, lossy_photos=form.lossy_photos.data
    )
    engine, actor = web.database().ready_engine(), web.actor()
    try:
        job_id = registry().start_winding_down(
            EXPORT_JOB,
            lambda cancel: export_patients(engine, selection, options, actor, cancel=cancel),
        )
    except UserError as error:
        return _form_answer(form, status_for(error), problem=str(error))
    if not is_htmx():
        return redirect(url_for("export.index", job=job_id), code=303)
    html, status = _form_answer(form, 200, started=_export_job(job_id))
    # Bring the live log into view (the job's region comes as an out-of-band swap).
    return html, status, {"HX-Reswap": "outerHTML show:#export-job:top"}


def _form_answer(
    form: ExportForm, status: int, *, problem: str | None = None, started: JobStatus | None = None
) -> tuple[str, int]:
    search = SearchForm(request.form)  # htmx sends the search box too: the left list stays
    found = find(search)
    if not is_htmx():
        return _page(form, status, problem=problem, search=search, found=found)
    html = render_template(
        "export/_form.html",
        form=form,
        search=search,
        found=found,
        chosen=patients.live_rows_by_id(web.db_session(), form.patient.data),
        problem=problem,
        started=started,
        can_choose=bool(_chooser()),
    )
    return html, status


@bp.post("/verify")
def verify_start() -> tuple[str, int]:
    """Check an export folder against its manifest, as ``ibdesk export verify`` does."""
    form = VerifyForm()
    if not form.validate_on_submit():
        return _verify_answer(form, None, 422)
    folder = Path(form.folder.data or "")
    try:
        job_id = registry().start(VERIFY_JOB, lambda: verify_export(folder))
    except UserError as error:
        return _verify_answer(form, None, status_for(error), problem=str(error))
    return _verify_answer(form, registry().status(job_id, log_tail=LOG_TAIL), 200)


@bp.get("/verify/<job_id>")
def verify_result(job_id: str) -> tuple[str, int]:
    """Show a folder check's progress, then what it found."""
    job = registry().status(job_id, log_tail=LOG_TAIL)
    if job.name != VERIFY_JOB:
        raise NotFound(_("That job is not a check of an export folder."))
    form = VerifyForm(formdata=None, folder=job.result.folder if job.result else "")
    return _verify_answer(form, job, 200)


def _verify_answer(
    form: VerifyForm, job: JobStatus | None, status: int, *, problem: str | None = None
) -> tuple[str, int]:
    if not is_htmx():
        return _page(
            ExportForm(formdata=None),
            status,
            verify_form=form,
            verify_job=job,
            verify_problem=problem,
        )
    html = render_template(
        "export/_verify.html", verify_form=form, verify_job=job, verify_problem=problem
    )
    return html, status


def is_verify_report(value: object) -> bool:
    """Tell a folder check's report from other job results (a template test)."""
    return isinstance(value, VerifyReport)


bp.add_app_template_test(is_verify_report, "verify_report")


@bp.get("/jobs/<job_id>/summary")
def summary(job_id: str) -> tuple[str, int]:
    """Show an export's summary once it has ended (a placeholder while it runs)."""
    job = _export_job(job_id)
    if is_htmx():
        return render_template("export/_summary.html", job=job), 200
    return _page(ExportForm(formdata=None), job=job)


def _finished_summary(job_id: str) -> tuple[JobStatus, ExportSummary]:
    job = _export_job(job_id, log_tail=None)
    if not isinstance(job.result, ExportSummary):
        raise Refused(_("This export has no summary (yet): it is still running or it failed."))
    return job, job.result


def _download(data: str, mimetype: str, name: str) -> Response:
    return Response(
        data.encode("utf-8"),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _file_name(extension: str) -> str:
    return f"export-summary-{dt.datetime.now().strftime('%Y-%m-%d-%H%M')}.{extension}"


@bp.get("/jobs/<job_id>/summary.txt")
def summary_text(job_id: str) -> Response:
    """Save an export's summary as text."""
    job, result = _finished_summary(job_id)
    return _download(summary_as_text(result, job), "text/plain; charset=utf-8", _file_name("txt"))


@bp.get("/jobs/<job_id>/summary.json")
def summary_json(job_id: str) -> Response:
    """Save an export's summary as JSON (the same fields as ``ibdesk export --json``)."""
    _job, result = _finished_summary(job_id)
    data = json.dumps(result.as_dict(), ensure_ascii=False, indent=2) + "\n"
    return _download(data, "application/json; charset=utf-8", _file_name("json"))


def summary_as_text(summary: ExportSummary, job: JobStatus) -> str:
    """Write an export's summary as a text file an administrator can keep."""
    size = display.byte_size
    lines = [
        _("ImageBank SysAdmin – export summary"),
        _("Saved: %(when)s", when=display.date_time(dt.datetime.now().astimezone())),
        _("Folder: %(folder)s", folder=csvsafe.text_cell(summary.folder)),
        _("Outcome: %(outcome)s", outcome=summary.describe()),
        "",
        _("Patients exported: %(count)s", count=display.number(summary.patients)),
        _("Patients not exported: %(count)s", count=display.number(summary.patients_failed)),
        _("Files encoded: %(count)s", count=display.number(summary.files_encoded)),
        _("Files copied unchanged: %(count)s", count=display.number(summary.files_copied)),
        _("Files already there: %(count)s", count=display.number(summary.files_skipped)),
        _("Files not exported: %(count)s", count=display.number(summary.files_failed)),
        _("Read: %(size)s", size=size(summary.bytes_read)),
        _("Written: %(size)s", size=size(summary.bytes_written)),
        _("Time: %(time)s", time=format_duration(summary.seconds)),
    ]
    if summary.failures:
        lines += ["", _("Problems (%(count)s):", count=display.number(summary.failures))]
        for item in summary.failed:
            what = (
                _("media %(id)s (%(path)s)", id=item.media_id, path=item.path)
                if item.media_id
                else _("the patient")
            )
            who = display.personnummer(item.personnummer) or "-"
            lines.append("  " + csvsafe.text_cell(f"{who} {what}: {item.problem}"))
        if summary.failures > len(summary.failed):
            more = summary.failures - len(summary.failed)
            lines.append("  " + _("… and %(count)s more.", count=display.number(more)))
    lines += ["", _("Log:"), *("  " + csvsafe.text_cell(line.text) for line in job.log)]
    if job.lines_dropped:
        lines.append("  " + _("(%(count)s earlier lines not kept)", count=job.lines_dropped))
    return "\n".join(lines) + "\n"


def is_export_summary(value: object) -> bool:
    """Tell an export's summary from other job results (a template test)."""
    return isinstance(value, ExportSummary)


bp.add_app_template_test(is_export_summary, "export_summary")


@bp.context_processor
def _export_context() -> dict[str, object]:
    return {"export_listed_failures": LISTED_FAILURES}
