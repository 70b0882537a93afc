"""``ibdesk stats``, ``ibdesk images check`` and ``ibdesk images folder``."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import click

from ibdesk import audit, clinic_settings, display, statistics
from ibdesk.audit import local_admin
from ibdesk.cli import Runtime, emit, json_option, pass_runtime, runtime_command
from ibdesk.cli.progress import drive
from ibdesk.db import session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.settings import imagefolder
from ibdesk.statistics import imagecheck


def report_text(report: statistics.StatsReport) -> str:
    """Render the statistics as plain text, in the terminal's language."""
    n = display.number
    lines = [
        _(
            "Patients: %(live)s (deleted: %(deleted)s)",
            live=n(report.patients.live),
            deleted=n(report.patients.deleted),
        ),
        _(
            "Image sets: %(sets)s (signed: %(signed)s)",
            sets=n(report.image_sets),
            signed=n(report.signed_sets),
        ),
    ]
    for kind in display.MEDIA_KINDS:
        count = report.media[kind]
        size = display.byte_size(count.live_bytes)
        line = f"{display.media_kind_plural(kind)}: {n(count.live)}  {size}"
        if count.deleted:
            line += "  " + _("(deleted: %(count)s)", count=n(count.deleted))
        lines.append(line)
    lines.append(
        _(
            "Free space on the image folder's disk: %(size)s",
            size=display.byte_size(report.disk.free),
        )
        if report.disk
        else report.disk_message
    )
    lines.append(
        _(
            "Media added per month: %(months)s",
            months=", ".join(f"{m.month} {n(m.count)}" for m in report.months if m.count),
        )
    )
    return "\n".join(lines)


@click.command("stats")
@json_option("statistics")
@click.option(
    "--pdf",
    "pdf_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help=_l("Also write the printout as an A4 PDF to this file (needs Qt WebEngine)."),
)
@pass_runtime
def stats_command(runtime: Runtime, as_json: bool, pdf_path: Path | None) -> None:
    """Count patients, image sets and media by kind (from the kept counters: instant)."""
    if pdf_path is not None:
        _write_pdf(runtime, pdf_path, as_json)
        return
    with runtime.session() as session:
        gathered = statistics.gather(session)
        # Run by cron as often as by hand: recorded as this machine's operating-system account.
        audit.system_event(session, audit.unattended(), "statistics.read", "ibdesk stats")
    if gathered.report is None:
        raise UserError(gathered.problem or _("The statistics could not be read."))
    report = gathered.report
    data = asdict(report)
    emit(data, as_json, lambda: report_text(report))


def _write_pdf(runtime: Runtime, path: Path, as_json: bool) -> None:
    """Print the Statistics tab's printout to a PDF file, as its [Save as PDF] does."""
    from ibdesk import pdf
    from ibdesk.settings.connection import describe_database
    from ibdesk.statistics import printout

    with runtime.session() as session:
        gathered = statistics.gather(session)
    html = printout.pdf_html(gathered, describe_database(runtime.choice))
    pdf.write_pdf(html, path)
    report = gathered.report
    assert report is not None  # pdf_html refuses an incomplete report
    emit(
        {"pdf": str(path), "statistics": asdict(report)},
        as_json,
        lambda: report_text(report) + "\n" + _("Wrote %(path)s.", path=path),
    )


@click.group("images")
def images_group() -> None:
    """The shared image folder."""


@runtime_command(images_group, "check")
@click.option("--no-hash", is_flag=True, help=_l("Compare sizes only (faster; skips SHA-256)."))
@click.option(
    "--save",
    type=click.Path(dir_okay=False, path_type=Path),
    help=_l("Write the list of differences to this file."),
)
def check(runtime: Runtime, no_hash: bool, save: Path | None, as_json: bool) -> None:
    """Compare database and image folder; exit non-zero when they disagree."""
    engine = runtime.ready_engine()
    report = drive(
        imagecheck.check(engine, hashes=not no_hash), _("Checking image folder"), quiet=as_json
    )
    with session_scope(engine) as session:
        summary = f"{report.checked_rows} rows, {report.checked_files} files, ok {report.ok}"
        audit.system_event(session, audit.unattended(), "images.check", summary)
    if save is not None:
        save.write_text("\n".join(report.lines()) + "\n", encoding="utf-8")
    emit(
        {**asdict(report), "ok": report.ok},
        as_json,
        _(
            "Checked %(rows)s media rows and %(files)s files: database and image folder agree.",
            rows=report.checked_rows,
            files=report.checked_files,
        )
        if report.ok
        else _(
            "Checked %(rows)s media rows and %(files)s files: %(missing)s missing, "
            "%(unknown)s unknown, %(size)s size and %(hash)s SHA-256 differences, "
            "%(unreadable)s unreadable.",
            rows=report.checked_rows,
            files=report.checked_files,
            missing=len(report.missing),
            unknown=len(report.unknown),
            size=len(report.size_differs),
            hash=len(report.hash_differs),
            unreadable=len(report.unreadable),
        ),
    )
    if not report.ok:
        sys.exit(1)


@runtime_command(images_group, "folder")
@click.argument("path", required=False)
def folder(runtime: Runtime, path: str | None, as_json: bool) -> None:
    """Show the shared image folder, or check and store PATH as it (as General settings do)."""
    if path is None:
        with runtime.session(read_only=True) as session:
            current = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
        emit(
            {"image_folder": current},
            as_json,
            _("The image folder is %(path)s.", path=current)
            if current
            else _("The image folder is not set."),
        )
        return
    with runtime.session() as session:
        result = imagefolder.set_image_folder(session, path, by=local_admin().user)
    emit(
        {"image_folder": result.path, "saved": True, **asdict(result)},
        as_json,
        _("Saved: every workstation uses the image folder %(path)s.", path=result.path)
        + (f" {result.note}" if result.note else ""),
    )


def register(main: click.Group) -> None:
    """Add the stats and images commands to the ibdesk command."""
    main.add_command(stats_command)
    main.add_command(images_group)
