"""The language switch in the window's header: Svenska / English, remembered per OS user."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ibdesk import i18n, security
from ibdesk.blueprints import is_htmx

bp = Blueprint("language", __name__)


def _back_to(target: str | None) -> str:
    """Return a same-site path to go back to, or the overview (for one naming another site)."""
    if target and target.startswith(("//", "/\\")):
        return url_for("home.index")
    return security.local_next(target) or url_for("home.index")


@bp.post("/language")
def switch() -> BaseResponse:
    """Show the window in the chosen language from now on, and remember the choice."""
    language = request.form.get("language", "")
    if language not in i18n.LANGUAGES:
        abort(400)
    i18n.remember_language(language)
    i18n.set_app_language(current_app, language)
    target = _back_to(request.form.get("next"))
    if is_htmx():
        return Response(status=204, headers={"HX-Redirect": target})
    return redirect(target, code=303)
