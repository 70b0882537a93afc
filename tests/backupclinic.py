"""A demo clinic with real image files and a restic repository, for the backup tests."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, demo
from ibdesk.backup import store
from ibdesk.backup.restic import Restic
from ibdesk.backup.staging import row_counts
from ibdesk.db import session_scope
from ibdesk.models import MediaItem
from ibdesk.progress import run_to_end

PASSWORD = "correct horse battery staple"


def make_clinic(engine: Engine, folder: Path, patients: int = 3, media: int = 4) -> Path:
    """Fill the database with a small demo clinic whose files lie in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    run_to_end(
        demo.generate(
            engine,
            demo.DemoOptions(patients=patients, media_per_patient=media, image_folder=folder),
        )
    )
    with session_scope(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
    return folder


def make_repository(template: Path, target: Path) -> Restic:
    """Copy a ready repository (restic init is slow on purpose) and make it the configured one."""
    shutil.copytree(template, target)
    path = store.password_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    path.chmod(0o600)
    store.save_repository(str(target))
    return Restic(str(target), path)


def image_hashes(folder: Path) -> dict[str, str]:
    """Return the SHA-256 of every file under a folder, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def contents(engine: Engine) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Return the row counts and the media rows (path, SHA-256) of a database."""
    with engine.connect() as conn:
        counts = row_counts(conn)
    with Session(engine) as session:
        media = sorted(
            (str(p), str(h)) for p, h in session.execute(select(MediaItem.path, MediaItem.sha256))
        )
        assert session.scalar(select(func.count()).select_from(MediaItem)) == len(media)
    return counts, media
