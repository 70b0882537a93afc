"""Settings common to every workstation, stored in the database."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk.errors import UserError
from ibdesk.models import Setting, utcnow

IMAGE_FOLDER = "image_folder"
CLINIC_NAME = "clinic_name"


def get(session: Session, key: str, default: str | None = None) -> str | None:
    """Return a setting's value, or the default when it was never set."""
    row = session.get(Setting, key)
    return row.value if row is not None else default


def put(session: Session, key: str, value: str, *, by: str = "") -> None:
    """Set a setting's value (committed with the caller's transaction)."""
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value, updated_at=utcnow(), updated_by=by))
    else:
        row.value, row.updated_at, row.updated_by = value, utcnow(), by


def all_settings(session: Session) -> dict[str, str]:
    """Return every stored setting."""
    return {row.key: row.value for row in session.scalars(select(Setting))}


@dataclass(frozen=True)
class FolderCheck:
    """What the General settings tab says about an image-folder path."""

    path: str
    exists: bool
    writable: bool
    free_bytes: int | None
    note: str = ""


def is_unc(path: str) -> bool:
    """Return whether a path is a Windows UNC path (\\\\server\\share\\...)."""
    return path.startswith(("\\\\", "//")) and len(path.strip("\\/").split("\\")) >= 2


def check_image_folder(path: str) -> FolderCheck:
    """Validate an image-folder path: it exists, this program can write, free space."""
    path = path.strip()
    if not path:
        raise UserError("Type the path of the shared image folder.")
    if is_unc(path) and os.name != "nt":
        # Workstations on Windows use the UNC path; this machine cannot open it itself.
        return FolderCheck(
            path,
            False,
            False,
            None,
            "A Windows network path: it is stored for the workstations, but "
            "this machine cannot check it.",
        )
    folder = Path(path).expanduser()
    if not folder.is_absolute():
        raise UserError(
            "Give the image folder as a full path (for example D:\\ImageBank or /srv/imagebank)."
        )
    if not folder.is_dir():
        raise UserError(
            f"The folder {folder} does not exist or cannot be reached; create it "
            "or connect the share first."
        )
    writable = _can_write(folder)
    free = shutil.disk_usage(folder).free
    note = "" if writable else "This program cannot write to the folder."
    return FolderCheck(str(folder), True, writable, free, note)


def _can_write(folder: Path) -> bool:
    # os.access says yes to root on read-only mounts; a real file tells the truth.
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ibdesk-write-test-"):
            return True
    except OSError:
        return False


def set_image_folder(session: Session, path: str, *, by: str) -> FolderCheck:
    """Check and store the image folder every workstation uses."""
    result = check_image_folder(path)
    if result.exists and not result.writable:
        raise UserError(f"This program cannot write to {result.path}; give it write access first.")
    put(session, IMAGE_FOLDER, result.path, by=by)
    return result
