"""Signing in to the window: who is at the keyboard, on top of the launch token.

The launch token (``ibdesk.security``) proves the request comes from this launch's window;
the sign-in proves who sits at it. Only an enabled account with the *administer* right gets
in. The session lives on the server (``ibdesk.users.sessions``); its random id travels in an
HttpOnly, SameSite=Strict cookie, made anew at every sign-in.

Before the first administrator exists (a fresh install, a demo database) nobody could sign
in, so the window stays open as before, for the wizard's step 4 to create one.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from ibdesk import audit, security, web
from ibdesk.blueprints import app_held, go, is_htmx
from ibdesk.db import DatabaseError
from ibdesk.forms.signin import ConfirmForm, SignInForm
from ibdesk.i18n import gettext as _
from ibdesk.models import Right
from ibdesk.users import accounts, admins
from ibdesk.users.sessions import SessionStore, WindowSession

bp = Blueprint("signin", __name__, url_prefix="/signin")
F = TypeVar("F", bound=Callable[..., Any])
_STORE = "ibdesk.sessions"
# Reachable signed out: the sign-in pages, the files they need, the language switch.
# The wizard's [Finish] only forgets the flow and goes to the sign-in page: after step 4
# made the first administrator, it must still work.
_OPEN_ENDPOINTS = frozenset(
    {
        "static",
        "home.favicon",
        "home.not_configured",
        "language.switch",
        "instance_focus",
        "wizard.finish_submit",
    }
)


def store() -> SessionStore:
    """Return the app's signed-in sessions."""
    return app_held(_STORE, SessionStore)


def cookie_name() -> str:
    """Return the name of the cookie holding the session id (one per port)."""
    return f"ibdesk-user-{current_app.config.get('IBDESK_PORT')}"


def current() -> WindowSession | None:
    """Return who is signed in for this request, or None."""
    found: WindowSession | None = g.get("ibdesk_signed_in")
    return found


def install(app: Flask) -> None:
    """Make every page but the open ones need a signed-in administrator."""
    app.before_request(_gate)
    app.context_processor(lambda: {"signed_in": current()})


def _admin_count() -> int:
    # A short read-only session of its own: the request's session would hold SQLite's write
    # lock for the whole request, and the wizard writes through a connection of its own.
    engine = web.database().ready_engine().execution_options(ibdesk_read_only=True)
    with Session(engine) as session:
        return admins.count_admins(session)


def _no_administrator() -> bool:
    if not web.database().is_configured():
        return True
    try:
        return _admin_count() == 0
    except (DatabaseError, SQLAlchemyError):
        return False


def _unreachable() -> bool:
    # Accounts live in the database: while it cannot be reached nobody can sign in, and no
    # page can read or change clinic data either; pages then say what is wrong (and General
    # settings can repair the connection) behind the launch token alone.
    try:
        _admin_count()
    except (DatabaseError, SQLAlchemyError):
        return True
    return False


def _still_allowed(sent: str | None, found: WindowSession | None) -> WindowSession | None:
    """Return the session with the account's rights as they are now, or end it.

    An account disabled, locked, deleted or no longer an administrator (from the command
    line, or another administrator's window) loses its window session at its next click.
    """
    if found is None:
        return None
    try:
        engine = web.database().ready_engine().execution_options(ibdesk_read_only=True)
        with Session(engine) as session:
            rights = accounts.rights_now(session, found.user_id, found.username)
    except (DatabaseError, SQLAlchemyError):
        return found  # the pages say what is wrong with the database
    if Right.ADMINISTER.value not in rights:
        store().end(sent)
        return None
    return found if rights == found.rights else dataclasses.replace(found, rights=rights)


def _gate() -> BaseResponse | None:
    if getattr(g, "ibdesk_refused", False) or not getattr(g, "ibdesk_authenticated", False):
        return None
    sent = request.cookies.get(cookie_name())
    endpoint = request.endpoint
    found = store().get(sent)
    # Style sheets, scripts and the icon need no database read: only what acts or shows data.
    g.ibdesk_signed_in = found if endpoint in _OPEN_ENDPOINTS else _still_allowed(sent, found)
    if (
        g.ibdesk_signed_in is not None
        or endpoint is None
        or endpoint in _OPEN_ENDPOINTS
        or request.blueprint == "signin"
    ):
        return None
    if _no_administrator():
        # Nobody could sign in yet (a fresh or demo database): the window stays open, so
        # that the wizard's step 4 (or General settings) can make the first administrator.
        # The last enabled administrator cannot be removed, so a clinic never falls back here.
        g.ibdesk_setup_open = True
        return None
    if not web.database().is_configured() or _unreachable():
        g.ibdesk_setup_open = True
        return None  # the setup gate (which runs first) sends these to the wizard
    target = request.full_path if request.query_string else request.path
    if request.method == "GET" and not is_htmx():
        # The sign-in page in place of the page asked for, which follows once signed in.
        return _sign_in_page(SignInForm(next=target), ended=bool(sent))
    return go(url_for("signin.index", ended="1" if sent else None))


def _sign_in_page(form: SignInForm, *, ended: bool = False) -> BaseResponse:
    html = render_template(
        "signin/index.html",
        form=form,
        ended=ended,
        no_admin=_no_administrator(),
        load_htmx=True,
    )
    return BaseResponse(html, status=200, mimetype="text/html")


def shows_frame() -> bool:
    """Return whether this page may show the tabs: someone is signed in, or setup is open."""
    return current() is not None or bool(g.get("ibdesk_setup_open"))


def _next_target(value: str | None) -> str:
    target = security.local_next(value)
    if target is None or target.startswith("/signin"):
        return url_for("home.index")
    return target


@bp.get("/")
def index() -> str | BaseResponse:
    """Show the sign-in page (signing in again, as someone else, ends the session in force)."""
    form = SignInForm(next=request.args.get("next", ""))
    return _sign_in_page(form, ended=request.args.get("ended") == "1")


@bp.post("/")
def submit() -> tuple[str, int] | BaseResponse:
    """Check the user name and password; an administrator gets a new session."""
    form = SignInForm()
    if not form.validate_on_submit():
        return render_template("signin/index.html", form=form, no_admin=False, load_htmx=True), 422
    session = web.db_session()
    outcome = accounts.authenticate(
        session,
        form.username.data or "",
        form.password.data or "",
        audit.this_machine(),
        need=Right.ADMINISTER,
    )
    session.commit()  # the attempt stays in the login log either way
    if outcome.user is None:
        form.password.errors = [outcome.message]
        return render_template("signin/index.html", form=form, no_admin=False, load_htmx=True), 401
    user = outcome.user
    old = request.cookies.get(cookie_name())
    store().end(old)
    started = store().start(user.id, user.username, user.display_name, user.rights)
    cookie_session.pop("ibdesk_wizard", None)
    response = go(_next_target(form.next.data))
    response.set_cookie(cookie_name(), started.id, httponly=True, samesite="Strict", path="/")
    return response


@bp.post("/out")
def sign_out() -> BaseResponse:
    """Sign out: the session ends on the server and its cookie is dropped."""
    ended = store().end(request.cookies.get(cookie_name()))
    if ended is not None:
        session = web.db_session()
        audit.login_event(
            session, ended.username, audit.this_machine(), success=True, reason="signed out"
        )
        session.commit()
    response = go(url_for("signin.index"))
    response.delete_cookie(cookie_name(), path="/")
    return response


def stale_answer() -> Any | None:
    """Return the answer that asks for the password again, or None when the sign-in is fresh.

    (While nobody can sign in, the server's own account holding the launch token is the one
    at the window, as for the recovery on the command line: nothing to ask.)
    """
    found = current()
    if (found is not None and found.is_fresh()) or getattr(g, "ibdesk_setup_open", False):
        return None
    back = request.path if request.method == "GET" else url_for(f"{request.blueprint}.index")
    if request.method == "GET" and not is_htmx():
        return go(url_for("signin.confirm", next=request.path))
    messages = {
        "conversion": _("Type your password again before converting ImageBank 1.2 data."),
        "backup": _("Type your password again before restoring a backup."),
        "wizard": _("Type your password again before changing the clinic's setup."),
        "settings": _("Type your password again before changing the general settings."),
    }
    message = messages.get(
        request.blueprint or "",
        _("Type your password again before changing users and groups."),
    )
    return (
        render_template(
            "errors/_alert.html",
            code=403,
            title=_("Confirm your password"),
            message=message,
            link=url_for("signin.confirm", next=back),
        ),
        403,
    )


def fresh_required(view: F) -> F:
    """Let a view run only when the password was typed again within the last minutes."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        answer = stale_answer()
        return view(*args, **kwargs) if answer is None else answer

    return wrapper  # type: ignore[return-value]


@bp.get("/confirm")
def confirm() -> str:
    """Ask the signed-in person for their password again."""
    form = ConfirmForm(next=request.args.get("next", ""))
    return render_template("signin/confirm.html", form=form, load_htmx=True)


@bp.post("/confirm")
def confirm_submit() -> tuple[str, int] | BaseResponse:
    """Check the password again and mark the session fresh for a few minutes."""
    form = ConfirmForm()
    found = current()
    if found is None:
        return go(url_for("signin.index"))
    if not form.validate_on_submit():
        return render_template("signin/confirm.html", form=form, load_htmx=True), 422
    session = web.db_session()
    problem = accounts.confirm_password(
        session, found.username, form.password.data or "", audit.this_machine()
    )
    session.commit()
    if problem:
        form.password.errors = [problem]
        return render_template("signin/confirm.html", form=form, load_htmx=True), 401
    store().refresh(found.id)
    return go(_next_target(form.next.data))
