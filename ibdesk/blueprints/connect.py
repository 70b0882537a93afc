"""Steps 1-2 (the server, then the database), shared by the wizard and General settings.

The quick-start wizard draws them as its first two steps (``wizard/_wizard.html``); General
settings' [Change connection] and the manual configuration page draw them inline
(``settings/_connect.html``). Both blueprints register the same views under their own names
(``step``, ``connect_server``, ``connect_databases``, ``connect_create``, ``connect_test``,
``connect_update``), so a template builds its URLs as ``url_for(flow ~ '.connect_server')``.

Where the password lives between steps: in this process's memory, never in a page (see
``ibdesk.wizard``): the session cookie holds only a random wizard id. The password field is
never pre-filled; left empty, it means "the password given before" for the same host and
user. When step 2 passes, the database URL, password included, goes to the configuration
file (``config.set_database_url``, mode 0600) and the app uses it from the next request on;
screens show it through ``connection.shown_url``, which masks every password.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from flask import Blueprint, flash, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as NotFoundPage
from werkzeug.wrappers import Response

from ibdesk import config, display, licensing, schema, web
from ibdesk.blueprints import flow_key, flows, gate_open, go, is_htmx, page_or_partial
from ibdesk.blueprints.jobs import registry
from ibdesk.db import odbc_drivers
from ibdesk.demo import clinic as democlinic
from ibdesk.errors import UserError
from ibdesk.forms.licensing import InstallLicenseForm
from ibdesk.forms.wizard import (
    PASSWORD_KEPT,
    AdminUserForm,
    ChooseDatabaseForm,
    CreateDatabaseForm,
    ServerForm,
)
from ibdesk.i18n import N_, ngettext
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.jobs import JobState, JobStatus
from ibdesk.settings import backup as backups
from ibdesk.settings import connection, dbadmin, results
from ibdesk.wizard import Answer, Flow, Steps, identity, start_from, steps_of

STEPS = (
    _l("Connect to server"),
    _l("Connect or create the database"),
    _l("Install license"),
    _l("Create user"),
)
DEMO_JOB = N_("Demo clinic")


def flow_state(flow: str) -> Flow:
    """Return this browser's flow (``wizard`` or ``settings``), begun from the database in force."""
    state = flows().get(flow_key(flow))
    if state.draft is None:
        start_from(state, _current_url(), config.data_dir())
    return state


def _current_url() -> str:
    try:
        return web.database().choice().url
    except UserError:
        return ""


def steps(state: Flow) -> Steps:
    """Say which steps of this flow passed (reads the chosen database)."""
    return steps_of(state, web.database().engine)


def status_bar() -> web.Status | None:
    """Return the status bar's content for an htmx answer to refresh it (out of band)."""
    return web.status(web.database()) if is_htmx() else None


def demo_status(state: Flow) -> JobStatus | None:
    """Return the status of this flow's demo-clinic job, if it has one still known."""
    if state.demo_job is None:
        return None
    try:
        return registry().status(state.demo_job, DEMO_JOB, log_tail=50)
    except UserError:
        state.demo_job = None
        return None


# --- rendering ------------------------------------------------------------------------------


def render(flow: str, state: Flow, number: int, **context: Any) -> str:
    """Render step ``number`` of a flow: the wizard partial, or the inline one for settings."""
    found = steps(state)
    defaults: dict[str, Any] = {"answer": None, "status_bar": None}
    if flow == "wizard" and number in (1, 3):
        # The demo is offered on step 1 and, as the way on without a license file, on step
        # 3; never once the database in force is a real clinic's (it has held a license).
        defaults.update(
            demo_job=lambda: demo_status(state),
            demo_folder=config.data_dir,
            demo_size=(democlinic.DEMO_PATIENTS, democlinic.DEMO_MEDIA_PER_PATIENT),
            offer_demo=lambda: not live_clinic(),
        )
    if number == 1:
        defaults["server_form"] = lambda: _server_form(state)
    elif number == 2:
        defaults.update(
            create_form=lambda: CreateDatabaseForm(formdata=None),
            choose_form=lambda: ChooseDatabaseForm(formdata=None, names=state.databases),
            offer_update=None,
        )
    elif number == 3:
        defaults["license_form"] = lambda: InstallLicenseForm(formdata=None)
    else:
        defaults["user_form"] = lambda: AdminUserForm(formdata=None)
    for name, value in defaults.items():
        if name not in context:
            context[name] = value() if callable(value) else value
    context.update(
        flow=flow,
        number=number,
        steps=found,
        state=state,
        step_titles=STEPS,
        target="wizard" if flow == "wizard" else "connect",
        database_label=connection.shown_url(state.url) if state.url else None,
        database_named=display.database(state.url) if state.url else None,
        backend_labels=connection.BACKEND_LABELS,
    )
    if flow == "wizard":
        return page_or_partial("wizard/index.html", "wizard/_wizard.html", **context)
    return page_or_partial("settings/manual.html", "settings/_connect.html", **context)


def live_clinic() -> bool:
    """Tell whether the database in force is a real clinic's (it has held a real license)."""
    database = web.database()
    if not database.is_configured():
        return False
    try:
        with Session(database.ready_engine()) as session:
            return licensing.has_held_real_license(session)
    except (UserError, SQLAlchemyError):
        return False  # a database that does not answer is no live clinic to protect here


def _server_form(state: Flow) -> ServerForm:
    draft = state.spec or state.draft or connection.ServerSpec("sqlite")
    kept = bool(state.password) and state.password_for == identity(draft)
    return ServerForm.from_spec(draft, drivers=odbc_drivers(), password_kept=kept)


def _step_number(flow: str, number: int) -> int:
    if flow == "settings" and number > 2:
        raise NotFoundPage()
    return number


# --- the views, registered by both blueprints -------------------------------------------------


def step(flow: str, number: int) -> str:
    """Show one step, or the furthest one open when it is still locked."""
    number = _step_number(flow, number)
    fresh = bool(request.args.get("fresh"))
    if fresh:
        # [Change connection], [Create new database] and [Quick-start wizard] start over
        # from the database in force.
        flows().drop(flow_key(flow))
    state = flow_state(flow)
    if fresh and number == 2:
        state.spec = state.draft
    collect(state)
    found = steps(state)
    if not 1 <= number <= 4 or not found.unlocked(number):
        number = found.first_open
    return render(flow, state, number)


def server_submit(flow: str) -> tuple[str, int]:
    """Test the connection to the server typed in step 1."""
    state = flow_state(flow)
    form = ServerForm(drivers=odbc_drivers())
    spec = form.checked_spec()
    if spec is None:
        return render(flow, state, 1, server_form=form), 422
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
        return render(flow, state, 1, server_form=form, answer=Answer("error", str(error))), 409
    state.spec = state.draft = spec
    return render(flow, state, 1, server_form=form, answer=Answer("success", message)), 200


def _need_server(flow: str, state: Flow) -> tuple[str, int] | None:
    if state.spec is None:
        answer = Answer("error", _("Test the connection to the server first (step 1)."))
        return render(flow, state, 1, answer=answer), 409
    return None


def databases_submit(flow: str) -> tuple[str, int]:
    """List the databases on the server of step 1."""
    state = flow_state(flow)
    if (refused := _need_server(flow, state)) is not None:
        return refused
    assert state.spec is not None
    try:
        state.databases = dbadmin.list_databases(state.spec)
    except UserError as error:
        return render(flow, state, 2, answer=Answer("error", str(error))), 409
    count = len(state.databases)
    message = (
        ngettext(
            "%(num)s database on %(server)s; choose one and test it.",
            "%(num)s databases on %(server)s; choose one and test it.",
            count,
            server=_server_label(state.spec),
        )
        if count
        else _(
            "There are no databases on %(spec)s yet; create one.", spec=_server_label(state.spec)
        )
    )
    return render(flow, state, 2, answer=Answer("info", message)), 200


def create_submit(flow: str) -> tuple[str, int] | Response:
    """Create a new ImageBank database on the server and use it."""
    state = flow_state(flow)
    if (refused := _need_server(flow, state)) is not None:
        return refused
    assert state.spec is not None
    form = CreateDatabaseForm()
    if not form.validate_on_submit():
        return render(flow, state, 2, create_form=form), 422
    try:
        target = dbadmin.create_database(state.spec, form.name.data or "")
    except UserError as error:
        return render(flow, state, 2, create_form=form, answer=Answer("error", str(error))), 409
    status = dbadmin.test_database(target)
    return _use(flow, state, target.render_as_string(hide_password=False), status.message)


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
        return render(flow, state, 2, choose_form=form, answer=Answer("error", str(error))), 409
    if status.state is schema.SchemaState.CURRENT:
        return _use(flow, state, target, status.message)
    if status.state in (schema.SchemaState.OLDER, schema.SchemaState.EMPTY):
        offer = _offer_text(status)
        answer = Answer("warning", offer)
        return render(flow, state, 2, choose_form=form, answer=answer, offer_update=name), 200
    return render(flow, state, 2, choose_form=form, answer=Answer("error", status.message)), 409


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
        return render(flow, state, 2, choose_form=form), 422
    target = connection.url(state.spec, form.database.data or "")
    return _Choice(state, form, target.render_as_string(hide_password=False))


def _offer_text(status: schema.SchemaStatus) -> str:
    if status.state is schema.SchemaState.EMPTY:
        return _("The database is empty: create the ImageBank tables in it to use it.")
    return _(
        "The database is an ImageBank database with an older schema "
        "(%(revision)s); update it to this program's (%(head)s) to use it. "
        "A verified backup is taken first.",
        revision=status.revision,
        head=status.head,
    )


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
        return render(flow, state, 2, choose_form=form, answer=Answer("error", str(error))), 409
    said = results.updated(outcome)
    return _use(flow, state, rendered, " ".join((said.message, *said.details)))


def _server_label(spec: connection.ServerSpec) -> str:
    if spec.label:
        return spec.label
    if spec.backend == "sqlite":
        return _("SQLite (embedded)")
    return connection.BACKEND_LABELS[spec.backend]


def _use(flow: str, state: Flow, target: str, said: str) -> tuple[str, int] | Response:
    """Make the database this program's (saved in the 0600 configuration file)."""
    config.set_database_url(target)
    state.url = target
    message = _(
        "%(database)s is now this program's database. %(said)s",
        database=display.database(target),
        said=said,
    )
    source = web.database().choice().source
    if source == "option":
        message += " " + _(
            "This window was started with the --db option, which wins over the saved choice "
            "until the program is started without it."
        )
    elif source == "environment":
        message += " " + _(
            "This window was started with IBDESK_DB, which wins over the saved choice until "
            "the program is started without it."
        )
    if flow == "settings":
        flash(message, "success")
        return go(url_for("settings.index"))
    answer = Answer("success", message)
    return render(flow, state, 2, answer=answer, status_bar=status_bar()), 200


def need_database(state: Flow) -> tuple[str, int] | None:
    """Refuse steps 3-4 until step 2 passed: the answer to send, or None when it did."""
    found = steps(state)
    if found.passed[1]:
        return None
    answer = Answer("error", _("Choose or create the database first (step 2)."))
    return render("wizard", state, found.first_open, answer=answer), 409


def collect(state: Flow) -> bool:
    """Take over a finished demo clinic as steps 1-3 passed; return whether there is one."""
    if state.demo is not None:
        return True
    job = demo_status(state)
    if job is None or job.state is not JobState.SUCCEEDED:
        return False
    clinic: democlinic.DemoClinic = job.result
    state.spec = state.draft = connection.ServerSpec(
        "sqlite", folder=str(clinic.image_folder.parent)
    )
    state.url = clinic.url.render_as_string(hide_password=False)
    state.demo = clinic
    return True


_VIEWS: tuple[tuple[str, str, Any, tuple[str, ...]], ...] = (
    ("/step/<int:number>", "step", step, ("GET",)),
    ("/server", "connect_server", server_submit, ("POST",)),
    ("/databases", "connect_databases", databases_submit, ("POST",)),
    ("/database/create", "connect_create", create_submit, ("POST",)),
    ("/database/test", "connect_test", test_submit, ("POST",)),
    ("/database/update", "connect_update", update_submit, ("POST",)),
)


def register(bp: Blueprint, flow: str, prefix: str = "") -> None:
    """Register steps 1-2 on a blueprint for one flow (``wizard`` or ``settings``)."""
    for rule, endpoint, view, methods in _VIEWS:

        def bound(*args: Any, _view: Any = view, **kwargs: Any) -> Any:
            return _view(flow, *args, **kwargs)

        bound.__name__ = endpoint
        bound.__doc__ = view.__doc__
        bp.add_url_rule(prefix + rule, endpoint, gate_open(bound), methods=list(methods))
