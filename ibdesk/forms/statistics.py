"""The Statistics tab's forms: the image-folder check."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField

from ibdesk.i18n import lazy_gettext as _l


class CheckForm(FlaskForm):
    """Start comparing the image folder with the database."""

    hashes = BooleanField(
        _l("Compare SHA-256 checksums too"),
        default=True,
        description=_l("Reads every file, so it takes longer; without it only sizes are compared."),
    )
