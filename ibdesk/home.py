"""The Overview, the administrator's home: license, counts, last backup, free space, and the
warnings that need doing, each naming the tab that fixes it.

Everything is read cheaply: counts from the kept counters (``ibdesk.statistics``), the last
backup from the system log's ``db.backup`` and ``backup.run`` events (General settings'
[Backup now] and the Backup tab), free space with the statistics' own timeout so a lost
share cannot hang the page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import display, licensing, statistics
from ibdesk.i18n import gettext as _
from ibdesk.models import SystemEvent, utcnow
from ibdesk.schema import SchemaState

LICENSE_WARN_DAYS = 30
BACKUP_WARN_HOURS = 36
FREE_WARN_FRACTION = 0.10
# General settings' database copy and the Backup tab's snapshot of database and images.
BACKUP_ACTION = "db.backup"
BACKUP_ACTIONS = (BACKUP_ACTION, "backup.run")


@dataclass(frozen=True)
class Attention:
    """Something to do: the sentence, and the tab (id in ``ibdesk.tabs``) that does it."""

    message: str
    tab: str


@dataclass(frozen=True)
class LastBackup:
    """When the last backup was made, where to and how its copy was verified."""

    at: dt.datetime
    detail: str


@dataclass(frozen=True)
class Overview:
    """What the home page shows besides the database itself."""

    license: licensing.LicenseInfo | None
    patients: int
    media: int
    last_backup: LastBackup | None
    disk: statistics.DiskSpace | None
    disk_message: str
    warnings: list[Attention] = field(default_factory=list)


def last_backup(session: Session) -> LastBackup | None:
    """Return the newest backup the system log records, or None."""
    event = session.scalars(
        select(SystemEvent)
        .where(SystemEvent.action.in_(BACKUP_ACTIONS))
        .order_by(SystemEvent.at.desc(), SystemEvent.id.desc())
        .limit(1)
    ).first()
    return LastBackup(event.at, event.detail) if event else None


def overview(
    session: Session,
    *,
    schema_state: SchemaState | None,
    image_folder: str | None,
    now: dt.datetime | None = None,
) -> Overview:
    """Gather the Overview and its warnings (nothing is written)."""
    now = now or utcnow()
    info = licensing.current_license(session, today=now.date())
    counts = statistics.counters(session)
    patients = counts.get("patient", statistics.Count()).live
    media = sum(counts.get(kind, statistics.Count()).live for kind in statistics.MEDIA_SUBJECTS)
    backup = last_backup(session)
    disk, disk_message = statistics.disk_space(image_folder)
    return Overview(
        info,
        patients,
        media,
        backup,
        disk,
        disk_message,
        warnings(info, backup, disk, schema_state, now),
    )


def warnings(
    info: licensing.LicenseInfo | None,
    backup: LastBackup | None,
    disk: statistics.DiskSpace | None,
    schema_state: SchemaState | None,
    now: dt.datetime,
) -> list[Attention]:
    """Return what needs doing, most urgent first."""
    checks = (
        (_schema_warning(schema_state), "settings"),
        (_license_warning(info, now.date()), "licensing"),
        (_backup_warning(backup, now), "settings"),
        (_disk_warning(disk), "statistics"),
    )
    return [Attention(message, tab) for message, tab in checks if message]


def _schema_warning(schema_state: SchemaState | None) -> str | None:
    if schema_state is SchemaState.OLDER:
        return _("The database is older than this program: update it in General settings.")
    return None


def _license_warning(info: licensing.LicenseInfo | None, today: dt.date) -> str | None:
    if info is None:
        return _("No license is installed: install one in Licensing.")
    if info.problem:
        return info.problem
    if info.expires_on is None:
        return None
    left = (info.expires_on - today).days
    if left < 0:
        return _(
            "The license expired on %(date)s: install a new one in Licensing.",
            date=display.date(info.expires_on),
        )
    if left <= LICENSE_WARN_DAYS:
        return _(
            "The license expires on %(date)s, in %(days)s days: renew it in time.",
            date=display.date(info.expires_on),
            days=display.number(left),
        )
    return None


def _backup_warning(backup: LastBackup | None, now: dt.datetime) -> str | None:
    if backup is None:
        return _("No backup made by ImageBank SysAdmin yet: make one with [Backup now].")
    if now - backup.at > dt.timedelta(hours=BACKUP_WARN_HOURS):
        return _(
            "The last backup is from %(when)s, more than %(hours)s hours ago.",
            when=display.date_time(backup.at),
            hours=display.number(BACKUP_WARN_HOURS),
        )
    return None


def _disk_warning(disk: statistics.DiskSpace | None) -> str | None:
    if disk is not None and disk.total and disk.free < disk.total * FREE_WARN_FRACTION:
        return _(
            "Only %(free)s of %(total)s is free on the image folder's disk.",
            free=display.byte_size(disk.free),
            total=display.byte_size(disk.total),
        )
    return None
