"""The Patients tab: search, a patient's details and image sets with thumbnails, signing,
and deleting, restoring or purging a patient (each with the personnummer typed again).

Actions answer htmx with the part of the page they change; without htmx they flash their
outcome and go back to the patient's page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from ibdesk import patients, web
from ibdesk.blueprints import go, is_htmx, page_or_partial, status_for
from ibdesk.blueprints.logs import reading
from ibdesk.display import date_time
from ibdesk.display import personnummer as pn_display
from ibdesk.errors import UserError
from ibdesk.forms.patients import ConfirmNumberForm, SearchForm, UnsignForm
from ibdesk.i18n import gettext as _
from ibdesk.patients import signing, thumbnails

bp = Blueprint("patients", __name__, url_prefix="/patients")

SEARCH_PAGE = patients.PAGE_SIZE
THUMBNAIL_TIMEOUT_S = thumbnails.TIMEOUT_S
FULL_SIZE = 2400  # the longest side of a clicked thumbnail's picture: a whole screen
PANE_KEYS = ("q", "patient", "set")  # the address names of the three-pane page


@dataclass(frozen=True)
class Outcome:
    """What an action did, as the page says it: kind is "success", "warning" or "error"."""

    kind: str
    message: str
    problems: list[str] = field(default_factory=list)


def _unsign_form(set_id: int, *, submitted: bool = False) -> UnsignForm:
    # One reason box per set on the page: the prefix keeps their names and ids apart.
    prefix = f"set{set_id}"
    return UnsignForm(prefix=prefix) if submitted else UnsignForm(prefix=prefix, formdata=None)


@bp.context_processor
def _patients_context() -> dict[str, Any]:
    return {"unsign_form": _unsign_form}


@dataclass(frozen=True)
class Panes:
    """The second and third panes: the chosen patient, and the image set chosen in it."""

    info: patients.PatientDetails
    chosen_set: patients.ImageSetView | None
    text: str


def _panes(text: str) -> Panes | None:
    """Open the patient (and set) the address names, logging the viewing; None if none."""
    number = (request.args.get("patient") or "").strip()
    if not number:
        return None
    session = web.db_session()
    info = patients.details(session, number, actor=web.actor())
    session.commit()
    wanted = request.args.get("set", type=int)
    chosen = next((s for s in info.image_sets if s.id == wanted), None)
    if chosen is None and info.image_sets and wanted is None:
        chosen = info.image_sets[0]  # the newest set, so the third pane is never empty
    return Panes(info, chosen, text)


def _pane_context(panes: Panes | None) -> dict[str, Any]:
    if panes is None:
        return {"panes": None}
    return {"panes": panes, **_forms(panes.info)}


@bp.get("/panes")
def panes() -> tuple[str, int] | BaseResponse:
    """Answer the details and image-set panes for the patient and set the address names."""
    text = (request.args.get("q") or "").strip()
    if not is_htmx():
        # Only the page's own names: any other (``_method``, ``endpoint``) would be taken by
        # url_for as one of its own arguments and fail to build the address.
        args: dict[str, Any] = {k: request.args[k] for k in PANE_KEYS if k in request.args}
        return redirect(url_for("patients.index", **args), code=303)
    context = _pane_context(_panes(text))
    return render_template("patients/_panes.html", **context), 200


@bp.get("/")
def index() -> tuple[str, int]:
    """Search by personnummer (any form, or its beginning) or name; blank lists everyone.

    With ``patient`` (and ``set``) in the address the page shows three panes: the search,
    that patient's details, and their image sets, so the address can be shared as it is.
    """
    form = SearchForm(request.args)
    text = (form.q.data or "").strip()
    cursor = request.args.get("cursor") or None
    pane_context = {} if is_htmx() else _pane_context(_panes(text))
    with reading() as session:
        try:
            results = patients.search(session, text, cursor=cursor, limit=SEARCH_PAGE)
            problem = None
        except UserError as error:
            results, problem = None, str(error)
        html = page_or_partial(
            "patients/index.html",
            "patients/_results.html",
            form=form,
            text=text,
            results=results,
            problem=problem,
            cursor=cursor,
            chosen=request.args.get("patient") or "",
            **pane_context,
        )
    return html, 400 if problem else 200


@bp.get("/more")
def more() -> tuple[str, int]:
    """Answer the next page of search results as table rows (htmx's [More patients])."""
    text = request.args.get("q", "").strip()
    with reading() as session:
        results = patients.search(
            session, text, cursor=request.args.get("cursor") or None, limit=SEARCH_PAGE
        )
        return render_template("patients/_rows.html", results=results, text=text), 200


@bp.get("/<number>")
def details(number: str) -> str:
    """Show a patient's identity, contact, note, image sets and media (the viewing is logged)."""
    session = web.db_session()
    info = patients.details(session, number, actor=web.actor())
    session.commit()
    return page_or_partial("patients/details.html", "patients/_details.html", **_forms(info))


def _forms(info: patients.PatientDetails, **overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "info": info,
        "delete_form": ConfirmNumberForm(prefix="delete", formdata=None),
        "purge_form": ConfirmNumberForm(prefix="purge", formdata=None),
    }
    context.update(overrides)
    return context


# ---- image sets ----------------------------------------------------------------------


def _set_answer(
    number: str,
    set_id: int,
    session: Session,
    outcome: Outcome,
    status: int,
    form: UnsignForm | None = None,
) -> tuple[str, int] | BaseResponse:
    if not is_htmx():
        for line in [outcome.message, *outcome.problems]:
            flash(line, outcome.kind)
        return redirect(url_for("patients.details", number=number), code=303)
    return render_template(
        "patients/_image_set.html",
        number=number,
        image_set=patients.image_set_view(session, set_id),
        outcome=outcome,
        reason_form=form,
    ), status


def _set_action(
    number: str, set_id: int, action: Callable[[Session], Outcome]
) -> tuple[str, int] | BaseResponse:
    session = web.db_session()
    patients.check_set_of(session, number, set_id)  # before anything: a sentence, 404
    try:
        outcome = action(session)
        session.commit()
        status = 200
    except UserError as error:
        session.rollback()
        outcome, status = Outcome("error", str(error)), status_for(error)
    return _set_answer(number, set_id, session, outcome, status)


@bp.post("/<number>/sets/<int:set_id>/sign")
def sign(number: str, set_id: int) -> tuple[str, int] | BaseResponse:
    """Sign the image set: read-only for the workstations until an administrator unsigns it."""

    def act(session: Session) -> Outcome:
        signed = signing.sign(session, web.actor(), set_id)
        return Outcome(
            "success",
            _(
                "Image set signed by %(signed_by)s at %(signed_at)s; digest %(signature_digest)s.",
                signed_by=signed.signed_by,
                signed_at=date_time(signed.signed_at, seconds=True),
                signature_digest=signed.signature_digest,
            ),
        )

    return _set_action(number, set_id, act)


@bp.post("/<number>/sets/<int:set_id>/unsign")
def unsign(number: str, set_id: int) -> tuple[str, int] | BaseResponse:
    """Remove the set's signature; a reason is required and kept in the patient's log."""
    form = _unsign_form(set_id, submitted=True)
    session = web.db_session()
    if not form.validate_on_submit():
        message = "; ".join(str(e) for e in form.reason.errors) or _("The form was not complete.")
        return _set_answer(number, set_id, session, Outcome("error", message), 422, form)

    def act(session: Session) -> Outcome:
        signing.unsign(session, web.actor(), set_id, form.reason.data or "")
        return Outcome(
            "success",
            _(
                "Signature removed: the workstations can change the set again. "
                "The reason is kept in the patient's log."
            ),
        )

    return _set_action(number, set_id, act)


@bp.post("/<number>/sets/<int:set_id>/verify")
def verify(number: str, set_id: int) -> tuple[str, int] | BaseResponse:
    """Check that a signed set still matches what was signed, files included."""

    def act(session: Session) -> Outcome:
        result = signing.verify(session, set_id)
        if result.ok:
            return Outcome(
                "success", _("The set matches its signature: no field and no file has changed.")
            )
        return Outcome(
            "error", _("The set does NOT match its signature. What changed:"), result.problems
        )

    return _set_action(number, set_id, act)


# ---- delete, restore, purge ----------------------------------------------------------


def _manage_answer(
    number: str, outcome: Outcome, status: int, **forms: Any
) -> tuple[str, int] | BaseResponse:
    if not is_htmx():
        flash(outcome.message, outcome.kind)
        return redirect(url_for("patients.details", number=number), code=303)
    info = patients.details(web.db_session(), number)  # no actor: an action is not a viewing
    return render_template(
        "patients/_manage.html", outcome=outcome, **_forms(info, **forms)
    ), status


def _typed_action(
    number: str, prefix: str, action: Callable[[Session, str], Outcome]
) -> tuple[str, int] | BaseResponse:
    form = ConfirmNumberForm(prefix=prefix)
    forms = {f"{prefix}_form": form}
    if not form.validate_on_submit():
        message = "; ".join(str(e) for e in form.confirm.errors) or _("The form was not complete.")
        return _manage_answer(number, Outcome("error", message), 422, **forms)
    session = web.db_session()
    try:
        outcome = action(session, form.confirm.data or "")
        session.commit()
    except UserError as error:
        session.rollback()
        return _manage_answer(number, Outcome("error", str(error)), status_for(error), **forms)
    return _manage_answer(number, outcome, 200)


@bp.post("/<number>/delete")
def delete(number: str) -> tuple[str, int] | BaseResponse:
    """Hide the patient from the workstations (undoable with Restore)."""

    def act(session: Session, typed: str) -> Outcome:
        patient = patients.delete_patient(session, web.actor(), number, confirm=typed)
        return Outcome(
            "success",
            _(
                "Patient %(personnummer)s is deleted: hidden from the workstations until restored.",
                personnummer=pn_display(patient.personnummer),
            ),
        )

    return _typed_action(number, "delete", act)


@bp.post("/<number>/restore")
def restore(number: str) -> tuple[str, int] | BaseResponse:
    """Bring a deleted patient back to the workstations."""
    session = web.db_session()
    try:
        patient = patients.restore_patient(session, web.actor(), number)
        session.commit()
    except UserError as error:
        session.rollback()
        return _manage_answer(number, Outcome("error", str(error)), status_for(error))
    message = _(
        "Patient %(personnummer)s is restored.",
        personnummer=pn_display(patient.personnummer),
    )
    return _manage_answer(number, Outcome("success", message), 200)


@bp.post("/<number>/purge")
def purge(number: str) -> tuple[str, int] | BaseResponse:
    """Remove the patient's rows and files for good (refused while a set is signed)."""
    form = ConfirmNumberForm(prefix="purge")
    if not form.validate_on_submit():
        message = "; ".join(str(e) for e in form.confirm.errors) or _("The form was not complete.")
        return _manage_answer(number, Outcome("error", message), 422, purge_form=form)
    session = web.db_session()
    try:
        result = patients.purge_patient(
            session, web.actor(), number, confirm=form.confirm.data or ""
        )
    except UserError as error:
        session.rollback()
        return _manage_answer(
            number, Outcome("error", str(error)), status_for(error), purge_form=form
        )
    flash(
        _(
            "Patient %(personnummer)s is purged: %(image_sets)s image set(s) "
            "and %(media)s media removed, %(files_removed)s file(s) deleted. "
            "The patient's log stays.",
            personnummer=pn_display(result.personnummer),
            image_sets=result.image_sets,
            media=result.media,
            files_removed=result.files_removed,
        ),
        "success",
    )
    if result.files_left:
        flash(
            _(
                "These files could not be deleted from the image folder: %(files)s",
                files=", ".join(result.files_left),
            ),
            "warning",
        )
    return go(url_for("patients.index"))


# ---- thumbnails ----------------------------------------------------------------------


def _thumbnailer() -> thumbnails.Thumbnailer:
    found = current_app.extensions.get("ibdesk.patients.thumbnails")
    if found is None:
        found = current_app.extensions.setdefault(
            "ibdesk.patients.thumbnails", thumbnails.Thumbnailer()
        )
    return found


@bp.get("/media/<int:media_id>/thumbnail")
def thumbnail(media_id: int) -> Response:
    """Answer a media item's thumbnail, made from its file if needed; a placeholder otherwise."""
    return _picture(media_id, thumbnails.SIZE)


@bp.get("/media/<int:media_id>/image")
def image(media_id: int) -> Response:
    """Answer the media item large (a clicked thumbnail), 16-bit X-rays windowed to 8 bits."""
    return _picture(media_id, FULL_SIZE)


def _picture(media_id: int, size: int) -> Response:
    with reading() as session:
        source = thumbnails.media_source(session, media_id)
    # The session is closed before waiting: making a thumbnail must not hold the database.
    thumb = _thumbnailer().thumbnail(source, size=size, timeout=THUMBNAIL_TIMEOUT_S)
    if thumb.path is not None:
        response = send_file(thumb.path, mimetype=thumb.mimetype)
    else:
        response = Response(thumb.body, mimetype=thumb.mimetype)
    if thumb.state == "pending":
        response.status_code = 503
        response.headers["Retry-After"] = "2"
    response.headers["X-Ibdesk-Thumbnail"] = thumb.state
    return response
