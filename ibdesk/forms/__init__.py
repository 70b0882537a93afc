"""WTForms classes, one module per tab (``ibdesk/forms/<tab>.py``), and what they share."""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import LazyString
from flask_wtf import FlaskForm
from wtforms import Field, Form, StringField, ValidationError
from wtforms.validators import Length

from ibdesk import folders, limits
from ibdesk.errors import UserError
from ibdesk.i18n import lazy_gettext as _l


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


class DomainCheck:
    """A field's validator from a domain rule: the UserError its check raises is the field's error.

    The command line calls the same check, so the page and the terminal refuse in one wording.
    """

    def __init__(self, check: Callable[[str], object], *, strip: bool = False) -> None:
        """Check the typed text (stripped first, with strip) with check."""
        self.check = check
        self.strip = strip

    def __call__(self, form: Form, field: Field) -> None:
        """Run the check on the field's text."""
        value = field.data or ""
        try:
            self.check(value.strip() if self.strip else value)
        except UserError as error:
            raise ValidationError(str(error)) from error


class FullPath:
    """A folder or file typed in the window must be a full path (an empty field passes)."""

    message = _l("Give the full path, for example D:\\ImageBank\\Backup or /srv/imagebank-backup.")

    def __call__(self, form: Form, field: Field) -> None:
        """Refuse a relative path: the server's working folder means nothing to the user."""
        value = (field.data or "").strip().strip('"')
        if value and not folders.is_full_path(value):
            raise ValidationError(str(self.message))
