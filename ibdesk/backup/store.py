"""Where the backup repository is, its password file, and what the last runs achieved.

All three live in this computer's configuration folder: the repository's location in
``config.json`` (key ``backup``), the password in ``backup-password`` (0600, created once,
printed on the recovery sheet) and the outcome of the last backup, verify and prune in
``backup-state.json``. Only a backup whose snapshot restic finished is ever written as
"good", so an interrupted run never looks like one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ibdesk import config
from ibdesk.backup.restic import Restic
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

PASSWORD_FILE = "backup-password"
STATE_FILE = "backup-state.json"
REMOTE_SCHEMES = ("sftp:", "s3:", "rest:", "b2:", "azure:", "gs:", "swift:", "rclone:")
STALE_AFTER = dt.timedelta(hours=36)


def password_path() -> Path:
    """Return the repository password file's path."""
    return config.config_dir() / PASSWORD_FILE


def is_local(repository: str) -> bool:
    """Return whether the repository is a folder on this computer (or a mounted disk)."""
    return not repository.startswith(REMOTE_SCHEMES)


def make_password() -> str:
    """Create the password file once (0600) and return the password in it."""
    path = password_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    return password


def repository() -> str | None:
    """Return the configured repository, or None before ``init``."""
    value = config.load().get("backup", {}).get("repository")
    return value if isinstance(value, str) and value else None


def save_repository(value: str) -> None:
    """Remember the repository in the local configuration."""
    data = config.load()
    section = data.get("backup")
    data["backup"] = {**(section if isinstance(section, dict) else {}), "repository": value}
    config.save(data)


def engine_or_refuse() -> Restic:
    """Return restic for the configured repository, or say that there is none yet."""
    repo = repository()
    if repo is None:
        raise UserError(
            _("No backup repository is set up yet; create one first (ibdesk backup init).")
        )
    if not password_path().is_file():
        raise UserError(
            _(
                "The backup repository's password file %(path)s is missing; put it back "
                "from the recovery sheet.",
                path=str(password_path()),
            )
        )
    return Restic(repo, password_path())


@dataclass(frozen=True)
class LastRun:
    """The outcome of one finished backup or verify."""

    backup_id: str
    snapshot: str
    at: str  # ISO 8601, UTC
    bytes: int = 0
    files: int = 0
    seconds: float = 0.0
    detail: str = ""

    @property
    def when(self) -> dt.datetime:
        """Return when it ended."""
        return dt.datetime.fromisoformat(self.at)


def _state_path() -> Path:
    return config.config_dir() / STATE_FILE


def load_state() -> dict[str, Any]:
    """Read the state file (an absent or damaged file is an empty state)."""
    try:
        data = json.loads(_state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(data: dict[str, Any]) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    config.write_private(path, json.dumps(data, indent=2))


def record(kind: str, run: LastRun) -> None:
    """Remember a finished run ("backup", "verify" or "prune")."""
    data = load_state()
    data[kind] = asdict(run)
    _save_state(data)


def last(kind: str) -> LastRun | None:
    """Return the last finished run of a kind, or None."""
    value = load_state().get(kind)
    if not isinstance(value, dict):
        return None
    try:
        return LastRun(**value)
    except TypeError:
        return None


@dataclass(frozen=True)
class Health:
    """What the status bar and the Overview say about backups."""

    configured: bool
    last_good: LastRun | None
    stale: bool

    @property
    def warning(self) -> str:
        """Return the warning to show, or an empty string."""
        if not self.configured:
            return _("No backup is set up: a lost server would lose every patient and image.")
        if self.last_good is None:
            return _("No backup has been made yet.")
        if self.stale:
            return _("The last good backup is more than 36 hours old.")
        return ""


def health(now: dt.datetime | None = None) -> Health:
    """Say whether backups are set up and whether the last good one is recent (never fails)."""
    try:
        configured = repository() is not None
    except UserError:
        configured = False
    good = last("backup")
    moment = now or dt.datetime.now(dt.UTC)
    stale = good is None or moment - good.when > STALE_AFTER
    return Health(configured, good, stale)
