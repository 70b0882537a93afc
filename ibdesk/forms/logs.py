"""The Logs tab's filter forms (sent with GET: filtering changes nothing)."""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField, DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional, ValidationError
from wtforms.widgets import TextInput

from ibdesk import auditwords, patients
from ibdesk.errors import UserError
from ibdesk.forms import QueryForm
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l

_DATE = _l("Write the date as YYYY-MM-DD, for example 2026-03-04.")
_ISO_INPUT = {
    "placeholder": _l("YYYY-MM-DD"),
    "inputmode": "numeric",
    "maxlength": "10",
    "autocomplete": "off",
}


def _valid_personnummer(_form: Any, field: StringField) -> None:
    # The patient search's own reading, so the Logs tab refuses exactly what it refuses.
    if field.data and field.data.strip():
        try:
            patients.terms(field.data)
        except UserError as error:
            raise ValidationError(str(error)) from None


def _iso_date(label: object) -> DateField:
    # Typed as text, not <input type="date">: the browser would show its own locale's order
    # (mm/dd/yyyy), while the clinic writes and reads ISO dates everywhere.
    return DateField(
        label,
        validators=[Optional()],
        invalid_value_message=_DATE,
        widget=TextInput(),
        render_kw=_ISO_INPUT,
    )


def _check_period(form: Any, field: DateField) -> None:
    """Refuse a period that ends before it starts."""
    if field.data and form.since.data and field.data < form.since.data:
        raise ValidationError(_("The end date is before the start date."))


class AuditFilterForm(QueryForm):
    """What the patient log shows; empty fields do not filter."""

    personnummer = StringField(
        _l("Patient"),
        validators=[_valid_personnummer],
        description=_l("The patient's personnummer in any form, its beginning, or a last name."),
    )
    user = StringField(_l("User"), description=_l("The user name exactly, as in anna.tandlakare."))
    action = StringField(_l("Event"), description=_l("For example patient.view or image_set.sign."))
    since = _iso_date(_l("From"))
    until = _iso_date(_l("To"))

    validate_until = _check_period


class LoginFilterForm(QueryForm):
    """What the login log shows."""

    user = StringField(_l("User"), description=_l("The user name exactly."))
    failures = BooleanField(_l("Only failed log-ins"))


LEVELS = [
    SelectChoice("", _l("Any level")),
    *(SelectChoice(key, label) for key, label in auditwords.LEVEL_NAMES.items()),
]


class SystemFilterForm(QueryForm):
    """What the system log shows; empty fields do not filter."""

    level = SelectField(_l("Level"), choices=LEVELS, default="", validate_choice=True)
    action = StringField(_l("Event"), description=_l("For example database.upgrade or backup.run."))
    since = _iso_date(_l("From"))
    until = _iso_date(_l("To"))

    validate_until = _check_period
