"""The sign-in form of the window, and the password check before administration."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired

from ibdesk.i18n import lazy_gettext as _l


class SignInForm(FlaskForm):
    """A user name and a password."""

    username = StringField(
        _l("User name"),
        validators=[DataRequired(_l("Type your user name."))],
        render_kw={"autocomplete": "username", "spellcheck": "false", "autofocus": True},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Type your password."))],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class ConfirmForm(FlaskForm):
    """The signed-in person's password, typed again."""

    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Type your password."))],
        description=_l("Changing users and groups needs your password once more."),
        render_kw={"autocomplete": "current-password", "autofocus": True},
    )
    next = HiddenField()
