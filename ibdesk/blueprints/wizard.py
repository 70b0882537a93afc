"""The quick-start wizard: connect to a server, choose the database, license, first user.

Every step is an htmx partial swapped into ``#wizard``; each unlocks the next only once it
passed. Steps 1 and 2 are the views General settings' [Change connection] shares
(``ibdesk.blueprints.connect``); the flow's state is ``ibdesk.wizard`` domain code. The whole
blueprint stays open before any database is configured (it is the setup gate's target).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, url_for
from werkzeug.exceptions import NotFound as NotFoundPage
from werkzeug.wrappers import Response

from ibdesk import config, licensing, web, wizard
from ibdesk.blueprints import connect, flow_key, flows, go, signin
from ibdesk.blueprints.connect import DEMO_JOB, collect, flow_state, need_database, render, steps
from ibdesk.blueprints.jobs import registry
from ibdesk.blueprints.users import create_account
from ibdesk.errors import UserError
from ibdesk.forms.licensing import InstallLicenseForm
from ibdesk.forms.wizard import AdminUserForm
from ibdesk.i18n import gettext as _
from ibdesk.settings import connection, dbadmin
from ibdesk.wizard import Answer, chosen_session

bp = Blueprint("wizard", __name__, url_prefix="/wizard")
connect.register(bp, "wizard")


@bp.before_request
def _fresh_for_changes() -> Any | None:
    """Once a clinic has accounts, a change made here (server, database, license, a new
    administrator) needs the password typed again, as on the Users tab. Before any account
    exists nobody can sign in, and the window is open (``signin.stale_answer``)."""
    if request.method != "POST" or request.endpoint == "wizard.finish_submit":
        return None
    return signin.stale_answer()


@bp.get("/")
def index() -> str:
    """Show the wizard at the first step that has not passed yet."""
    state = flow_state("wizard")
    collect(state)
    return render("wizard", state, steps(state).first_open)


@bp.get("/skip")
def skip() -> Response:
    """Leave the wizard for manual configuration (General settings once a database exists)."""
    flows().drop(flow_key("wizard"))
    if web.database().is_configured():
        return redirect(url_for("settings.index"))
    return redirect(url_for("settings.manual"))


# --- step 3: the license --------------------------------------------------------------------


@bp.post("/license")
def license_submit() -> tuple[str, int]:
    """Install the vendor's license file in the chosen database."""
    state = flow_state("wizard")
    if (refused := need_database(state)) is not None:
        return refused
    form = InstallLicenseForm()
    if not form.validate_on_submit():
        return render("wizard", state, 3, license_form=form), 422
    upload = form.file.data
    data, name = licensing.read_upload(upload.stream), licensing.upload_name(upload.filename)
    with chosen_session(state, web.database().engine) as chosen:
        try:
            info = licensing.install_license(chosen, data, web.actor(), name=name)
        except UserError as error:
            chosen.rollback()
            answer = Answer("error", str(error))
            return render("wizard", state, 3, license_form=form, answer=answer), 422
        chosen.commit()
    message = licensing.installed_message(info)  # the Licensing tab's own sentence
    return render("wizard", state, 3, answer=Answer("success", message)), 200


# --- step 4: the first administrator --------------------------------------------------------


@bp.post("/user")
def user_submit() -> tuple[str, int]:
    """Create the first administrator account."""
    state = flow_state("wizard")
    if (refused := need_database(state)) is not None:
        return refused
    if not steps(state).passed[2]:
        answer = Answer("error", _("Install the license first (step 3)."))
        return render("wizard", state, 3, answer=answer), 409
    form = AdminUserForm()
    if not form.validate_on_submit():
        return render("wizard", state, 4, user_form=form), 422
    with chosen_session(state, web.database().engine) as chosen:
        user = create_account(chosen, form, is_admin=True)
        if user is None:
            return render("wizard", state, 4, user_form=form), 422
        chosen.commit()
        name = user.username
    answer = Answer("success", _("The administrator %(name)s was created.", name=name))
    return render("wizard", state, 4, answer=answer), 200


@bp.post("/finish")
def finish_submit() -> tuple[str, int] | Response:
    """Forget the wizard (its password with it) and open the main tabs."""
    state = flow_state("wizard")
    found = steps(state)
    if not found.can_finish:
        answer = Answer(
            "error", _("Step %(first_open)s has not passed yet.", first_open=found.first_open)
        )
        return render("wizard", state, found.first_open, answer=answer), 409
    flows().drop(flow_key("wizard"))
    return go(url_for("home.index"))


# --- the demo clinic ------------------------------------------------------------------------


@bp.post("/demo")
def demo_submit() -> tuple[str, int]:
    """Start making a demo clinic on this computer (a job with live progress)."""
    state = flow_state("wizard")
    if connect.live_clinic():
        answer = Answer(
            "error",
            _(
                "This program already administers a clinic's database (it has held a real "
                "license), so the demo is not offered any more."
            ),
        )
        return render("wizard", state, 1, answer=answer), 409
    folder = config.data_dir()
    dbadmin.prepare_sqlite_folder(connection.ServerSpec("sqlite", folder=str(folder)), folder)
    try:
        state.demo_job = registry().start(DEMO_JOB, lambda: wizard.demo_then_use(folder))
    except UserError as error:
        return render("wizard", state, 1, answer=Answer("error", str(error))), 409
    return render("wizard", state, 1), 202


@bp.get("/demo/<job_id>")
def demo_status(job_id: str) -> str:
    """Move on once the demo clinic is made (asked when its job ends)."""
    state = flow_state("wizard")
    if state.demo_job != job_id:
        raise NotFoundPage()
    if collect(state):
        clinic = state.demo
        assert clinic is not None
        message = _(
            "The demo clinic is ready: %(patients)s patients, %(media)s media "
            "with their files in %(image_folder)s, and a DEMO license "
            "(%(licensee)s). Create your administrator account, or finish now "
            "and explore.",
            patients=clinic.patients,
            media=clinic.media,
            image_folder=clinic.image_folder,
            licensee=clinic.licensee,
        )
        answer = Answer("success", message)
        number = steps(state).first_open
        return render("wizard", state, number, answer=answer, status_bar=connect.status_bar())
    return render("wizard", state, 1)
