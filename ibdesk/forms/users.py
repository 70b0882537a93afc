"""The Users & user groups tab's forms."""

from __future__ import annotations

from flask_babel import LazyString
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
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


def new_password_field(label: LazyString) -> PasswordField:
    """Return the box for an account's new password, with the rule beside it."""
    return PasswordField(
        label,
        validators=[DataRequired(_l("Type a password."))],
        description=_l("12 to 128 characters; a short phrase of a few words is good."),
        render_kw={"autocomplete": "new-password"},
    )


class UserForm(FlaskForm):
    """A new local account."""

    username = StringField(
        _l("User name"),
        validators=[DataRequired(_l("Type a user name.")), Length(max=64)],
        description=_l("2 to 64 letters, digits or . - _ @, no spaces."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    display_name = StringField(_l("Full name (optional)"), validators=[Length(max=200)])
    password = new_password_field(_l("Password"))
    groups = CheckboxesField(_l("User groups"), choices=[], validate_choice=True)


class EditUserForm(FlaskForm):
    """An account's full name and groups."""

    display_name = StringField(_l("Full name"), validators=[Length(max=200)])
    groups = CheckboxesField(_l("User groups"), choices=[], validate_choice=True)


class PasswordForm(FlaskForm):
    """A new password for an account."""

    password = new_password_field(_l("New password"))


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


class ActiveDirectoryForm(FlaskForm):
    """The clinic's Active Directory settings."""

    enabled = BooleanField(_l("Let Active Directory users sign in"))
    servers = StringField(
        _l("Domain controllers"),
        validators=[Length(max=1000)],
        description=_l("Names or addresses on their certificates, separated by commas, in order."),
    )
    security = SelectField(
        _l("Connection"),
        choices=[
            SelectChoice("ldaps", _l("LDAPS (port 636)")),
            SelectChoice("starttls", _l("StartTLS (port 389)")),
        ],
        default="ldaps",
    )
    insecure = BooleanField(
        _l("Insecure: plain LDAP, for testing only"),
        description=_l(
            "Passwords then cross the network unencrypted and the server is not verified. "
            "Never at a clinic."
        ),
    )
    port = IntegerField(
        _l("Port (optional)"),
        validators=[Optional(), NumberRange(1, 65535, _l("A port is a number from 1 to 65535."))],
    )
    ca_file = FileField(
        _l("CA certificate file (PEM)"),
        description=_l(
            "The certificate of the CA that signed the domain controllers' certificates. "
            "Leave empty to keep the one stored."
        ),
    )
    keep_ca = BooleanField(_l("Keep the stored CA certificate"), default=True)
    base_dn = StringField(
        _l("Base DN"),
        validators=[Length(max=400)],
        description=_l("For example DC=clinic,DC=local."),
    )
    upn_suffix = StringField(
        _l("User name suffix (optional)"),
        validators=[Length(max=200)],
        description=_l("Added to a bare user name when signing in; by default from the base DN."),
    )
    bind_user = StringField(
        _l("Lookup account"),
        validators=[Length(max=200)],
        description=_l(
            "An ordinary AD account used to test the settings and list users and groups."
        ),
    )
    bind_password = PasswordField(
        _l("Lookup account's password"),
        validators=[Length(max=256)],
        description=_l("Kept on this computer only. Leave empty to keep the one stored."),
        render_kw={"autocomplete": "new-password"},
    )
    mappings = TextAreaField(
        _l("AD groups and ImageBank groups"),
        validators=[Length(max=20_000)],
        description=_l(
            "One line each: the AD group's DN (or name), an equals sign, the ImageBank group; "
            "members of nested groups count."
        ),
    )
    test_user = StringField(
        _l("AD account to look up in the test (optional)"), validators=[Length(max=100)]
    )
