"""``ibdesk demo``: fill the configured database with a demo clinic."""

from __future__ import annotations

from pathlib import Path

import click

from ibdesk import clinic_settings, demo
from ibdesk.cli import Runtime, emit, json_option, pass_runtime
from ibdesk.cli.progress import drive
from ibdesk.db import session_scope
from ibdesk.errors import UserError


@click.command("demo")
@click.option(
    "--patients",
    type=click.IntRange(1, 5_000_000),
    default=50,
    show_default=True,
    help="How many patients to make.",
)
@click.option(
    "--media-per-patient",
    type=click.IntRange(0, 500),
    default=20,
    show_default=True,
    help="Media items per patient (in image sets of 1 to 8).",
)
@click.option(
    "--with-files",
    is_flag=True,
    help="Also write real media files (X-rays, photos, WAV, PDF) to the image folder.",
)
@click.option(
    "--images",
    "images",
    type=click.Path(file_okay=False, path_type=Path),
    help="Image folder for --with-files (default: the image-folder setting; "
    "stored as that setting when it is not set yet).",
)
@click.option(
    "--seed",
    type=int,
    default=2026,
    show_default=True,
    help="Random seed: the same seed makes the same clinic.",
)
@json_option("summary")
@pass_runtime
def demo_command(
    runtime: Runtime,
    patients: int,
    media_per_patient: int,
    with_files: bool,
    images: Path | None,
    seed: int,
    as_json: bool,
) -> None:
    """Make a demo clinic: patients, image sets, media, audit history and log-ins."""
    engine = runtime.ready_engine()
    folder: Path | None = None
    if with_files:
        with session_scope(engine) as session:
            stored = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
            if images is None and not stored:
                raise UserError(
                    "--with-files needs an image folder: give --images DIR or set the "
                    "image-folder setting first."
                )
            folder = (images or Path(stored or "")).expanduser().resolve()
            if images is not None:
                folder.mkdir(parents=True, exist_ok=True)
                if not stored:
                    clinic_settings.put(
                        session, clinic_settings.IMAGE_FOLDER, str(folder), by="ibdesk demo"
                    )
    options = demo.DemoOptions(
        patients=patients, media_per_patient=media_per_patient, image_folder=folder, seed=seed
    )
    summary = drive(demo.generate(engine, options), "Making demo clinic", quiet=as_json)
    emit(
        {
            "patients": summary.patients,
            "image_sets": summary.image_sets,
            "media": summary.media,
            "files": summary.files,
            "file_bytes": summary.file_bytes,
            "audit_events": summary.audit_events,
            "logins": summary.logins,
            "seconds": round(summary.seconds, 3),
            "kinds": summary.kinds,
            "rows_per_second": round(summary.rows / summary.seconds) if summary.seconds else None,
        },
        as_json,
        f"Made {summary.patients} patients, {summary.image_sets} image sets, {summary.media} "
        f"media ({summary.files} files), {summary.audit_events} audit events and "
        f"{summary.logins} log-ins in {summary.seconds:.1f} s.",
    )


def register(main: click.Group) -> None:
    """Add the demo command to the ibdesk command."""
    main.add_command(demo_command)
