"""The Flask app behind the ImageBank SysAdmin window: security, frame, setup gate, errors.

How to add a tab ``x``:

1. ``ibdesk/blueprints/x.py`` defines ``bp = Blueprint("x", __name__, url_prefix="/x")`` with
   thin views (parse, call the domain, render) that use ``ibdesk.web.db_session()``.
2. ``templates/x/index.html`` extends ``base.html`` and fills ``{% block content %}``. Forms
   use ``templates/_macros/forms.html`` (``field`` with its errors and description,
   ``csrf``, ``button``), messages ``_macros/alerts.html`` (``alert``, ``flashes``) and long
   jobs ``_macros/jobs.html`` (``job_progress(job)``; start them with
   ``ibdesk.blueprints.jobs.registry().start(...)``).
3. Partials are named ``_something.html``. A view answers the partial when the request has
   the ``HX-Request`` header and the full page otherwise; the page includes the same partial
   (``ibdesk.blueprints.page_or_partial`` does both).
4. Add ``Tab("x", "Label", "x.index", "ibdesk.blueprints.x")`` to ``ibdesk/tabs.py`` in the
   clinic's order. A tab with the id ``wizard`` becomes the setup gate's target as well.

A ``UserError`` raised in a view becomes the app's own error page (or an alert partial for
htmx) with its sentence: 404 for ``NotFound``, 409 for ``Refused`` and database problems,
400 otherwise. No page ever shows a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import secrets
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, current_app, g, render_template, request, url_for
from flask_babel import Babel
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wrappers import Response as BaseResponse

from ibdesk import display, i18n, limits, security, tabs, web
from ibdesk.blueprints import go, is_htmx, signin, status_for
from ibdesk.db import explain
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.jobs import JobRegistry

NOT_CONFIGURED_ENDPOINT = "home.not_configured"
STATIC = Path(__file__).with_name("static")
FRAME_BLUEPRINTS = (
    "ibdesk.blueprints.home",
    "ibdesk.blueprints.jobs",
    "ibdesk.blueprints.language",
    "ibdesk.blueprints.signin",
)
# Reachable before a database is configured, besides the gate's own blueprint.
# The status bar polls on every page, the gate's own page included: gating it would loop.
_GATE_OPEN_ENDPOINTS = frozenset(
    {
        "static",
        NOT_CONFIGURED_ENDPOINT,
        "home.status_bar",
        "home.favicon",
        "instance_focus",
        "language.switch",
    }
)
_GATE_OPEN_BLUEPRINTS = frozenset({"jobs"})

csrf = CSRFProtect()
babel = Babel()


class RowId(IntegerConverter):
    """An ``<int:...>`` path part that fits a database id; a larger number is a 404."""

    def __init__(
        self,
        url_map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = limits.ROW_ID_MAX,
        signed: bool = False,
    ) -> None:
        """Cap the number at the largest 64-bit id (SQLite's and PostgreSQL's bigint)."""
        super().__init__(url_map, fixed_digits, min, max, signed)


def create_app(
    *,
    db_option: str | None = None,
    token: str | None = None,
    testing: bool = False,
    port: int | None = None,
    tab_list: tuple[tabs.Tab, ...] | None = None,
) -> Flask:
    """Build the app for one launch: its own secrets, the database option and the tabs."""
    app = Flask(__name__)
    # An id in a path is a database row id: one larger than a 64-bit integer names no row.
    app.url_map.converters["int"] = RowId
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),
        TESTING=testing,
        WTF_CSRF_TIME_LIMIT=None,  # the secret dies with the launch; forms left open stay valid
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        # No request is bigger than a form; an upload endpoint caps itself lower still.
        MAX_CONTENT_LENGTH=limits.REQUEST_MAX_BYTES,
        IBDESK_TABS=tabs.TABS if tab_list is None else tab_list,
        IBDESK_FOCUS=None,  # set by the desktop shell: brings its window to the front
    )
    # The security guard's hook must come first: an outsider is refused before anything else.
    security.install(app, token=token or security.new_secret(), port=port)
    app.before_request(_cap_upload)  # before CSRF reads the form, so before any body is read
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.set_app_language(app, i18n.window_language())
    display.install(app)
    web.install(app, db_option)
    app.extensions["ibdesk.jobs"] = JobRegistry()
    modules = (*FRAME_BLUEPRINTS, *(t.blueprint_module for t in app.config["IBDESK_TABS"]))
    for module in dict.fromkeys(modules):  # in order, each once
        app.register_blueprint(importlib.import_module(module).bp)
    app.before_request(_refuse_overlong_input)
    app.before_request(_setup_gate)
    signin.install(app)  # after the setup gate: no sign-in before there is a database
    app.jinja_env.globals["field_max"] = limits.field_max
    app.context_processor(_frame_context)
    _register_errors(app)
    app.add_url_rule("/_instance/focus", "instance_focus", _instance_focus, methods=["POST"])
    csrf.exempt(_instance_focus)
    return app


def gate_endpoint(app: Flask) -> str:
    """Return where the setup gate sends every page: the wizard, once that tab exists."""
    wizard = tabs.find(tabs.WIZARD, app.config["IBDESK_TABS"])
    return wizard.endpoint if wizard else NOT_CONFIGURED_ENDPOINT


def _cap_upload() -> None:
    # The body is refused on its Content-Length, unread, when it is larger than what the
    # endpoint's upload can be (a license file: a few kB).
    cap = limits.UPLOAD_MAX_BYTES.get(request.endpoint or "")
    if cap is not None:
        request.max_content_length = cap


def _refuse_overlong_input() -> None:
    # Every typed value has a cap (the form's maxlength): a longer one is refused whole,
    # before any view parses it, with a sentence instead of a crash deep inside.
    values = [*request.args.items(multi=True), *request.form.items(multi=True)]
    view = current_app.view_functions.get(request.endpoint or "")
    own: frozenset[str] = getattr(view, "ibdesk_own_length", frozenset())
    if limits.first_too_long((n, v) for n, v in values if n not in own) is not None:
        raise UserError(
            _(
                "A value you sent is too long: type at most %(count)s characters.",
                count=limits.TEXT_MAX,
            )
        )
    # No text a person types holds a NUL, and PostgreSQL cannot store one: one sentence
    # here instead of a "database problem" from deep inside a search or a save.
    if any("\0" in value for _name, value in values):
        raise UserError(
            _("A value you sent holds a NUL character, which no field can hold; type it again.")
        )


def _setup_gate() -> BaseResponse | None:
    endpoint = request.endpoint
    target = gate_endpoint(current_app)
    # The wizard's whole blueprint stays open (its steps, its partials).
    open_blueprint = target.split(".")[0] if target != NOT_CONFIGURED_ENDPOINT else None
    if (
        endpoint is None
        or endpoint in _GATE_OPEN_ENDPOINTS
        or request.blueprint in _GATE_OPEN_BLUEPRINTS
        or (open_blueprint is not None and request.blueprint == open_blueprint)
        or getattr(current_app.view_functions.get(endpoint), "ibdesk_gate_open", False)
    ):
        return None
    if web.database().is_configured():
        return None
    return go(url_for(target), code=302)


def _frame_context() -> dict[str, object]:
    language = {"language": i18n.current_language(), "languages": i18n.LANGUAGES}
    if (
        getattr(g, "ibdesk_refused", False)
        or not getattr(g, "ibdesk_authenticated", False)
        or not signin.shows_frame()
    ):
        return {"show_frame": False, **language}
    tab_list: tuple[tabs.Tab, ...] = current_app.config["IBDESK_TABS"]
    active = next((t.id for t in tab_list if t.endpoint.split(".")[0] == request.blueprint), None)
    active = active or request.blueprint
    return {
        "show_frame": True,
        "nav_tabs": tab_list,
        "active_tab": active,
        # One word per tab: the tab x's own stylesheet is static/x.css, when it has one.
        "tab_stylesheet": f"{active}.css" if f"{active}.css" in _stylesheets() else None,
        "db_label": web.database_label(web.database()),
        **language,
    }


@functools.cache
def _stylesheets() -> frozenset[str]:
    return frozenset(p.name for p in STATIC.glob("*.css"))


@security.token_header_auth
def _instance_focus() -> Response:
    """Bring this launch's window to the front (asked by a second ``ibdesk``)."""
    focus: Callable[[], None] | None = current_app.config["IBDESK_FOCUS"]
    if focus is None:
        return Response(_("This ImageBank SysAdmin has no window."), status=409)
    focus()
    return Response(status=204)


def _render_error(status: int, title: str, message: str) -> tuple[str, int]:
    template = "errors/_alert.html" if is_htmx() else "errors/error.html"
    return render_template(template, code=status, title=title, message=message), status


def _user_error(error: UserError) -> tuple[str, int]:
    status = status_for(error)
    titles = {404: _("Not found"), 409: _("Not possible now")}
    return _render_error(status, titles.get(status, _("Cannot do that")), str(error))


def _database_error(error: SQLAlchemyError) -> tuple[str, int]:
    current_app.logger.warning("Database error: %s", error)
    url = None
    with contextlib.suppress(UserError):
        url = web.database().choice().url
    return _render_error(409, _("Database problem"), explain(error, url))


def _csrf_error(_error: CSRFError) -> tuple[str, int]:
    return _render_error(
        400,
        _("Form expired"),
        _("The form was not sent by this window or has expired; reload the page and try again."),
    )


def _http_error(error: HTTPException) -> tuple[str, int] | HTTPException:
    if error.code is None or error.code < 400:
        return error
    cap = limits.UPLOAD_MAX_BYTES.get(request.endpoint or "")
    messages = {
        413: (
            _(
                "That file is too large to be a license file; choose the license file you got "
                "from the vendor."
            )
            if cap
            else _("That request is too large; send less at once.")
        ),
        404: _("There is no such page in ImageBank SysAdmin."),
        405: _("That action cannot be done this way."),
    }
    message = messages.get(error.code, error.description or "")
    names = {404: _("Not found"), 405: _("Not allowed"), 400: _("Bad request")}
    return _render_error(error.code, names.get(error.code, error.name), message)


def _internal_error(_error: InternalServerError) -> tuple[str, int]:
    return _render_error(
        500,
        _("Something went wrong"),
        _(
            "An unexpected error stopped this page. Reload it and try again; if it happens "
            "again, note what you did and contact support."
        ),
    )


def _register_errors(app: Flask) -> None:
    app.register_error_handler(UserError, _user_error)
    app.register_error_handler(SQLAlchemyError, _database_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(InternalServerError, _internal_error)
    app.register_error_handler(HTTPException, _http_error)
