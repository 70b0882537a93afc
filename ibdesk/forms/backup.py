"""The Backup tab's forms: where the repository is, and the nightly time."""

from __future__ import annotations

from typing import Any

from flask_babel import LazyString
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from ibdesk.forms import FullPath
from ibdesk.i18n import lazy_gettext as _l


def _place_field(
    label: LazyString, missing: LazyString, description: LazyString, *checks: Any
) -> StringField:
    """Return the box for where something is (a repository, a database URL, a folder)."""
    return StringField(
        label,
        validators=[
            DataRequired(missing),
            Length(max=1000, message=_l("Type at most 1000 characters.")),
            *checks,
        ],
        description=description,
        render_kw={"spellcheck": "false"},
    )


class InitForm(FlaskForm):
    """Create the backup repository."""

    repository = _place_field(
        _l("Where the backups go"),
        _l("Type where the backups go: a folder, a disk, sftp: or s3:."),
        _l(
            "A folder on another disk (such as /mnt/backup/imagebank or E:\\ImageBank), an "
            "SFTP server (sftp:user@host:/backups) or S3-compatible storage. Never inside "
            "the image folder."
        ),
    )


class ActionForm(FlaskForm):
    """A button that starts a job (only the CSRF token)."""


class ScheduleForm(FlaskForm):
    """The time of the nightly backup (a weekly verify follows an hour later on Sundays)."""

    nightly = StringField(
        _l("Nightly backup at"),
        default="02:30",
        validators=[
            DataRequired(_l("Give the time as HH:MM, for example 02:30.")),
            Regexp(
                r"^([01]?\d|2[0-3]):[0-5]\d$",
                message=_l("Give the time as HH:MM, for example 02:30."),
            ),
        ],
        description=_l("A verify with a restore drill runs every Sunday an hour later."),
    )


class RestoreForm(FlaskForm):
    """Restore a backup into an empty database and an empty folder."""

    backup_id = StringField(
        _l("Backup"),
        validators=[
            DataRequired(_l("Type the backup to restore (its id from the list).")),
            Length(max=100, message=_l("Type at most 100 characters.")),
        ],
    )
    database = _place_field(
        _l("Into the database"),
        _l("Type the database URL to restore into."),
        _l(
            "An empty database, such as sqlite:///D:/ImageBank/imagebank.sqlite3 or "
            "postgresql+psycopg://user@server/imagebank."
        ),
    )
    folder = _place_field(
        _l("Images into the folder"),
        _l("Type the folder to restore the images into."),
        _l("An empty or new folder; the restore never writes over files."),
        FullPath(),
    )
    replace = BooleanField(
        _l("Replace the database and the folder in use"),
        description=_l(
            "Only when the clinic must go back to this backup: what the database and the "
            "folder hold now is backed up first, then replaced."
        ),
    )
    # Set by the confirmation step: the first [Restore] only asks.
    confirmed = HiddenField()
