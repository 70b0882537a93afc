"""The Licensing tab's forms: installing a license file, freeing a seat."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from ibdesk.i18n import lazy_gettext as _l


class InstallLicenseForm(FlaskForm):
    """Upload the license file the vendor sent."""

    file = FileField(
        _l("License file"),
        validators=[FileRequired(_l("Choose the license file the vendor sent."))],
        description=(
            _l(
                "The .ibdesk-license file from the vendor. It replaces the current license only "
                "once it has been checked; a file that fails changes nothing."
            )
        ),
    )


class RemoveSeatForm(FlaskForm):
    """Confirm freeing a workstation's seat (the CSRF token is the only field)."""
