"""The wizard's [Try with demo data]: a demo clinic in a new SQLite file, ready to explore.

Its database is ``imagebank-demo.sqlite3`` (or -2, -3... when taken) in the folder given, its
media files go to the ``images`` folder beside it, and it gets a DEMO license valid for it
only. A cancelled or failed run leaves no half-made database behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from ibdesk import clinic_settings, licensing
from ibdesk.audit import Actor
from ibdesk.db import make_engine, session_scope
from ibdesk.demo import DemoOptions, generate
from ibdesk.i18n import gettext as _
from ibdesk.progress import Job, LogLine
from ibdesk.settings.connection import ServerSpec, url
from ibdesk.settings.dbadmin import create_database, list_databases, test_server

DEMO_NAME = "imagebank-demo"
DEMO_PATIENTS = 30
DEMO_MEDIA_PER_PATIENT = 6


@dataclass(frozen=True)
class DemoClinic:
    """A demo clinic made by ``demo_clinic``: its database, image folder and DEMO license."""

    url: URL
    image_folder: Path
    licensee: str
    patients: int
    media: int
    files: int


def demo_clinic(
    folder: Path,
    *,
    patients: int = DEMO_PATIENTS,
    media_per_patient: int = DEMO_MEDIA_PER_PATIENT,
) -> Job[DemoClinic]:
    """Check the folder, then return the job making a demo clinic in a new SQLite file there.

    The database is ``imagebank-demo.sqlite3`` (or -2, -3... when taken), its media files go
    to the ``images`` folder beside it, and it gets a DEMO license valid for it only.
    """
    spec = ServerSpec("sqlite", folder=str(folder)).check()
    test_server(spec)
    taken = set(list_databases(spec))
    name = next(
        candidate
        for candidate in (DEMO_NAME, *(f"{DEMO_NAME}-{n}" for n in range(2, 1000)))
        if f"{candidate}.sqlite3" not in taken
    )
    return _demo_clinic(spec, name, patients, media_per_patient)


def _demo_clinic(
    spec: ServerSpec, name: str, patients: int, media_per_patient: int
) -> Job[DemoClinic]:
    actor = Actor("ibdesk demo")
    images = Path(spec.folder) / "images"
    target = url(spec, name)
    yield LogLine(_("Creating the demo database %(database)s.", database=target.database))
    target = create_database(spec, name)
    engine = make_engine(target)
    finished = False
    try:
        images.mkdir(exist_ok=True)
        with session_scope(engine) as session:
            clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(images), by=actor.user)
        yield LogLine(
            _(
                "Writing %(patients)s demo patients with real image files to %(images)s.",
                patients=patients,
                images=images,
            )
        )
        options = DemoOptions(patients, media_per_patient, image_folder=images)
        summary = yield from generate(engine, options)
        with session_scope(engine) as session:
            info = licensing.make_demo_license(session, actor)
        yield LogLine(
            _(
                "%(title)s: %(registered_to)s, %(seats)s seats.",
                title=info.title,
                registered_to=info.registered_to,
                seats=info.seats,
            )
        )
        finished = True
    finally:
        engine.dispose()
        if not finished:  # cancelled or failed: no half-made demo database stays behind
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target.database}{suffix}").unlink(missing_ok=True)
    return DemoClinic(target, images, info.licensee, summary.patients, summary.media, summary.files)
