"""``ibdesk export``: hand patients over as XML and JPEG 2000; ``ibdesk export verify``."""

from __future__ import annotations

from pathlib import Path

import click

from ibdesk import audit
from ibdesk.audit import Actor
from ibdesk.cli import Runtime, emit
from ibdesk.errors import UserError
from ibdesk.progress import drive_in_terminal


class ExportFailed(UserError):
    """The export ran, but not everything selected was exported (already reported)."""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _actor() -> Actor:
    return audit.local_admin()


@click.group(
    "export",
    invoke_without_command=True,
    short_help="Export patients to XML and JPEG 2000 (or check an export).",
)
@click.option("--all", "everyone", is_flag=True, help="Export every patient (not deleted).")
@click.option(
    "--patient",
    "numbers",
    multiple=True,
    metavar="PN",
    help="Export the patient with this personnummer (repeat for more).",
)
@click.option(
    "--to",
    "folder",
    type=click.Path(path_type=Path),
    help="Existing folder to export to (outside the image folder).",
)
@click.option(
    "--jobs",
    type=click.IntRange(0, 256),
    default=None,
    help="Worker processes encoding images [default: one per core; 0: in this process].",
)
@click.option(
    "--lossy-photos",
    is_flag=True,
    help="Store photos visually lossless (smaller) instead of lossless; X-rays stay lossless.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
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
            raise click.UsageError(f"Give options after '{ctx.invoked_subcommand}', not before.")
        return
    if everyone == bool(numbers):
        raise click.UsageError("Give either --all or one or more --patient PN.")
    if folder is None:
        raise click.UsageError("Give the folder to export to with --to DIR.")
    from ibdesk.export import ExportOptions, Selection, default_jobs, export_patients

    runtime = ctx.find_object(Runtime)
    assert runtime is not None
    engine = runtime.ready_engine()
    selection = Selection.all_patients() if everyone else Selection.of_numbers(numbers)
    options = ExportOptions(
        to=folder,
        jobs=default_jobs() if jobs is None else jobs,
        lossy_photos=lossy_photos,
    )
    job = export_patients(engine, selection, options, _actor())
    summary = drive_in_terminal(job, "Exporting", quiet=as_json)

    def text() -> str:
        lines = [
            f"Exported {summary.patients} patients to {summary.folder}: "
            f"{summary.files_encoded} files encoded, {summary.files_copied} copied, "
            f"{summary.files_skipped} already there, {summary.bytes_written / 1e6:.1f} MB "
            f"written in {summary.seconds:.1f} s."
        ]
        if summary.failures:
            lines.append(f"{_count(summary.failures, 'problem')}:")
            lines += [
                f"  {item.personnummer or '-'} "
                f"{'media ' + str(item.media_id) if item.media_id else 'patient'}: {item.problem}"
                for item in summary.failed
            ]
            if summary.failures > len(summary.failed):
                lines.append(f"  ... and {summary.failures - len(summary.failed)} more.")
        return "\n".join(lines)

    emit(summary.as_dict(), as_json, text)
    if not summary.ok:
        raise ExportFailed(
            f"{_count(summary.failures, 'item')} could not be exported; fix them and run the same "
            "export again to complete it."
            if summary.failures
            else "The export was interrupted; run it again to complete it."
        )


@export_group.command("verify")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_command(folder: Path, as_json: bool) -> None:
    """Check an export folder: every file in the manifest present and intact, nothing else."""
    from ibdesk.export import verify_export

    report = drive_in_terminal(verify_export(folder), "Checking", quiet=as_json)

    def text() -> str:
        head = f"{report.folder}: {report.files} files of {report.patients} patients checked, " + (
            "all intact." if report.ok else f"{_count(report.problem_count, 'problem')}:"
        )
        return "\n".join([head, *(f"  {p}" for p in report.problems)])

    emit(report.as_dict(), as_json, text)
    if not report.ok:
        raise UserError(f"{report.folder} does not match its manifest.")


def register(main: click.Group) -> None:
    """Add the export command to the ibdesk command."""
    main.add_command(export_group)


__all__ = ["ExportFailed", "export_group", "register"]
