"""Blueprints: one per tab (listed in ``ibdesk.tabs``) plus the frame's home and jobs.

Helpers for the rule that one endpoint answers a full page or, to htmx, its partial.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request


def is_htmx() -> bool:
    """Return whether htmx sent this request (it wants a partial, not a page)."""
    return request.headers.get("HX-Request") == "true"


def page_or_partial(page: str, partial: str, **context: Any) -> str:
    """Render the partial for htmx requests and the full page (which includes it) otherwise."""
    return render_template(partial if is_htmx() else page, **context)
