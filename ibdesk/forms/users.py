"""The Users & user groups tab's forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import Right
from ibdesk.users.groups import RIGHT_LABELS


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def right_choices() -> list[tuple[str, str]]:
    """Return the rights as (value, label) pairs, in the catalogue's order."""
    return [(r.value, str(RIGHT_LABELS[r])) for r in Right]


class UserForm(FlaskForm):
    """A new local account."""

    username = StringField(
        _l("User name"),
        validators=[DataRequired(_l("Type a user name.")), Length(max=64)],
        description=_l("2 to 64 letters, digits or . - _ @, no spaces."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    display_name = StringField(_l("Full name (optional)"), validators=[Length(max=200)])
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Type a password."))],
        description=_l("12 to 128 characters; a short phrase of a few words is good."),
        render_kw={"autocomplete": "new-password"},
    )
    groups = CheckboxesField(_l("User groups"), choices=[], validate_choice=True)


class EditUserForm(FlaskForm):
    """An account's full name and groups."""

    display_name = StringField(_l("Full name"), validators=[Length(max=200)])
    groups = CheckboxesField(_l("User groups"), choices=[], validate_choice=True)


class PasswordForm(FlaskForm):
    """A new password for an account."""

    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Type a password."))],
        description=_l("12 to 128 characters; a short phrase of a few words is good."),
        render_kw={"autocomplete": "new-password"},
    )


class GroupForm(FlaskForm):
    """A new user group."""

    name = StringField(
        _l("Group name"), validators=[DataRequired(_l("Type a group name.")), Length(max=100)]
    )
    description = StringField(_l("Description (optional)"), validators=[Length(max=400)])
    rights = CheckboxesField(_l("Rights"), choices=right_choices, validate_choice=True)


class RightsForm(FlaskForm):
    """A group's rights."""

    rights = CheckboxesField(_l("Rights"), choices=right_choices, validate_choice=True)
