"""Blueprints: one per tab (listed in ``ibdesk.tabs``) plus the frame's home and jobs.

Helpers every tab shares: one endpoint answers a full page or, to htmx, its partial; one way
to send the browser elsewhere; the wizard's flows kept under an id in the session cookie.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, redirect, render_template, request, session
from werkzeug.wrappers import Response

from ibdesk.db import DatabaseError
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.wizard import FlowStore

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_FLOWS = "ibdesk.wizard"
_SESSION_KEY = "ibdesk_wizard"


def is_htmx() -> bool:
    """Return whether htmx sent this request (it wants a partial, not a page)."""
    return request.headers.get("HX-Request") == "true"


def page_or_partial(page: str, partial: str, **context: Any) -> str:
    """Render the partial for htmx requests and the full page (which includes it) otherwise."""
    return render_template(partial if is_htmx() else page, **context)


@dataclass(frozen=True)
class TabPage:
    """A tab that answers htmx with one of its partials, anyone else with its whole page.

    Both are rendered from the one context the tab builds (its ``context(**extra)``).
    """

    page: str
    context: Callable[..., dict[str, Any]]

    def __call__(self, partial: str, status: int = 200, **extra: Any) -> tuple[str, int]:
        """Render the partial (htmx) or the page around it, with the tab's context and extra."""
        return page_or_partial(self.page, partial, **self.context(**extra)), status


def status_for(error: UserError) -> int:
    """Return the one HTTP status of an administrator-facing error: 404, 409 or 400."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Refused | DatabaseError):
        return 409
    return 400


def go(location: str, code: int = 303) -> Response:
    """Send the browser to another page: HX-Redirect for htmx, a redirect otherwise."""
    if is_htmx():
        return Response(status=204, headers={"HX-Redirect": location})
    return redirect(location, code=code)


def gate_open(view: F) -> F:
    """Mark a view as reachable before any database is configured (the setup gate lets it by)."""
    view.ibdesk_gate_open = True  # type: ignore[attr-defined]
    return view


def checks_own_length(*names: str) -> Callable[[F], F]:
    """Mark fields whose length the view checks itself, answering in its own partial.

    The server's blanket cap would answer with a generic alert that replaces the view's
    htmx target (a search's result list), and the next search would have nowhere to go.
    """

    def mark(view: F) -> F:
        view.ibdesk_own_length = frozenset(names)  # type: ignore[attr-defined]
        return view

    return mark


def app_held(key: str, kind: type[T]) -> T:
    """Return the one object of this kind the app holds under key (made on first use)."""
    found = current_app.extensions.get(key)
    if found is None:
        found = current_app.extensions.setdefault(key, kind())
    assert isinstance(found, kind)
    return found


def flows() -> FlowStore:
    """Return the app's store of wizard flows (made on first use)."""
    return app_held(_FLOWS, FlowStore)


def flow_key(flow: str) -> str:
    """Return the store's key of this browser's flow (a random id in the session cookie)."""
    wizard_id = session.get(_SESSION_KEY)
    if not isinstance(wizard_id, str):
        wizard_id = secrets.token_urlsafe(18)
        session[_SESSION_KEY] = wizard_id
    return f"{wizard_id}:{flow}"
