"""General settings: the database connection, the shared image folder and the database tools.

Each tool is a section answering in its own grey area; every tool calls the same domain
code as its ``ibdesk db`` command. Changing the connection (and creating a database) reuses
the wizard's steps 1-2 inline (``ibdesk.blueprints.connect`` registered as the ``settings``
flow under ``/settings/connect/``), as does the manual configuration page [Skip wizard] opens
before any database exists. The page works on a
database whose schema is older or unreachable, so that [Update database] can be reached.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ibdesk import backup, clinic_settings, config, display, limits, schema, web
from ibdesk.audit import system_event
from ibdesk.blueprints import backup as backup_view
from ibdesk.blueprints import connect, gate_open, go, is_htmx, page_or_partial, signin, status_for
from ibdesk.blueprints.connect import flow_state, status_bar
from ibdesk.blueprints.home import SOURCES
from ibdesk.blueprints.jobs import LOG_TAIL, registry
from ibdesk.db import server_info
from ibdesk.errors import UserError
from ibdesk.forms.settings import (
    AttachForm,
    BackupForm,
    CopyForm,
    ImageFolderForm,
    LoginForm,
    UpdateForm,
)
from ibdesk.i18n import N_, ngettext
from ibdesk.i18n import gettext as _
from ibdesk.jobs import JobState, JobStatus
from ibdesk.progress import Job
from ibdesk.settings import attach as attaching
from ibdesk.settings import backup as dbcopy
from ibdesk.settings import connection, dbadmin, dblogins, imagefolder, results
from ibdesk.settings.connection import shown_url
from ibdesk.wizard import Answer

bp = Blueprint("settings", __name__, url_prefix="/settings")
connect.register(bp, "settings", "/connect")
_LOOKS = {"settings.test_submit", "settings.databases_submit", "settings.image_folder_check_submit"}


@bp.before_request
def _fresh_for_changes() -> Any | None:
    """A change needs the password typed again (as in the wizard); a look (_LOOKS) does not."""
    if request.method != "POST" or request.endpoint in _LOOKS:
        return None
    return signin.stale_answer()


COPY_JOB = N_("Database copy")
UPDATE_JOB = N_("Database update")
ATTACH_JOB = N_("Database attach")
# [Backup now] runs the Backup tab's own job, so each tab sees the other's running backup.
TOOL_JOBS = {
    "backup": backup_view.BACKUP_JOB,
    "copy": COPY_JOB,
    "update": UPDATE_JOB,
    "attach": ATTACH_JOB,
}
TOOL_WAIT_S = 20.0  # a small database is backed up or updated while the button waits

SECTIONS = ("connection", "image_folder", "backup", "copy", "update", "attach", "login")


def _tab_ids() -> set[str]:
    return {tab.id for tab in current_app.config["IBDESK_TABS"]}


def _url() -> str:
    return web.database().choice().url


def _backend() -> str:
    try:
        return server_info(_url()).backend
    except UserError:
        return "?"


def _forms(backend: str) -> dict[str, Any]:
    default_backups = "" if backend == "mssql" else str(dbcopy.default_backup_folder())
    return {
        "image_folder_form": ImageFolderForm(formdata=None),
        "backup_form": BackupForm(formdata=None),
        "backup_health": backup.store.health(),
        "backup_repository": _repository(),
        "copy_form": CopyForm(formdata=None, folder=default_backups),
        "update_form": UpdateForm(formdata=None, backup_folder=default_backups),
        "attach_form": AttachForm(formdata=None, backend=backend),
        "dumps": _dumps(backend),
        "login_form": LoginForm(formdata=None),
        "db_logins": dblogins.listing(_url(), backend),
    }


def _repository() -> str | None:
    try:
        return backup.store.repository()
    except UserError:  # an unreadable configuration file: the Backup tab says why
        return None


def _dumps(backend: str) -> list[str]:
    """List the dumps in this computer's backup folder, offered when attaching on PostgreSQL."""
    if backend != "postgresql":
        return []
    return [str(path) for path in attaching.dumps_in(dbcopy.default_backup_folder())]


def _logins() -> dblogins.Listing:
    return dblogins.listing(_url(), _backend())


def _connection_context() -> dict[str, Any]:
    url = _url()
    try:
        shown = shown_url(url)
    except Exception:  # a damaged URL in the config file must not break the page
        shown = _("(not a valid database URL)")
    return {
        "status": web.status(web.database()),
        "shown_url": shown,
        "sources": SOURCES,
    }


def _render(section: str, status_code: int = 200, **context: Any) -> tuple[str, int]:
    """Answer one section's partial to htmx, or the whole page with that section's answer."""
    backend = _backend()
    context.setdefault("answer", None)
    context.update(backend=backend, section=section)
    if section == "attach":
        context.setdefault("dumps", _dumps(backend))
    if section == "backup":
        context.setdefault("backup_health", backup.store.health())
        context.setdefault("backup_repository", _repository())
        context.setdefault("tab_ids", _tab_ids())
    if is_htmx():
        # "refreshed": the database changed, so the connection facts and status bar follow.
        refreshed = context.get("refreshed", False)
        if section == "connection" or refreshed:
            context.update(_connection_context())
        if refreshed:
            context["status_bar"] = status_bar()
        return render_template(f"settings/_{section}.html", **context), status_code
    context.pop("refreshed", None)  # the whole page shows the connection already
    page = {**_forms(backend), **_connection_context(), "answers": {}, "tab_ids": _tab_ids()}
    page["answers"][section] = context.pop("answer")
    page.update(context)
    return render_template("settings/index.html", **page), status_code


@bp.get("/")
def index() -> str:
    """Show the connection, the image folder and the database tools."""
    backend = _backend()
    connection = _connection_context()
    forms = _forms(backend)
    forms["image_folder_form"].path.data = connection["status"].image_folder or ""
    return page_or_partial(
        "settings/index.html",
        "settings/_connection.html",
        **forms,
        **connection,
        answers={},
        answer=None,
        backend=backend,
        tab_ids=_tab_ids(),
    )


# --- the connection -------------------------------------------------------------------------


@bp.get("/manual")
@gate_open
def manual() -> str | Response:
    """Set up the database connection by hand, before any database exists."""
    if web.database().is_configured():
        return redirect(url_for("settings.index"))
    return connect.render("settings", flow_state("settings"), 1)


@bp.post("/test")
def test_submit() -> tuple[str, int]:
    """Connect to the database in force and say whether it is a current ImageBank one."""
    try:
        report = dbadmin.test_connection(_url())
    except UserError as error:
        return _render("connection", 409, answer=Answer("error", str(error)))
    usable = report.schema.state is schema.SchemaState.CURRENT
    answer = Answer(
        "success" if usable else "warning",
        report.server if usable else report.schema.message,
        (report.schema.message,) if usable else (report.server,),
    )
    return _render("connection", answer=answer)


@bp.post("/databases")
def databases_submit() -> tuple[str, int]:
    """List the databases on the server of the database in force."""
    url = _url()
    try:
        names = dbadmin.list_databases(connection.spec_from_url(url))
    except UserError as error:
        return _render("connection", 409, answer=Answer("error", str(error)))
    current = connection.database_name(url)
    lines = tuple(
        _("%(database)s (in use)", database=name) if name == current else name for name in names
    )
    count = len(names)
    message = (
        ngettext("%(num)s database on this server:", "%(num)s databases on this server:", count)
        if count
        else (_("There are no databases on this server."))
    )
    return _render("connection", answer=Answer("info", message, lines))


# --- the image folder -----------------------------------------------------------------------


def _folder_answer(check: imagefolder.FolderCheck, saved: bool) -> Answer:
    details = [_("Path: %(path)s", path=check.path)]
    if check.exists:
        details.append(_("Exists: yes"))
        details.append(
            _("Writable by this program: yes")
            if check.writable
            else _("Writable by this program: no")
        )
    if check.free_bytes is not None:
        details.append(_("Free space: %(size)s", size=display.byte_size(check.free_bytes)))
    if check.note:
        details.append(check.note)
    if saved:
        message = _("Saved: every workstation uses this image folder.")
    elif check.exists and not check.writable:
        return Answer("error", _("This program cannot write to the folder."), tuple(details))
    else:
        message = _("The folder can be used.") if check.exists else _("The path can be stored.")
    return Answer("success", message, tuple(details))


@bp.post("/image-folder/check")
def image_folder_check_submit() -> tuple[str, int]:
    """Say whether the typed folder exists, is writable here, and its free space."""
    return _image_folder_answer(imagefolder.check_image_folder, saved=False)


@bp.post("/image-folder")
def image_folder_submit() -> tuple[str, int]:
    """Check the folder and store it for every workstation."""
    return _image_folder_answer(_save_image_folder, saved=True)


def _save_image_folder(path: str) -> imagefolder.FolderCheck:
    db = web.db_session()
    actor = web.actor()
    try:
        before = clinic_settings.get(db, clinic_settings.IMAGE_FOLDER)
        check = imagefolder.set_image_folder(db, path, by=actor.user)
        system_event(db, actor, "images.folder", f"{before or '—'} → {check.path}")
    except UserError:
        db.rollback()
        raise
    db.commit()
    return check


def _image_folder_answer(
    run: Callable[[str], imagefolder.FolderCheck], *, saved: bool
) -> tuple[str, int]:
    """Run the check (or the save) on the typed folder and show what it found."""
    form = ImageFolderForm()
    if not form.validate_on_submit():
        return _render("image_folder", 422, image_folder_form=form)
    try:
        check = run(form.path.data or "")
    except UserError as error:
        return _render("image_folder", 422, image_folder_form=form, answer=_error(error))
    answer = _folder_answer(check, saved)
    if not saved:
        return _render("image_folder", image_folder_form=form, answer=answer)
    # Saved: the status bar shows the new folder.
    return _render("image_folder", image_folder_form=form, answer=answer, status_bar=status_bar())


def _error(error: UserError) -> Answer:
    return Answer("error", str(error))


# --- database tools -------------------------------------------------------------------------


@bp.post("/backup")
def backup_submit() -> tuple[str, int]:
    """Back up the database and the image folder as one snapshot (the Backup tab's job)."""
    form = BackupForm()
    if not form.validate_on_submit():
        return _render("backup", 422, backup_form=form)
    running = [name for name in backup_view.JOBS if registry().running(name) is not None]
    if running:
        message = _("A backup, verify or restore is already running: wait for it to end.")
        return _render("backup", 409, answer=Answer("error", message))
    try:
        restic = backup.store.engine_or_refuse()
        engine = web.database().ready_engine()
    except UserError as error:
        return _render("backup", status_for(error), answer=_error(error))
    factory = partial(backup.run.run_backup, engine, restic=restic, actor=web.actor())
    return _tool_answer("backup", _run_tool(backup_view.BACKUP_JOB, factory))


@bp.post("/copy")
def copy_submit() -> tuple[str, int]:
    """Copy the database alone and verify the copy (SQL Server: the statements to run there)."""
    form = CopyForm()
    if not form.validate_on_submit():
        return _render("copy", 422, copy_form=form)
    folder = (form.folder.data or "").strip()
    if _backend() == "mssql":
        try:
            statements = dbcopy.mssql_backup_plan(_url(), folder)
        except UserError as error:
            return _render("copy", 422, copy_form=form, answer=_error(error))
        answer = Answer("info", dbcopy.mssql_backup_note(), tuple(statements), code=True)
        return _render("copy", copy_form=form, answer=answer)
    factory = partial(dbcopy.backup_job, web.database().engine(), Path(folder), web.actor())
    return _tool_answer("copy", _run_tool(COPY_JOB, factory), copy_form=form)


@bp.post("/update")
def update_submit() -> tuple[str, int]:
    """Migrate the database to this program's schema, taking a verified backup first."""
    form = UpdateForm()
    if not form.validate_on_submit():
        return _render("update", 422, update_form=form)
    folder = (form.backup_folder.data or "").strip()
    factory = partial(
        dbadmin.update_job,
        web.database().engine(),
        Path(folder) if folder else None,
        backed_up_on_server=bool(form.backed_up_on_server.data),
    )
    return _tool_answer("update", _run_tool(UPDATE_JOB, factory), update_form=form)


@bp.get("/tools/<any(backup, copy, update, attach):tool>/<job_id>")
def tool_result(tool: str, job_id: str) -> tuple[str, int]:
    """Show a tool's result once its job has ended (its progress while it runs)."""
    job = registry().status(job_id, TOOL_JOBS[tool], log_tail=LOG_TAIL)
    return _tool_answer(tool, job)


def _run_tool(name: str, factory: Callable[[], Job[Any]]) -> JobStatus:
    """Start a tool's job and wait a little: a small database is done before the answer."""
    try:
        job_id = registry().start(name, factory)
    except UserError as error:  # the same tool already running
        return _failed(name, str(error))
    return registry().wait(job_id, timeout=TOOL_WAIT_S)


def _failed(name: str, message: str) -> JobStatus:
    return JobStatus("", name, JobState.FAILED, 0, None, "", (), 0, 0, 1, 0.0, None, None, message)


def _tool_answer(tool: str, job: JobStatus, **context: Any) -> tuple[str, int]:
    """Render a tool's section: its job's progress, or the answer its result gives."""
    forms: dict[str, tuple[str, Callable[..., Any]]] = {
        "backup": ("backup_form", BackupForm),
        "copy": ("copy_form", CopyForm),
        "update": ("update_form", UpdateForm),
        "attach": ("attach_form", partial(AttachForm, backend="postgresql")),
    }
    name, form_class = forms[tool]
    context.setdefault(name, form_class(formdata=None))
    if not job.finished:
        return _render(tool, 202, job=job, **context)
    if job.state is not JobState.SUCCEEDED:
        return _render(tool, 409, answer=Answer("error", job.error or ""), **context)
    # Attaching or updating changed the database: the connection facts and status bar follow.
    refreshed = tool in ("attach", "update")
    answer = results.BY_TOOL[tool](job.result)
    return _render(tool, answer=answer, refreshed=refreshed, **context)


@bp.post("/attach")
def attach_submit() -> tuple[str, int] | Response:
    """Attach an existing 2.1 database (SQLite file, SQL Server files, PostgreSQL dump)."""
    backend = _backend()
    form = AttachForm(backend=backend)
    if not form.validate_on_submit():
        return _render("attach", 422, attach_form=form)
    path = (form.path.data or "").strip()
    spec = connection.spec_from_url(_url())
    if backend == "postgresql":
        name = form.name.data or ""
        factory = partial(attaching.attach_dump_job, spec, Path(path), name, actor=web.actor())
        return _tool_answer("attach", _run_tool(ATTACH_JOB, factory), attach_form=form)
    try:
        target = dbadmin.attach(
            spec, name=form.name.data or "", path=path, ldf=(form.ldf.data or "").strip()
        )
    except UserError as error:
        return _render("attach", 409, attach_form=form, answer=_error(error))
    config.set_database_url(target.render_as_string(hide_password=False))
    flash(
        _(
            "Attached %(target)s; it is now this program's database.",
            target=display.database(target),
        ),
        "success",
    )
    return go(url_for("settings.index"))


@bp.post("/login")
def login_submit() -> tuple[str, int]:
    """Create a database login for workstations: read and write the data, no table changes."""
    form = LoginForm()
    listed = _logins()
    if not form.validate_on_submit():
        return _render("login", 422, login_form=form, db_logins=listed)
    login = (form.login.data or "").strip()
    try:
        statements = dbadmin.create_login(_url(), login, form.password.data or "")
    except UserError as error:
        return _render("login", 409, login_form=form, answer=_error(error), db_logins=listed)
    answer = Answer(
        "success",
        _(
            "Login %(login)s created with workstation rights: it reads and "
            "writes the data but cannot change tables.",
            login=login,
        ),
        tuple(statements),
        code=True,
    )
    return _login_done("db.create_login", login, answer, form)


@bp.post("/login/<login>/password")
def login_password_submit(login: str) -> tuple[str, int]:
    """Give a workstation login a new password."""
    password = request.form.get("new_password", "")
    limits.check_length(password, limits.TEXT_MAX, _("password"))
    return _change_login(
        login,
        lambda: dblogins.change_password(_url(), login, password),
        "db.login_password",
        _("Login %(login)s has a new password.", login=login),
    )


@bp.post("/login/<login>/remove")
def login_remove_submit(login: str) -> tuple[str, int]:
    """Remove a workstation login (the workstations using it can no longer connect)."""
    return _change_login(
        login,
        lambda: dblogins.drop_login(_url(), login),
        "db.drop_login",
        _("Login %(login)s removed.", login=login),
    )


def _change_login(
    login: str, change: Callable[[], None], event: str, message: str
) -> tuple[str, int]:
    """Make one change to a workstation login on the server, then log it and list the logins."""
    form = LoginForm(formdata=None)
    try:
        change()
    except UserError as error:
        return _render(
            "login", status_for(error), login_form=form, answer=_error(error),
            db_logins=_logins(),
        )  # fmt: skip
    return _login_done(event, login, Answer("success", message), form)


def _login_done(event: str, login: str, answer: Answer, form: LoginForm) -> tuple[str, int]:
    """Write the login's change to the system log and list the logins as they are now."""
    db = web.db_session()
    system_event(db, web.actor(), event, login)
    db.commit()
    return _render("login", login_form=form, answer=answer, db_logins=_logins())
