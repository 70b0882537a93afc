"""``ibdesk demo``: fill the configured database with a demo clinic."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from ibdesk import clinic_settings, demo
from ibdesk.cli import FOLDER, Runtime, emit, json_option, pass_runtime
from ibdesk.cli.progress import drive
from ibdesk.db import session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l


@click.command("demo", context_settings={"show_default": True})
@click.option(
    "--patients",
    type=click.IntRange(1, 5_000_000),
    default=50,
    help=_l("How many patients to make."),
)
@click.option(
    "--media-per-patient",
    type=click.IntRange(0, 500),
    default=20,
    help=_l("Media items per patient (in image sets of 1 to 8)."),
)
@click.option(
    "--with-files",
    is_flag=True,
    help=_l("Also write real media files (X-rays, photos, WAV, PDF) to the image folder."),
)
@click.option(
    "--images",
    type=FOLDER,
    help=_l(
        "Image folder for --with-files (default: the image-folder setting; "
        "stored as that setting when it is not set yet)."
    ),
)
@click.option(
    "--seed",
    type=int,
    default=2026,
    help=_l("Random seed: the same seed makes the same clinic."),
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
                    _(
                        "--with-files needs an image folder: give --images DIR or set the "
                        "image-folder setting first."
                    )
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
    summary = drive(demo.generate(engine, options), _("Making demo clinic"), quiet=as_json)
    # The JSON is the summary's fields (seconds rounded), and the sentence says them too.
    made = dataclasses.asdict(summary)
    rate = round(summary.rows / summary.seconds) if summary.seconds else None
    emit(
        made | {"seconds": round(summary.seconds, 3), "rows_per_second": rate},
        as_json,
        _(
            "Made %(patients)s patients, %(image_sets)s image sets, %(media)s "
            "media (%(files)s files), %(audit_events)s audit events and "
            "%(logins)s log-ins in %(seconds)s s.",
            **made | {"seconds": format(summary.seconds, ".1f")},
        ),
    )


def register(main: click.Group) -> None:
    """Add the demo command to the ibdesk command."""
    main.add_command(demo_command)
