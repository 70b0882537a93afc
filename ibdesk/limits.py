"""How long typed text may be: one place for the caps the forms, the server and the CLI share.

A form field shows its cap as ``maxlength`` (taken from its ``Length`` validator, or
``TEXT_MAX``); the server refuses any longer value in a request before a view sees it, and
domain functions that take typed text check it again, so the CLI gets the same sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l

SEARCH_MAX = 200  # a personnummer, a name or its beginning: far below Python's int limit
TEXT_MAX = 1000  # any other typed text, a path included
CURSOR_MAX_DIGITS = 18  # a keyset cursor is a row id: below 2**63
ROW_ID_MAX = 2**63 - 1  # the largest id a row can have (64-bit signed)
# Picked patients a search leaves out (SQL Server takes at most 2100 parameters); any
# beyond these may still be listed, which only costs a second look.
EXCLUDED_MAX = 1000
REQUEST_MAX_BYTES = 4 * 1024 * 1024  # a form with thousands of chosen patients fits
# Endpoints that take an upload, and the most a request to them may hold: a license file
# (at most 16 kB) with its form around it.
UPLOAD_MAX_BYTES = {
    "wizard.license_submit": 32 * 1024,
    "licensing.install_submit": 32 * 1024,
    # A CA certificate file (at most 64 kB) with the Active Directory settings around it.
    "users.ad_submit": 96 * 1024,
    "users.ad_test_submit": 96 * 1024,
}
# Control characters no typed text holds: NUL (PostgreSQL cannot store it, so a value must not
# be kept on SQLite alone) and the others nobody types; tab and the line breaks are text.
CONTROL_CHARACTERS = frozenset(chr(c) for c in (*range(32), 127)) - {"\t", "\n", "\r"}
SEARCH_TOO_LONG = _l(
    "The search is too long: type at most %(SEARCH_MAX)s characters.", SEARCH_MAX=SEARCH_MAX
)


def row_id(text: str) -> int | None:
    """Return the row id a page's address carries (ASCII digits, below 2**63), or None."""
    if text.isascii() and text.isdigit() and len(text) <= CURSOR_MAX_DIGITS:
        return int(text)
    return None


def check_search(text: str) -> str:
    """Return search text, or say that it is too long to be a name or a number."""
    if len(text) > SEARCH_MAX:
        raise UserError(SEARCH_TOO_LONG)
    return text


def check_length(text: str, maximum: int, what: str) -> str:
    """Return the text, or say that it is longer than the cap."""
    if len(text) > maximum:
        raise UserError(
            _(
                "The %(what)s is too long: type at most %(maximum)s characters.",
                what=what,
                maximum=maximum,
            )
        )
    return text


def check_plain(text: str, what: str) -> str:
    """Return the text, or say that it holds a control character no field can hold."""
    if not CONTROL_CHARACTERS.isdisjoint(text):
        raise UserError(
            _(
                "The %(what)s holds a control character (such as NUL), which no field can "
                "hold; type it again.",
                what=what,
            )
        )
    return text


def first_too_long(values: Iterable[tuple[str, str]], maximum: int = TEXT_MAX) -> str | None:
    """Return the name of the first value longer than the cap, or None."""
    return next((name for name, value in values if len(value) > maximum), None)


def field_max(field: Any) -> int:
    """Return the most characters a form field accepts (its Length validator, else TEXT_MAX)."""
    caps = [getattr(v, "max", -1) for v in getattr(field, "validators", ())]
    given = [cap for cap in caps if isinstance(cap, int) and cap >= 0]
    return min(given) if given else TEXT_MAX
