"""The quick-start wizard: connect to a server, choose the database, license, first user.

Every step is an htmx partial swapped into ``#wizard``; each unlocks the next only once it
passed. Steps 1 and 2 also serve the General settings tab's "Change connection" and the
manual configuration page [Skip wizard] opens before any database exists: that is the
``settings`` flow, drawn inline (``wizard/_inline.html``) instead of as the four-step wizard.

Where the password lives between steps: in this process's memory, never in a page (see
``wizard_flow``): the session cookie holds only a random wizard id. The password field is
never pre-filled; left empty, it means "the password given before" for the same host and
user. A few flows are kept at most, a finished one is forgotten, and a restart forgets them
all (the connection is then tested again). When step 2 passes, the database URL, password
included, goes to the configuration file (``config.set_database_url``, mode 0600) and the app
uses it from the next request on; screens show it through ``connection.shown_url``, which
masks every password (SQL Server's ``PWD`` inside ``odbc_connect`` too, which
``db.display_url`` leaves visible).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from flask import Blueprint, flash, redirect, request, url_for
from flask.sansio.blueprints import BlueprintSetupState
from werkzeug.exceptions import NotFound as NotFoundPage
from werkzeug.wrappers import Response

from ibdesk import config, licensing, schema, users, web
from ibdesk.audit import local_admin
from ibdesk.blueprints import page_or_partial
from ibdesk.blueprints.jobs import registry
from ibdesk.db import odbc_drivers
from ibdesk.errors import UserError
from ibdesk.forms.wizard import (
    PASSWORD_KEPT,
    AdminUserForm,
    ChooseDatabaseForm,
    CreateDatabaseForm,
    LicenseForm,
    ServerForm,
)
from ibdesk.jobs import JobState, JobStatus
from ibdesk.passwords import PasswordRejected
from ibdesk.progress import Job, LogLine
from ibdesk.settings import backup as backups
from ibdesk.settings import connection, dbadmin
from ibdesk.wizard import (
    EXTENSION,
    Answer,
    Flow,
    FlowStore,
    chosen_session,
    flow_key,
    flow_state,
    go,
    identity,
    status_bar,
    steps_of,
    store,
)

bp = Blueprint("wizard", __name__, url_prefix="/wizard")

STEPS = ("Connect to server", "Connect or create the database", "Install license", "Create user")
FLOW = "<any(wizard, settings):flow>"
DEMO_JOB = "Demo clinic"


@bp.record_once
def _install_store(state: BlueprintSetupState) -> None:
    state.app.extensions[EXTENSION] = FlowStore()


# --- rendering ------------------------------------------------------------------------------


def _render(flow: str, state: Flow, number: int, **context: Any) -> str:
    """Render step ``number`` of a flow: the wizard partial, or the inline one for settings."""
    steps = steps_of(state)
    defaults: dict[str, Any] = {"answer": None, "status_bar": None}
    if number == 1:
        defaults["server_form"] = lambda: _server_form(state)
        if flow == "wizard":
            defaults.update(
                demo_job=lambda: _demo_status(state),
                demo_folder=config.data_dir,
                demo_size=(dbadmin.DEMO_PATIENTS, dbadmin.DEMO_MEDIA_PER_PATIENT),
            )
    elif number == 2:
        defaults.update(
            create_form=lambda: CreateDatabaseForm(formdata=None),
            choose_form=lambda: ChooseDatabaseForm(formdata=None, names=state.databases),
            offer_update=None,
        )
    elif number == 3:
        defaults["license_form"] = lambda: LicenseForm(formdata=None)
    else:
        defaults["user_form"] = lambda: AdminUserForm(formdata=None)
    for name, value in defaults.items():
        if name not in context:
            context[name] = value() if callable(value) else value
    context.update(
        flow=flow,
        number=number,
        steps=steps,
        state=state,
        step_titles=STEPS,
        target="wizard" if flow == "wizard" else "connect",
        database_label=connection.shown_url(state.url) if state.url else None,
        backend_labels=connection.BACKEND_LABELS,
    )
    if flow == "wizard":
        return page_or_partial("wizard/index.html", "wizard/_wizard.html", **context)
    return page_or_partial("wizard/manual.html", "wizard/_inline.html", **context)


def _server_form(state: Flow) -> ServerForm:
    draft = state.spec or state.draft or connection.ServerSpec("sqlite")
    kept = bool(state.password) and state.password_for == identity(draft)
    return ServerForm.from_spec(draft, drivers=odbc_drivers(), password_kept=kept)


def _step_number(flow: str, number: int) -> int:
    if flow == "settings" and number > 2:
        raise NotFoundPage()
    return number


# --- pages ----------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    """Show the wizard at the first step that has not passed yet."""
    state = flow_state("wizard")
    _collect_demo(state)
    return _render("wizard", state, steps_of(state).first_open)


@bp.get(f"/{FLOW}/step/<int:number>")
def step(flow: str, number: int) -> str:
    """Show one step, or the furthest one open when it is still locked."""
    number = _step_number(flow, number)
    fresh = bool(request.args.get("fresh"))
    if fresh:
        # [Change connection], [Create new database] and [Quick-start wizard] start over
        # from the database in force.
        store().drop(flow_key(flow))
    state = flow_state(flow)
    if fresh and number == 2:
        state.spec = state.draft
    _collect_demo(state)
    steps = steps_of(state)
    if not 1 <= number <= 4 or not steps.unlocked(number):
        number = steps.first_open
    return _render(flow, state, number)


@bp.get("/skip")
def skip() -> Response:
    """Leave the wizard for manual configuration (General settings once a database exists)."""
    store().drop(flow_key("wizard"))
    if web.database().is_configured():
        return redirect(url_for("settings.index"))
    return redirect(url_for("wizard.manual"))


@bp.get("/manual")
def manual() -> str | Response:
    """Set up the database connection by hand, before any database exists."""
    if web.database().is_configured():
        return redirect(url_for("settings.index"))
    state = flow_state("settings")
    return _render("settings", state, 1)


# --- step 1: the server ---------------------------------------------------------------------


@bp.post(f"/{FLOW}/server")
def server_submit(flow: str) -> tuple[str, int]:
    """Test the connection to the server typed in step 1."""
    state = flow_state(flow)
    form = ServerForm(drivers=odbc_drivers())
    spec = form.checked_spec()
    if spec is None:
        return _render(flow, state, 1, server_form=form), 422
    if form.password.data:
        state.password, state.password_for = form.password.data, identity(spec)
    elif state.password and state.password_for == identity(spec):
        spec = replace(spec, password=state.password)
    if state.password and state.password_for == identity(spec):
        form.password.description = PASSWORD_KEPT
    state.spec, state.url, state.databases, state.demo = None, None, [], None
    dbadmin.prepare_sqlite_folder(spec, config.data_dir())
    try:
        message = dbadmin.test_server(spec)
    except UserError as error:
        return _render(flow, state, 1, server_form=form, answer=Answer("error", str(error))), 409
    state.spec = state.draft = spec
    return _render(flow, state, 1, server_form=form, answer=Answer("success", message)), 200


# --- step 2: the database -------------------------------------------------------------------


def _need_server(flow: str, state: Flow) -> tuple[str, int] | None:
    if state.spec is None:
        answer = Answer("error", "Test the connection to the server first (step 1).")
        return _render(flow, state, 1, answer=answer), 409
    return None


@bp.post(f"/{FLOW}/databases")
def databases_submit(flow: str) -> tuple[str, int]:
    """List the databases on the server of step 1."""
    state = flow_state(flow)
    if (refused := _need_server(flow, state)) is not None:
        return refused
    assert state.spec is not None
    try:
        state.databases = dbadmin.list_databases(state.spec)
    except UserError as error:
        return _render(flow, state, 2, answer=Answer("error", str(error))), 409
    count = len(state.databases)
    message = (
        f"{count} database{'s' if count != 1 else ''} on {_server_label(state.spec)}; choose one "
        "and test it."
        if count
        else f"There are no databases on {_server_label(state.spec)} yet; create one."
    )
    return _render(flow, state, 2, answer=Answer("info", message)), 200


@bp.post(f"/{FLOW}/database/create")
def create_submit(flow: str) -> tuple[str, int] | Response:
    """Create a new ImageBank database on the server and use it."""
    state = flow_state(flow)
    if (refused := _need_server(flow, state)) is not None:
        return refused
    assert state.spec is not None
    form = CreateDatabaseForm()
    if not form.validate_on_submit():
        return _render(flow, state, 2, create_form=form), 422
    try:
        target = dbadmin.create_database(state.spec, form.name.data or "")
    except UserError as error:
        return _render(flow, state, 2, create_form=form, answer=Answer("error", str(error))), 409
    status = dbadmin.test_database(target)
    return _use(flow, state, target.render_as_string(hide_password=False), status.message)


@bp.post(f"/{FLOW}/database/test")
def test_submit(flow: str) -> tuple[str, int] | Response:
    """Say whether the chosen database is ImageBank's and current; use it when it is."""
    chosen = _chosen_database(flow)
    if not isinstance(chosen, _Choice):
        return chosen
    state, form, target = chosen
    name = form.database.data or ""
    try:
        status = dbadmin.test_database(target)
    except UserError as error:
        return _render(flow, state, 2, choose_form=form, answer=Answer("error", str(error))), 409
    if status.state is schema.SchemaState.CURRENT:
        return _use(flow, state, target, status.message)
    if status.state in (schema.SchemaState.OLDER, schema.SchemaState.EMPTY):
        offer = _offer_text(status)
        answer = Answer("warning", offer)
        return _render(flow, state, 2, choose_form=form, answer=answer, offer_update=name), 200
    return _render(flow, state, 2, choose_form=form, answer=Answer("error", status.message)), 409


class _Choice(NamedTuple):
    """A database chosen in step 2 from the listed ones, with its URL."""

    state: Flow
    form: ChooseDatabaseForm
    url: str


def _chosen_database(flow: str) -> _Choice | tuple[str, int] | Response:
    """Return the flow, the valid choice form and the chosen database's URL, or the refusal."""
    state = flow_state(flow)
    if (refused := _need_server(flow, state)) is not None:
        return refused
    assert state.spec is not None
    form = ChooseDatabaseForm(names=state.databases)
    if not form.validate_on_submit():
        return _render(flow, state, 2, choose_form=form), 422
    target = connection.url(state.spec, form.database.data or "")
    return _Choice(state, form, target.render_as_string(hide_password=False))


def _offer_text(status: schema.SchemaStatus) -> str:
    if status.state is schema.SchemaState.EMPTY:
        return "The database is empty: create the ImageBank tables in it to use it."
    return (
        f"The database is an ImageBank database with an older schema ({status.revision}); "
        f"update it to this program's ({status.head}) to use it. A verified backup is "
        "taken first."
    )


@bp.post(f"/{FLOW}/database/update")
def update_submit(flow: str) -> tuple[str, int] | Response:
    """Bring the chosen database to the current schema (backup first), then use it."""
    chosen = _chosen_database(flow)
    if not isinstance(chosen, _Choice):
        return chosen
    state, form, rendered = chosen
    try:
        outcome = dbadmin.update_database(
            web.database().engine(rendered), backups.default_backup_folder()
        )
    except UserError as error:
        return _render(flow, state, 2, choose_form=form, answer=Answer("error", str(error))), 409
    done = outcome.upgrade
    message = f"Updated from {done.from_revision or 'empty'} to {done.to_revision}."
    if outcome.backup is not None:
        message += f" Backup first: {outcome.backup.path} ({outcome.backup.verified})."
    return _use(flow, state, rendered, message)


def _server_label(spec: connection.ServerSpec) -> str:
    return spec.label or connection.BACKEND_LABELS[spec.backend]


def _use(flow: str, state: Flow, target: str, said: str) -> tuple[str, int] | Response:
    """Make the database this program's (saved in the 0600 configuration file)."""
    config.set_database_url(target)
    state.url = target
    message = f"{connection.shown_url(target)} is now this program's database. {said}"
    source = web.database().choice().source
    if source in ("option", "environment"):
        message += (
            " This window was started with "
            + ("the --db option" if source == "option" else "IBDESK_DB")
            + ", which wins over the saved choice until the program is started without it."
        )
    if flow == "settings":
        flash(message, "success")
        return go(url_for("settings.index"))
    answer = Answer("success", message)
    return _render(flow, state, 2, answer=answer, status_bar=status_bar()), 200


# --- step 3: the license --------------------------------------------------------------------


def _need_database(state: Flow) -> tuple[str, int] | None:
    steps = steps_of(state)
    if steps.passed[1]:
        return None
    answer = Answer("error", "Choose or create the database first (step 2).")
    return _render("wizard", state, steps.first_open, answer=answer), 409


@bp.post("/license")
def license_submit() -> tuple[str, int]:
    """Install the vendor's license file in the chosen database."""
    state = flow_state("wizard")
    if (refused := _need_database(state)) is not None:
        return refused
    form = LicenseForm()
    if not form.validate_on_submit():
        return _render("wizard", state, 3, license_form=form), 422
    upload = form.license_file.data
    name = (upload.filename or "The file")[-120:]
    with chosen_session(state) as chosen:
        try:
            info = licensing.install_license(chosen, upload.read(), local_admin(), name=name)
        except UserError as error:
            chosen.rollback()
            answer = Answer("error", str(error))
            return _render("wizard", state, 3, license_form=form, answer=answer), 422
        chosen.commit()
    message = f"{info.title} installed for {info.registered_to}: {info.seats} seats."
    return _render("wizard", state, 3, answer=Answer("success", message)), 200


# --- step 4: the first administrator --------------------------------------------------------


@bp.post("/user")
def user_submit() -> tuple[str, int]:
    """Create the first administrator account."""
    state = flow_state("wizard")
    if (refused := _need_database(state)) is not None:
        return refused
    if not steps_of(state).passed[2]:
        answer = Answer("error", "Install the license first (step 3).")
        return _render("wizard", state, 3, answer=answer), 409
    form = AdminUserForm()
    if not form.validate_on_submit():
        return _render("wizard", state, 4, user_form=form), 422
    with chosen_session(state) as chosen:
        try:
            user = users.create_user(
                chosen,
                form.username.data or "",
                form.password.data or "",
                actor=local_admin(),
                display_name=form.display_name.data or "",
                is_admin=True,
            )
        except UserError as error:
            chosen.rollback()
            wrong = form.password if isinstance(error, PasswordRejected) else form.username
            wrong.errors = [*wrong.errors, str(error)]
            return _render("wizard", state, 4, user_form=form), 422
        chosen.commit()
        name = user.username
    answer = Answer("success", f"The administrator {name} was created.")
    return _render("wizard", state, 4, answer=answer), 200


@bp.post("/finish")
def finish_submit() -> tuple[str, int] | Response:
    """Forget the wizard (its password with it) and open the main tabs."""
    state = flow_state("wizard")
    steps = steps_of(state)
    if not steps.can_finish:
        answer = Answer("error", f"Step {steps.first_open} has not passed yet.")
        return _render("wizard", state, steps.first_open, answer=answer), 409
    store().drop(flow_key("wizard"))
    return go(url_for("home.index"))


# --- the demo clinic ------------------------------------------------------------------------


def _demo_then_use(job: Job[dbadmin.DemoClinic]) -> Job[dbadmin.DemoClinic]:
    clinic = yield from job
    config.set_database_url(clinic.url.render_as_string(hide_password=False))
    yield LogLine(f"{connection.shown_url(clinic.url)} is now this program's database.")
    return clinic


@bp.post("/demo")
def demo_submit() -> tuple[str, int]:
    """Start making a demo clinic on this computer (a job with live progress)."""
    state = flow_state("wizard")
    folder = config.data_dir()
    dbadmin.prepare_sqlite_folder(connection.ServerSpec("sqlite", folder=str(folder)), folder)
    try:
        state.demo_job = registry().start(
            DEMO_JOB, lambda: _demo_then_use(dbadmin.demo_clinic(folder))
        )
    except UserError as error:
        return _render("wizard", state, 1, answer=Answer("error", str(error))), 409
    return _render("wizard", state, 1), 202


@bp.get("/demo/<job_id>")
def demo_status(job_id: str) -> str:
    """Move on once the demo clinic is made (asked when its job ends)."""
    state = flow_state("wizard")
    if state.demo_job != job_id:
        raise NotFoundPage()
    if _collect_demo(state):
        clinic = state.demo
        assert clinic is not None
        message = (
            f"The demo clinic is ready: {clinic.patients} patients, {clinic.media} media with "
            f"their files in {clinic.image_folder}, and a DEMO license ({clinic.licensee}). "
            "Create your administrator account, or finish now and explore."
        )
        answer = Answer("success", message)
        number = steps_of(state).first_open
        return _render("wizard", state, number, answer=answer, status_bar=status_bar())
    return _render("wizard", state, 1)


def _demo_status(state: Flow) -> JobStatus | None:
    if state.demo_job is None:
        return None
    try:
        return registry().status(state.demo_job, log_tail=50)
    except UserError:
        state.demo_job = None
        return None


def _collect_demo(state: Flow) -> bool:
    """Take over a finished demo clinic as steps 1-3 passed; return whether there is one."""
    if state.demo is not None:
        return True
    job = _demo_status(state)
    if job is None or job.state is not JobState.SUCCEEDED:
        return False
    clinic: dbadmin.DemoClinic = job.result
    state.spec = state.draft = connection.ServerSpec(
        "sqlite", folder=str(clinic.image_folder.parent)
    )
    state.url = clinic.url.render_as_string(hide_password=False)
    state.demo = clinic
    return True
