"""``ibdesk backup``: the Backup tab's commands (init, run, list, verify, restore, schedule)."""

from __future__ import annotations

from pathlib import Path

import click

from ibdesk import audit, backup
from ibdesk.backup import drill, restore, run, schedule, store
from ibdesk.cli import Runtime, emit, json_option, runtime_command
from ibdesk.cli.progress import drive
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l


@click.group("backup")
def backup_group() -> None:
    """Back up the database and the image folder, verify and restore."""


@runtime_command(backup_group, "init")
@click.option("--repo", "repository", required=True, help=_l("A folder, a disk, sftp: or s3:."))
def init_command(runtime: Runtime, repository: str, as_json: bool) -> None:
    """Create the backup repository (or connect to one) and print the recovery sheet."""
    folder: Path | None = None
    try:
        folder = run.image_folder_of(runtime.ready_engine())
    except UserError:  # no database or image folder yet: the repository can still be made
        folder = None
    result = backup.init(repository, folder)
    emit(
        {
            "repository": result.repository,
            "created": result.created,
            "password_file": str(store.password_path()),
        },
        as_json,
        lambda: recovery_sheet(result),
    )


def recovery_sheet(result: backup.InitResult) -> str:
    """Return the recovery sheet: what a new server needs to read the backups."""
    return "\n".join(
        [
            _("ImageBank backup: recovery sheet (print it and keep it away from the server)."),
            _("Repository: %(repository)s", repository=result.repository),
            _("Password: %(password)s", password=result.password),
            _("Password file: %(path)s", path=str(store.password_path())),
            _("Without this password the backups cannot be read by anyone."),
        ]
    )


@runtime_command(backup_group, "run")
def run_command(runtime: Runtime, as_json: bool) -> None:
    """Make a backup now: the database and the image folder, as one snapshot."""
    # Made for cron: recorded as this machine's operating-system account, marked as such.
    job = run.run_backup(runtime.ready_engine(), actor=audit.unattended())
    summary = drive(job, _("Backup"), quiet=as_json)
    emit(summary.__dict__, as_json, str(summary))


@backup_group.command("list")
@json_option()
def list_command(as_json: bool) -> None:
    """List the finished backups, newest first."""
    items = run.snapshots(store.engine_or_refuse())
    emit(
        [item.__dict__ for item in items],
        as_json,
        lambda: (
            "\n".join(f"{s.time}  {s.backup_id:<22} {s.snapshot}" for s in items)
            or _("No backup has been made yet.")
        ),
    )


@runtime_command(backup_group, "verify")
@click.argument("backup_id", required=False)
@click.option(
    "--read-data",
    default="10%",
    show_default=True,
    help=_l("How much of the repository's data to read back, as a percentage."),
)
def verify_command(runtime: Runtime, backup_id: str | None, read_data: str, as_json: bool) -> None:
    """Check the repository and drill a restore of a backup (the newest by default)."""
    engine = runtime.engine()
    job = drill.verify(wanted=backup_id, server=engine.url, read_data=read_data, log_engine=engine)
    report = drive(job, _("Verify"), quiet=as_json)
    emit(report.__dict__, as_json, str(report))


@backup_group.command("restore")
@click.argument("backup_id")
@click.option("--to-database", "to_database", required=True, metavar="URL")
@click.option("--to-folder", "to_folder", required=True, type=click.Path(path_type=Path))
@click.option(
    "--replace", is_flag=True, help=_l("Back up and replace a database or folder in use.")
)
@json_option()
def restore_command(
    backup_id: str, to_database: str, to_folder: Path, replace: bool, as_json: bool
) -> None:
    """Restore a backup into an empty database and folder."""
    job = restore.restore(backup_id, to_database, to_folder, replace=replace)
    summary = drive(job, _("Restore"), quiet=as_json)
    emit(summary.__dict__, as_json, str(summary))


@backup_group.command("schedule")
@click.option("--nightly", required=True, metavar="HH:MM")
@json_option()
def schedule_command(nightly: str, as_json: bool) -> None:
    """Write the operating system's entry for a nightly backup and a weekly verify."""
    entries = schedule.schedule(nightly)
    emit(
        [e.__dict__ for e in entries],
        as_json,
        lambda: "\n".join(_("Written to %(path)s:", path=e.path) + "\n" + e.text for e in entries),
    )


@backup_group.command("unschedule")
@json_option()
def unschedule_command(as_json: bool) -> None:
    """Remove the schedule entry this program wrote."""
    removed = schedule.unschedule()
    emit(
        [e.path for e in removed],
        as_json,
        lambda: (
            "\n".join(_("Removed %(path)s.", path=e.path) for e in removed)
            or _("No backup was scheduled.")
        ),
    )


def register(main: click.Group) -> None:
    """Add ``ibdesk backup`` to the command line."""
    main.add_command(backup_group)
