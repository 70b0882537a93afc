"""What each database tool says once its job has ended, in the window's language.

General settings shows these in the tool's grey area; the wizard's inline step 2 says the
update's sentence too. The CLI prints its own, terser lines (``ibdesk db ...``).
"""

from __future__ import annotations

from typing import Any

from ibdesk import display
from ibdesk.backup.run import BackupSummary
from ibdesk.i18n import gettext as _
from ibdesk.settings.attach import AttachedDump
from ibdesk.settings.backup import BackupResult
from ibdesk.settings.dbadmin import UpdateOutcome
from ibdesk.wizard import Answer


def attached(result: AttachedDump) -> Answer:
    """A dump attached into a new PostgreSQL database, now this program's."""
    return Answer(
        "success",
        _(
            "Attached %(target)s from the dump; it is now this program's database.",
            target=display.database(result.url),
        ),
        (result.status.message,),
    )


def backed_up(summary: BackupSummary) -> Answer:
    """A backup of the database and the image folder, as one snapshot."""
    lines = (
        _(
            "%(files)s files, %(size)s, in %(seconds)s s; the Backup tab lists it.",
            files=display.number(summary.files),
            size=display.byte_size(summary.bytes),
            seconds=display.number(summary.seconds, decimals=1),
        ),
    )
    return Answer("success", str(summary), lines)


def copied(result: BackupResult) -> Answer:
    """A verified copy of the database alone."""
    return Answer(
        "success",
        _(
            "Backup written to %(path)s (%(bytes)s bytes).",
            path=result.path,
            bytes=display.number(result.bytes),
        ),
        (_("Verified: %(how)s.", how=result.verified),),
    )


def updated(outcome: UpdateOutcome) -> Answer:
    """The schema brought to this program's, with the verified backup taken first."""
    done = outcome.upgrade
    if done.changed:
        message = _(
            "Updated the schema from %(value)s to %(to_revision)s.",
            value=done.from_revision or _("empty"),
            to_revision=done.to_revision,
        )
    else:
        message = _(
            "The schema is already current (%(to_revision)s); nothing to do.",
            to_revision=done.to_revision,
        )
    details: tuple[str, ...] = ()
    if outcome.backup is not None:
        details = (
            _(
                "Backup first: %(path)s (%(how)s).",
                path=outcome.backup.path,
                how=outcome.backup.verified,
            ),
        )
    return Answer("success", message, details)


# A tool's name in General settings, and how its job's result is said.
BY_TOOL: dict[str, Any] = {
    "attach": attached,
    "backup": backed_up,
    "copy": copied,
    "update": updated,
}
