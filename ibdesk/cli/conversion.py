"""``ibdesk convert``: the Conversion tab's four steps in the terminal, behind a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ibdesk import clinic_settings, display, folders
from ibdesk import conversion as converting
from ibdesk.cli import FILE, FOLDER, Runtime, emit, json_option, pass_runtime
from ibdesk.cli.progress import drive
from ibdesk.conversion import report as reports
from ibdesk.db import session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.settings import imagefolder


def _text(step: int, result: dict[str, Any]) -> str:
    if step == 1:
        problems = result.get("problems", {})
        lines = [
            _(
                "Rows per table: %(counts)s.",
                counts=", ".join(
                    f"{name} {display.number(n)}" for name, n in result["tables"].items()
                ),
            )
        ]
        lines += [f"  {kind}: {display.number(found['count'])}" for kind, found in problems.items()]
        return "\n".join(lines)
    rec = result.get("reconciliation")
    if rec is None:
        return _("Step %(step)s passed.", step=step)
    return (
        _("Every row and file is accounted for.")
        if rec["accounted"]
        else _("Some rows or files are not accounted for.")
    )


@click.command("convert")
@click.option(
    "--from",
    "source_url",
    required=True,
    metavar="URL",
    help=_l("The ImageBank 1.2 database (an SQLAlchemy URL), opened read-only."),
)
@click.option(
    "--images",
    required=True,
    type=FOLDER,
    help=_l("The ImageBank 1.2 image folder (never modified)."),
)
@click.option("--analyse", is_flag=True, help=_l("Only analyse (step 1, a dry run)."))
@click.option("--step", type=click.IntRange(1, 4), help=_l("Run this step (1 to 4)."))
@click.option("--all", "run_all", is_flag=True, help=_l("Run every step that has not passed."))
@click.option(
    "--target-images",
    type=FOLDER,
    help=_l("Set the 2.1 image folder first (when it is not set yet)."),
)
@click.option(
    "--report",
    "report_path",
    type=FILE,
    help=_l("Also save the report to this file (.json, .csv or .html)."),
)
@click.option("--batch", type=click.IntRange(1, 5000), default=500, hidden=True)
@click.option(
    "--copy",
    "copy_files",
    is_flag=True,
    help=_l("Copy the files even where hard links are possible."),
)
@json_option("report")
@pass_runtime
def convert_command(
    runtime: Runtime,
    source_url: str,
    images: Path,
    analyse: bool,
    step: int | None,
    run_all: bool,
    target_images: Path | None,
    report_path: Path | None,
    batch: int,
    copy_files: bool,
    as_json: bool,
) -> None:
    """Convert an ImageBank 1.2 installation into this 2.1 database (resumable)."""
    chosen = [analyse, step is not None, run_all]
    if sum(chosen) != 1:
        raise UserError(_("Give exactly one of --analyse, --step N and --all."))
    source = converting.open_source(source_url, images)
    options = converting.Options(batch=batch, link=not copy_files)
    try:
        if analyse:
            steps = [1]
        elif step is not None:
            steps = [step]
        else:
            steps = [1, 2, 3, 4]
        engine = runtime.ready_engine() if steps != [1] else _optional_engine(runtime)
        if target_images is not None and engine is not None:
            with session_scope(engine) as session:
                if not clinic_settings.get(session, clinic_settings.IMAGE_FOLDER):
                    # The checks General settings make (no disk root, no system folder).
                    folders.refuse_dangerous(target_images, _("image folder"))
                    target_images.mkdir(parents=True, exist_ok=True)
                    imagefolder.set_image_folder(session, str(target_images), by="ibdesk convert")
        result: dict[str, Any] = {}
        for number in steps:
            if run_all and engine is not None and number > 1:
                with session_scope(engine) as session:
                    if number in converting.passed_steps(session) and number < 4:
                        continue
            job = converting.run_step(engine, source, number, options)
            result = drive(job, str(converting.STEPS[number]), quiet=as_json)
            if number > 1 and not _passed(result):
                break
        if report_path is not None:
            if engine is not None and steps[-1] == 4:
                with session_scope(engine) as session:
                    reports.save(
                        result,
                        report_path,
                        session if report_path.suffix.lower() == ".csv" else None,
                    )
            else:
                reports.save(result, report_path)
        last = steps[-1]
        emit(result, as_json, lambda: _text(last, result))
        if not _passed(result):
            raise click.exceptions.Exit(3)
    finally:
        source.close()


def _passed(result: dict[str, Any]) -> bool:
    rec = result.get("reconciliation")
    return bool(rec["passed"]) if rec is not None else True


def _optional_engine(runtime: Runtime) -> Any:
    try:
        return runtime.ready_engine()
    except UserError:
        return None


def register(main: click.Group) -> None:
    """Add ``ibdesk convert``."""
    main.add_command(convert_command)
