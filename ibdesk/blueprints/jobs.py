"""Long jobs in the browser: a page and a partial that follow one job, and its Cancel button.

Not a tab. A tab starts a job with ``registry().start(name, factory)`` and shows it with the
``job_progress`` macro (``templates/_macros/jobs.html``); the partial polls this blueprint.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, make_response, redirect, url_for
from werkzeug.wrappers import Response as BaseResponse

from ibdesk.blueprints import is_htmx, page_or_partial
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.jobs import JobRegistry, JobState, JobStatus, format_duration

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

LOG_TAIL = 200  # lines shown on the page; the registry keeps more
STATE_LABELS = {
    JobState.RUNNING: _l("Running"),
    JobState.CANCELLING: _l("Cancelling"),
    JobState.SUCCEEDED: _l("Done"),
    JobState.FAILED: _l("Failed"),
    JobState.CANCELLED: _l("Cancelled"),
}


def registry() -> JobRegistry:
    """Return the app's job registry."""
    found: JobRegistry = current_app.extensions["ibdesk.jobs"]
    return found


# Globals, not context: macros imported from _macros/ see globals only.
bp.add_app_template_global(format_duration, "format_duration")
bp.add_app_template_global(STATE_LABELS, "state_labels")  # type: ignore[arg-type]


def _answer(job: JobStatus) -> Response:
    response = make_response(page_or_partial("jobs/index.html", "jobs/_progress.html", job=job))
    if job.finished:
        # Lets the tab that started the job react (for example reload its own list).
        detail = {"id": job.id, "name": job.name, "state": str(job.state)}
        response.headers["HX-Trigger"] = json.dumps({"ibdeskJobEnded": detail})
    return response


@bp.get("/<job_id>")
def show(job_id: str) -> Response:
    """Show a job's progress, log and Cancel button."""
    return _answer(registry().status(job_id, log_tail=LOG_TAIL))


@bp.post("/<job_id>/cancel")
def cancel(job_id: str) -> BaseResponse:
    """Ask the job to stop at its next step."""
    registry().cancel(job_id)
    if not is_htmx():
        return redirect(url_for("jobs.show", job_id=job_id), code=303)
    return _answer(registry().status(job_id, log_tail=LOG_TAIL))
