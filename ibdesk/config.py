"""Where ibdesk keeps its local configuration and which database it talks to.

The database URL comes from, in order: the ``--db`` option, the ``IBDESK_DB`` environment
variable, the local configuration file, and finally the embedded SQLite default (a file in
the per-user data folder). ``IBDESK_HOME`` moves both the configuration file and the data
folder, which is what tests and scripts use.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

APP_NAME = "ibdesk"
CONFIG_NAME = "config.json"
DEFAULT_SQLITE_NAME = "imagebank.sqlite3"


class ConfigError(UserError):
    """A local configuration problem, worded for the administrator."""


def home_dir() -> Path | None:
    """Return the folder named by IBDESK_HOME, if set."""
    value = os.environ.get("IBDESK_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Return the folder holding the local configuration file."""
    home = home_dir()
    return home if home else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Return the folder for the embedded database and other local data."""
    home = home_dir()
    if home:
        return home / "data"
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_path() -> Path:
    """Return the path of the local configuration file."""
    return config_dir() / CONFIG_NAME


def default_sqlite_url() -> str:
    """Return the URL of the embedded SQLite database in the data folder."""
    return f"sqlite:///{data_dir() / DEFAULT_SQLITE_NAME}"


def load() -> dict[str, Any]:
    """Read the configuration file; an absent file is an empty configuration."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(
            _(
                "Cannot read the configuration file %(path)s: %(strerror)s.",
                path=path,
                strerror=exc.strerror,
            )
        ) from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            _(
                "The configuration file %(path)s is damaged (%(exc)s); fix it or "
                "delete it and run the wizard again.",
                path=path,
                exc=exc,
            )
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            _("The configuration file %(path)s does not hold a settings object.", path=path)
        )
    return data


def write_private(path: Path, text: str) -> None:
    """Write a small file of this folder's kind: readable by the current user only (0600),
    and atomically, so that a reader (or a crash) finds the old text or the new, never half.

    The configuration, the backup state, the audit chain's head, the command line's sign-in
    and the AD lookup password all go through here; the folder must exist.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(data: dict[str, Any]) -> Path:
    """Write the configuration atomically, readable by the current user only (0600)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(data, indent=2, sort_keys=True))
    return path


@dataclass(frozen=True)
class DatabaseChoice:
    """The database URL in force and where it came from."""

    url: str
    source: str  # "option", "environment", "config" or "default"

    @property
    def configured(self) -> bool:
        """Return whether the administrator (or a script) chose this database."""
        return self.source != "default"


def resolve_database(option: str | None = None) -> DatabaseChoice:
    """Pick the database URL: --db, then IBDESK_DB, then the config file, then SQLite."""
    if option:
        return DatabaseChoice(option, "option")
    env = os.environ.get("IBDESK_DB")
    if env:
        return DatabaseChoice(env, "environment")
    url = load().get("database_url")
    if isinstance(url, str) and url:
        return DatabaseChoice(url, "config")
    return DatabaseChoice(default_sqlite_url(), "default")


def set_database_url(url: str) -> Path:
    """Store the database URL in the local configuration file."""
    data = load()
    data["database_url"] = url
    return save(data)
