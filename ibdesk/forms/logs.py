"""The Logs tab's filter forms (sent with GET: filtering changes nothing)."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, StringField
from wtforms.validators import Optional, ValidationError

from ibdesk import personnummer
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l

_DATE = _l("Write the date as YYYY-MM-DD, for example 2026-03-04.")


def _valid_personnummer(_form: Any, field: StringField) -> None:
    if field.data and field.data.strip():
        try:
            personnummer.normalize(field.data)
        except UserError as error:
            raise ValidationError(str(error)) from None


class AuditFilterForm(FlaskForm):
    """What the patient log shows; empty fields do not filter."""

    class Meta:
        csrf = False

    personnummer = StringField(
        _l("Patient"),
        validators=[_valid_personnummer],
        description=_l("The patient's personnummer, in any form."),
    )
    user = StringField(_l("User"), description=_l("The user name exactly, as in anna.tandlakare."))
    action = StringField(_l("Event"), description=_l("For example patient.view or image_set.sign."))
    since = DateField(_l("From"), validators=[Optional()], invalid_value_message=_DATE)
    until = DateField(_l("To"), validators=[Optional()], invalid_value_message=_DATE)

    def validate_until(self, field: DateField) -> None:
        """Refuse a period that ends before it starts."""
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_("The end date is before the start date."))


class LoginFilterForm(FlaskForm):
    """What the login log shows."""

    class Meta:
        csrf = False

    user = StringField(_l("User"), description=_l("The user name exactly."))
    failures = BooleanField(_l("Only failed log-ins"))
