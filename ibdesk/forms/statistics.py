"""The Statistics tab's forms: the image-folder check."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField


class CheckForm(FlaskForm):
    """Start comparing the image folder with the database."""

    hashes = BooleanField(
        "Compare SHA-256 checksums too",
        default=True,
        description="Reads every file, so it takes longer; without it only sizes are compared.",
    )
