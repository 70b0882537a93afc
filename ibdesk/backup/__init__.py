"""Backups of the database and the image folder with restic: make, list, verify, restore.

``init`` creates (or connects to) the repository; ``run.run_backup`` makes one backup (one
point in time: the dump, its manifest and the images in one snapshot); ``drill.verify``
checks the repository and restores the dump into a scratch database; ``restore.restore``
brings a backup back into an empty database and folder; ``schedule`` writes the operating
system's nightly entry. The window's Backup tab and ``ibdesk backup`` call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ibdesk import folders
from ibdesk.backup import store
from ibdesk.backup.restic import MissingRepository, Restic
from ibdesk.backup.run import refuse_inside
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.limits import check_length


@dataclass(frozen=True)
class InitResult:
    """A repository ready for backups, and the password for the recovery sheet."""

    repository: str
    password: str
    created: bool


def init(repository: str, image_folder: Path | None = None) -> InitResult:
    """Create the repository (or connect to an existing one with our password) and remember it."""
    repository = repository.strip()
    if not repository:
        raise UserError(_("Type where the backups go: a folder, a disk, sftp: or s3:."))
    check_length(repository, 1000, _("repository location"))
    if store.is_local(repository):
        path = folders.expand(repository)
        if not path.is_absolute():
            raise UserError(_("Give the backup folder as a full path."))
        repository = str(path.resolve())
    if image_folder is not None:
        refuse_inside(repository, image_folder)
    password = store.make_password()
    restic = Restic(repository, store.password_path())
    created = False
    if store.is_local(repository) and not folders.exists(Path(repository) / "config"):
        Path(repository).parent.mkdir(parents=True, exist_ok=True)
        restic.run(["init"])
        created = True
    elif not store.is_local(repository):
        try:
            restic.run(["cat", "config"])
        except MissingRepository:
            restic.run(["init"])
            created = True
    else:
        restic.run(["cat", "config"])  # an existing repository must open with our password
    store.save_repository(repository)
    return InitResult(repository, password, created)
