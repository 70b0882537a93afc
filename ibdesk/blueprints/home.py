"""The overview: what database and image folder this program administers, and the status bar."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, send_from_directory, url_for
from werkzeug.wrappers import Response

from ibdesk import config, web
from ibdesk.blueprints import page_or_partial
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l

bp = Blueprint("home", __name__)

SOURCES = {
    "option": _l("the --db option"),
    "environment": _l("the IBDESK_DB environment variable"),
    "config": _l("this computer's configuration file"),
    "default": _l("the built-in default (SQLite on this computer)"),
}


@bp.get("/")
def index() -> str:
    """Show the database, its schema version and the image folder."""
    status = web.status(web.database())
    return page_or_partial("home/index.html", "home/_overview.html", status=status, sources=SOURCES)


@bp.get("/status")
def status_bar() -> str:
    """Answer the status bar's content (loaded after the page, so a slow database waits alone)."""
    return render_template("home/_statusbar.html", status=web.status(web.database()))


@bp.get("/not-configured")
def not_configured() -> str | Response:
    """Say that no database is set up yet, and how to set one up from the command line."""
    database = web.database()
    if database.is_configured():
        return redirect(url_for("home.index"))
    default_path = config.data_dir() / config.DEFAULT_SQLITE_NAME
    if database.choice().source == "default" and not default_path.exists():
        reason = _("The built-in SQLite database has not been created yet.")
    else:
        status = web.status(database)
        reason = status.problem or status.schema_message
    return render_template("home/not_configured.html", reason=reason, default_path=default_path)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Answer the icon browsers ask for on their own."""
    folder = current_app.static_folder or ""
    return send_from_directory(folder, "favicon.svg", mimetype="image/svg+xml")
