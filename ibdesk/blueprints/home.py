"""The overview: what database and image folder this program administers, and the status bar."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, send_from_directory, url_for
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ibdesk import config, home, web
from ibdesk.blueprints import page_or_partial
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import SystemEvent
from ibdesk.schema import SchemaState
from ibdesk.users import recovery

bp = Blueprint("home", __name__)

SOURCES = {
    "option": _l("the --db option"),
    "environment": _l("the IBDESK_DB environment variable"),
    "config": _l("this computer's configuration file"),
    "default": _l("the built-in default (SQLite on this computer)"),
}


@bp.get("/")
def index() -> str:
    """Show the database, license, counts, last backup, free space and what needs doing."""
    status = web.status(web.database())
    return page_or_partial(
        "home/index.html",
        "home/_overview.html",
        status=status,
        sources=SOURCES,
        summary=_summary(status),
        tab_urls={tab.id: url_for(tab.endpoint) for tab in current_app.config["IBDESK_TABS"]},
        recoveries=_recoveries() if status.ok else [],
    )


def _recoveries() -> list[SystemEvent]:
    # Shown until an administrator acknowledges them (Users & user groups).
    try:
        return recovery.unacknowledged(web.db_session())
    except (UserError, SQLAlchemyError):
        return []


def _summary(status: web.Status) -> home.Overview | None:
    """Gather the Overview from a database that answers (None when it cannot be read)."""
    if status.problem is not None or status.schema_state not in (
        SchemaState.CURRENT,
        SchemaState.OLDER,
    ):
        return None
    database = web.database()
    reader = database.engine(database.choice().url).execution_options(ibdesk_read_only=True)
    try:
        with Session(reader) as session:
            return home.overview(
                session, schema_state=status.schema_state, image_folder=status.image_folder
            )
    except SQLAlchemyError:  # an older schema may lack a table: the database part still shows
        return None


@bp.get("/status")
def status_bar() -> str:
    """Answer the status bar's content (loaded after the page, so a slow database waits alone).

    Before any database was chosen (the built-in SQLite file not made yet) nothing is
    unreachable: the bar says "not set up yet" instead of a red error.
    """
    database = web.database()
    if not database.is_configured():
        return render_template(
            "home/_statusbar.html", status=None, db_label=web.database_label(database)
        )
    return render_template("home/_statusbar.html", status=web.status(database))


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
