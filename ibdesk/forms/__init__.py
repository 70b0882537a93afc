"""WTForms classes, one module per tab (``ibdesk/forms/<tab>.py``), and what they share."""

from __future__ import annotations

from flask_babel import LazyString
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from ibdesk import limits


class QueryForm(FlaskForm):
    """A form sent with GET (a search, a filter): it changes nothing, so it has no CSRF token."""

    class Meta:
        csrf = False


def search_field(label: LazyString, description: LazyString) -> StringField:
    """Return the box a patient search is typed in, as long as a search may be."""
    return StringField(
        label,
        validators=[Length(max=limits.SEARCH_MAX, message=limits.SEARCH_TOO_LONG)],
        description=description,
    )
