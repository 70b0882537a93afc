"""The Backup tab: the repository, [Back up now], [Verify], the backups made, the schedule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ibdesk import audit, backup, web
from ibdesk.backup import drill, restore, run, schedule, store
from ibdesk.backup.restic import Restic
from ibdesk.backup.restic import shown as shown_repository
from ibdesk.blueprints import TabPage, signin
from ibdesk.blueprints.jobs import LOG_TAIL, registry
from ibdesk.db import display_url, session_scope
from ibdesk.errors import Refused, UserError
from ibdesk.forms.backup import ActionForm, InitForm, RestoreForm, ScheduleForm
from ibdesk.i18n import N_
from ibdesk.i18n import gettext as _
from ibdesk.jobs import JobStatus
from ibdesk.progress import Job

bp = Blueprint("backup", __name__, url_prefix="/backup")

BACKUP_JOB = N_("Backup")
VERIFY_JOB = N_("Verify backup")
RESTORE_JOB = N_("Restore backup")
JOBS = (BACKUP_JOB, VERIFY_JOB, RESTORE_JOB)


def _job() -> JobStatus | None:
    for name in JOBS:
        found = registry().running(name, log_tail=LOG_TAIL)
        if found is not None:
            return found
    return None


def _image_folder() -> Any:
    try:
        return run.image_folder_of(web.database().ready_engine())
    except UserError:
        return None


def _context(**extra: Any) -> dict[str, Any]:
    repository = store.repository()
    return {
        "health": store.health(),
        "repository": shown_repository(repository) if repository else repository,
        "last_verify": store.last("verify"),
        "init_form": InitForm(formdata=None),
        "action_form": ActionForm(formdata=None),
        "schedule_form": ScheduleForm(formdata=None),
        "restore_form": RestoreForm(formdata=None),
        "entries": schedule.current(),
        "job": _job(),
        "sheet": None,
        "message": None,
        "confirm_restore": None,
        **extra,
    }


_render = TabPage("backup/index.html", _context)


@bp.get("/")
def index() -> tuple[str, int]:
    """Show the repository, the last good backup, the buttons and the schedule."""
    return _render("backup/_content.html")


@bp.post("/init")
def init_submit() -> tuple[str, int]:
    """Create the repository and show the recovery sheet once."""
    form = InitForm()
    if not form.validate_on_submit():
        return _render("backup/_content.html", 422, init_form=form)
    try:
        result = backup.init(form.repository.data or "", _image_folder())
    except UserError as error:
        return _render("backup/_content.html", 400, init_form=form, message=str(error))
    _log_init(result)
    return _render("backup/_content.html", sheet=result)


def _log_init(result: backup.InitResult) -> None:
    """Record in the system log who set up the repository (when there is a database to log in)."""
    created = "created" if result.created else "connected"
    try:
        with session_scope(web.database().ready_engine()) as session:
            audit.system_event(
                session,
                web.actor(),
                "backup.init",
                f"{shown_repository(result.repository)} ({created})",
            )
    except (UserError, SQLAlchemyError):
        pass  # the repository is made before any database exists: nothing to log in yet


def _start(name: str, factory: Any, *, alone: bool = False) -> tuple[str, int]:
    form = ActionForm()
    if not form.validate_on_submit():
        return _render("backup/_content.html", 422)
    try:
        job_id = registry().start(name, factory, alone=alone)
    except Refused as error:
        return _render("backup/_content.html", 409, message=str(error))
    return _render("backup/_content.html", job=registry().status(job_id, log_tail=LOG_TAIL))


def _start_on_repository(name: str, job: Callable[[Engine, Restic], Job[Any]]) -> tuple[str, int]:
    """Start a job over this database and the repository, unless one is running already."""
    if _job() is not None:
        return _render("backup/_content.html", 409, message=_busy())
    engine = web.database().ready_engine()
    restic = store.engine_or_refuse()
    return _start(name, lambda: job(engine, restic))


@bp.post("/run")
def run_submit() -> tuple[str, int]:
    """Start a backup now (a job with a live log)."""
    actor = web.actor()
    return _start_on_repository(
        BACKUP_JOB, lambda engine, restic: run.run_backup(engine, restic=restic, actor=actor)
    )


@bp.post("/verify")
def verify_submit() -> tuple[str, int]:
    """Start a verify: the repository check and the restore drill."""
    actor = web.actor()
    return _start_on_repository(
        VERIFY_JOB,
        lambda engine, restic: drill.verify(
            restic, server=engine.url, log_engine=engine, actor=actor
        ),
    )


@bp.post("/restore")
def restore_submit() -> tuple[str, int]:
    """Ask, then restore a backup (a job): into an empty database and folder, or with
    [Replace] over the ones in use after backing them up."""
    form = RestoreForm()
    if not form.validate_on_submit():
        return _render("backup/_content.html", 422, restore_form=form)
    if _job() is not None:
        return _render("backup/_content.html", 409, restore_form=form, message=_busy())
    restic = store.engine_or_refuse()
    wanted, url = (form.backup_id.data or "").strip(), (form.database.data or "").strip()
    folder = Path((form.folder.data or "").strip())
    replace = bool(form.replace.data)
    if form.confirmed.data != "yes":
        # First ask: what is restored where, and whether data in use is replaced.
        return _render(
            "backup/_content.html",
            restore_form=form,
            confirm_restore={"id": wanted, "database": _shown(url), "folder": str(folder)},
        )
    asked = signin.stale_answer()  # the password typed again, just before the restore starts
    if asked is not None:
        return asked
    database = web.database()
    actor = web.actor()

    def job() -> Job[restore.RestoreSummary]:
        summary = yield from restore.restore(
            wanted, url, folder, replace=replace, restic=restic, actor=actor
        )
        if replace:  # pooled connections would go on reading the replaced database file
            database.dispose()
        return summary

    # It replaces what an export, a conversion or an update would be reading or writing.
    return _start(RESTORE_JOB, job, alone=True)


def _shown(url: str) -> str:
    try:
        return display_url(url)  # no password on the screen
    except ArgumentError:
        return url  # not a URL: the restore itself says so in one sentence


def _busy() -> str:
    return _("A backup or verify is running; wait for it to end or cancel it.")


@bp.get("/list")
def list_partial() -> tuple[str, int]:
    """List the finished backups (asked after the page, as restic takes a moment)."""
    try:
        items = run.snapshots(store.engine_or_refuse())
    except UserError as error:
        return render_template("backup/_list.html", items=[], problem=str(error)), 200
    return render_template("backup/_list.html", items=items, problem=None), 200


@bp.post("/schedule")
def schedule_submit() -> tuple[str, int]:
    """Write the nightly backup and weekly verify entries and show them."""
    form = ScheduleForm()
    if not form.validate_on_submit():
        return _render("backup/_schedule.html", 422, schedule_form=form)
    schedule.schedule(form.nightly.data or "")
    return _render("backup/_schedule.html", schedule_form=form)


@bp.post("/unschedule")
def unschedule_submit() -> tuple[str, int]:
    """Remove the schedule entries this program wrote."""
    form = ActionForm()
    if not form.validate_on_submit():
        return _render("backup/_schedule.html", 422)
    schedule.unschedule()
    return _render("backup/_schedule.html")
