"""The Patients tab's forms: search, typed confirmations, and the reason for unsigning."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ibdesk.forms import QueryForm, search_field
from ibdesk.i18n import lazy_gettext as _l


class SearchForm(QueryForm):
    """Find patients."""

    q = search_field(
        _l("Personnummer or name"),
        _l(
            "Any form staff write, or its beginning: 19121212-1212, 121212-1212, 1212121212, "
            "19121212 or 1985. Or the beginning of a last name, as in Öberg or öb. "
            "Leave empty to list every patient."
        ),
    )


class ConfirmNumberForm(FlaskForm):
    """Type the patient's personnummer again before deleting or purging (use a prefix)."""

    confirm = StringField(
        _l("Type the patient's personnummer to confirm"),
        validators=[DataRequired(_l("Type the patient's personnummer to confirm."))],
        description=_l("Any form of the number is accepted, for example 121212-1212."),
    )


class UnsignForm(FlaskForm):
    """Give the reason for removing a signature (kept in the patient's log)."""

    reason = TextAreaField(
        _l("Reason for unsigning"),
        validators=[
            DataRequired(_l("Give a reason for unsigning (it is kept in the patient's log).")),
            Length(min=3, max=400, message=_l("Write the reason in 3 to 400 characters.")),
        ],
        description=_l("Why the set must be changed; it is kept in the patient's log."),
    )
