"""The shared image folder: where every workstation keeps the clinic's image files."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from ibdesk import clinic_settings, folders
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _


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
        raise UserError(_("Type the path of the shared image folder."))
    if is_unc(path) and os.name != "nt":
        # Workstations on Windows use the UNC path; this machine cannot open it itself.
        return FolderCheck(
            path,
            False,
            False,
            None,
            _(
                "A Windows network path: it is stored for the workstations, but "
                "this machine cannot check it."
            ),
        )
    folder = folders.expand(path)
    if not folder.is_absolute():
        raise UserError(
            _("Give the image folder as a full path (for example D:\\ImageBank or /srv/imagebank).")
        )
    folders.refuse_dangerous(folder, _("image folder"))
    if not folders.is_folder(folder):
        raise UserError(
            _(
                "The folder %(folder)s does not exist or cannot be reached; create "
                "it or connect the share first.",
                folder=folder,
            )
        )
    writable = _can_write(folder)
    free = shutil.disk_usage(folder).free
    note = "" if writable else _("This program cannot write to the folder.")
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
        raise UserError(
            _(
                "This program cannot write to %(path)s; give it write access first.",
                path=result.path,
            )
        )
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, result.path, by=by)
    return result
