"""The Licensing tab: the current license, installing a new file, seats, license history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from ibdesk import licensing, web
from ibdesk.blueprints import is_htmx, status_for
from ibdesk.errors import NotFound, UserError
from ibdesk.forms.licensing import InstallLicenseForm, RemoveSeatForm
from ibdesk.i18n import gettext as _
from ibdesk.licensing import seats

bp = Blueprint("licensing", __name__, url_prefix="/licensing")


def _render(status: int = 200, **extra: Any) -> tuple[str, int]:
    """Answer the tab's content (htmx) or the page around it, read afresh."""
    session = web.db_session()
    context: dict[str, Any] = {
        "current": licensing.current_license(session),
        "history": licensing.license_history(session),
        "seats": seats.list_seats(session),
        "form": InstallLicenseForm(formdata=None),
        "confirm_seat": None,
        "message": None,
        "message_kind": "success",
    }
    context.update(extra)
    template = "licensing/_content.html" if is_htmx() else "licensing/index.html"
    return render_template(template, **context), status


@bp.get("/")
def index() -> tuple[str, int]:
    """Show the current license, the seats in use and the license history."""
    return _render()


@bp.post("/install")
def install_submit() -> tuple[str, int]:
    """Install an uploaded license file; a file that fails changes nothing."""
    form = InstallLicenseForm()
    if not form.validate_on_submit():
        return _render(422, form=form)
    upload = form.file.data
    session = web.db_session()
    try:
        info = licensing.install_license(
            session,
            licensing.read_upload(upload.stream),
            web.actor(),
            name=licensing.upload_name(upload.filename),
        )
        session.commit()
    except UserError as error:
        session.rollback()
        form.file.errors = [str(error)]
        return _render(422, form=form)
    return _render(message=licensing.installed_message(info))


def _held_seat(seat_id: int) -> seats.SeatInfo:
    found = next((s for s in seats.list_seats(web.db_session()) if s.id == seat_id), None)
    if found is None:
        raise NotFound(
            _("No workstation holds the seat with ID %(seat_id)s any more.", seat_id=seat_id)
        )
    return found


@bp.get("/seats/<int:seat_id>/remove")
def remove_seat(seat_id: int) -> tuple[str, int]:
    """Ask whether to free this seat (in place of its row)."""
    seat = _held_seat(seat_id)
    if is_htmx():
        return render_template("licensing/_seat_confirm.html", seat=seat), 200
    return _render(confirm_seat=seat.id)


@bp.post("/seats/<int:seat_id>/remove")
def remove_seat_submit(seat_id: int) -> tuple[str, int]:
    """Free the seat of a workstation that is gone (logged in the system log)."""
    form = RemoveSeatForm()
    if not form.validate_on_submit():
        return _render(422, confirm_seat=seat_id)
    session = web.db_session()
    try:
        seat = seats.release_seat(session, seat_id, web.actor())
        session.commit()
    except UserError as error:
        session.rollback()
        return _render(status_for(error), message=str(error), message_kind="error")
    return _render(
        message=_(
            "Freed seat %(slot)s of %(hostname)s (%(mac)s); the workstation "
            "can claim a seat again when it next starts, if one is free.",
            slot=seat.slot,
            hostname=seat.hostname,
            mac=seat.mac,
        )
    )
