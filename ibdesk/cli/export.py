"""``ibdesk export``: hand patients over as XML and JPEG 2000; ``ibdesk export verify``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ibdesk.cli import Runtime, emit, json_option
from ibdesk.cli.progress import drive
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.i18n import ngettext

if TYPE_CHECKING:  # the export package loads its codecs: only when an export runs
    from ibdesk.export.plan import ExportSummary


class ExportFailed(UserError):
    """The export ran, but not everything selected was exported (already reported)."""


def _what(media_id: int | None) -> str:
    """Name what could not be exported: one media item, or the patient's own record."""
    return _("media %(id)s", id=media_id) if media_id else _("patient")


def _summary_text(summary: ExportSummary) -> str:
    """Say what an export did, and list its problems (the first ones, and how many more)."""
    megabytes = format(summary.bytes_written / 1e6, ".1f")
    lines = [
        _(
            "Exported %(patients)s patients to %(folder)s: %(files_encoded)s "
            "files encoded, %(files_copied)s copied, %(files_skipped)s already "
            "there, %(value)s MB written in %(seconds)s s.",
            **vars(summary) | {"value": megabytes, "seconds": format(summary.seconds, ".1f")},
        )
    ]
    if summary.failures:
        lines.append(ngettext("%(num)s problem:", "%(num)s problems:", summary.failures))
        lines += [
            f"  {item.personnummer or '-'} {_what(item.media_id)}: {item.problem}"
            for item in summary.failed
        ]
        if summary.failures > len(summary.failed):
            lines.append(
                "  " + _("... and %(count)s more.", count=summary.failures - len(summary.failed))
            )
    return "\n".join(lines)


@click.group(
    "export",
    invoke_without_command=True,
    short_help=_l("Export patients to XML and JPEG 2000 (or check an export)."),
)
@click.option("--all", "everyone", is_flag=True, help=_l("Export every patient (not deleted)."))
@click.option(
    "--patient",
    "numbers",
    multiple=True,
    metavar="PN",
    help=_l("Export the patient with this personnummer (repeat for more)."),
)
@click.option(
    "--to",
    "folder",
    type=click.Path(path_type=Path),
    help=_l("Existing folder to export to (outside the image folder)."),
)
@click.option(
    "--jobs",
    type=click.IntRange(0, 256),
    default=None,
    help=_l("Worker processes encoding images [default: one per core; 0: in this process]."),
)
@click.option(
    "--lossy-photos",
    is_flag=True,
    help=_l("Store photos visually lossless (smaller) instead of lossless; X-rays stay lossless."),
)
@json_option("summary")
@click.pass_context
def export_group(
    ctx: click.Context,
    everyone: bool,
    numbers: tuple[str, ...],
    folder: Path | None,
    jobs: int | None,
    lossy_photos: bool,
    as_json: bool,
) -> None:
    """Export patients: one folder each with patient.xml, X-rays and photos as JPEG 2000,
    other media unchanged, and a manifest of every file with its SHA-256.

    Run it again into the same folder to continue an interrupted export: files already
    there and matching the manifest are skipped.

    \b
      ibdesk export --patient 19121212-1212 --to /media/usb/export
      ibdesk export --all --to /srv/export --jobs 4
      ibdesk export verify /srv/export
    """
    if ctx.invoked_subcommand is not None:
        if everyone or numbers or folder or jobs is not None or lossy_photos or as_json:
            raise click.UsageError(
                _(
                    "Give options after '%(invoked_subcommand)s', not before.",
                    invoked_subcommand=ctx.invoked_subcommand,
                )
            )
        return
    if everyone == bool(numbers):
        raise click.UsageError(_("Give either --all or one or more --patient PN."))
    if folder is None:
        raise click.UsageError(_("Give the folder to export to with --to DIR."))
    from ibdesk.export import ExportOptions, Selection, default_jobs, export_patients

    runtime = ctx.find_object(Runtime)
    assert runtime is not None
    engine = runtime.ready_engine()
    actor = runtime.signed_in()
    selection = Selection.all_patients() if everyone else Selection.of_numbers(numbers)
    options = ExportOptions(
        to=folder,
        jobs=default_jobs() if jobs is None else jobs,
        lossy_photos=lossy_photos,
    )
    job = export_patients(engine, selection, options, actor)
    summary = drive(job, _("Exporting"), quiet=as_json)

    emit(summary.as_dict(), as_json, lambda: _summary_text(summary))
    if not summary.ok:
        raise ExportFailed(
            ngettext(
                "%(num)s item could not be exported; fix it and run the same export again to "
                "complete it.",
                "%(num)s items could not be exported; fix them and run the same export again "
                "to complete it.",
                summary.failures,
            )
            if summary.failures
            else _("The export was interrupted; run it again to complete it.")
        )


@export_group.command("verify")
@click.argument("folder", type=click.Path(path_type=Path))
@json_option("report")
def verify_command(folder: Path, as_json: bool) -> None:
    """Check an export folder: every file in the manifest present and intact, nothing else."""
    from ibdesk.export import verify_export

    report = drive(verify_export(folder), _("Checking"), quiet=as_json)

    def text() -> str:
        counts = {"folder": report.folder, "files": report.files, "patients": report.patients}
        head = (
            _(
                "%(folder)s: %(files)s files of %(patients)s patients checked, all intact.",
                **counts,
            )
            if report.ok
            else ngettext(
                "%(folder)s: %(files)s files of %(patients)s patients checked, %(num)s problem:",
                "%(folder)s: %(files)s files of %(patients)s patients checked, %(num)s problems:",
                report.problem_count,
                **counts,
            )
        )
        return "\n".join([head, *(f"  {p}" for p in report.problems)])

    emit(report.as_dict(), as_json, text)
    if not report.ok:
        raise UserError(_("%(folder)s does not match its manifest.", folder=report.folder))


def register(main: click.Group) -> None:
    """Add the export command to the ibdesk command."""
    main.add_command(export_group)


__all__ = ["ExportFailed", "export_group", "register"]
