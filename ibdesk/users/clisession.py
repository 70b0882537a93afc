"""The command line's sign-in: a short-lived session file in the configuration folder (0600).

``ibdesk login`` checks the password and writes who signed in and until when; commands that
change users, groups or patient data read it. ``ibdesk logout`` deletes it. The file holds
no password, and it is only good for a signed-in account that is still enabled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from ibdesk import config, private
from ibdesk.audit import Actor, this_machine
from ibdesk.errors import Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.models import Right
from ibdesk.users import accounts
from ibdesk.users.rights import require

LIFETIME = dt.timedelta(hours=1)
FILE_NAME = "cli-session.json"


def session_path() -> Path:
    """Return where the command line's sign-in is kept."""
    return config.config_dir() / FILE_NAME


@dataclass(frozen=True)
class CliSession:
    """Who signed in on the command line, to which database, and until when."""

    username: str
    expires_at: dt.datetime
    database: str = ""  # database_key of the database signed in to


def database_key(session: Session) -> str:
    """Name the database a session works on (its address, no password), as a digest."""
    bind = session.get_bind()
    url = bind.engine.url if isinstance(bind, Connection) else bind.url
    if url.get_backend_name() == "sqlite" and url.database:
        url = url.set(database=os.path.realpath(url.database))
    shown = url.render_as_string(hide_password=True)
    return hashlib.sha256(shown.encode()).hexdigest()


def save(session: Session, username: str, now: dt.datetime | None = None) -> CliSession:
    """Write the sign-in file (readable by this operating-system account only).

    The sign-in holds for the database it was made in only: an account of the same name in
    another database (one anybody can create) is not this one.
    """
    now = now or dt.datetime.now(dt.UTC)
    found = CliSession(username, now + LIFETIME, database_key(session))
    path = session_path()
    private.make_folder(path.parent)
    data = {"user": username, "expires": found.expires_at.isoformat(), "database": found.database}
    config.write_private(path, json.dumps(data))
    return found


def load(now: dt.datetime | None = None) -> CliSession | None:
    """Return the command line's live sign-in, or None (none, expired or unreadable)."""
    try:
        data = json.loads(session_path().read_text(encoding="utf-8"))
        found = CliSession(
            str(data["user"]),
            dt.datetime.fromisoformat(data["expires"]),
            str(data.get("database", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (now or dt.datetime.now(dt.UTC)) >= found.expires_at:
        return None
    return found


def forget() -> bool:
    """Delete the sign-in file; return whether there was one."""
    try:
        session_path().unlink()
    except FileNotFoundError:
        return False
    return True


def signed_in_actor(session: Session, need: Right) -> Actor:
    """Return the signed-in user as an actor with the right ``need``, or say how to sign in."""
    found = load()
    if found is None:
        raise Refused(_("Sign in first with: ibdesk login"))
    if found.database != database_key(session):
        raise Refused(
            _(
                "You signed in to another database; sign in to this one with: ibdesk login "
                "(with the same --db)."
            )
        )
    user = accounts.find_user(session, found.username)
    if user is None or not user.active or accounts.is_locked(user):
        forget()
        raise Refused(_("Your sign-in is no longer valid; sign in again with: ibdesk login"))
    actor = Actor(user=user.username, machine=this_machine(), rights=user.rights)
    require(actor, need)
    return actor


def owns_config_folder() -> bool:
    """Return whether this process's account owns the configuration folder."""
    folder = config.config_dir()
    if not hasattr(os, "getuid"):
        return folder.exists()
    try:
        return folder.stat().st_uid == os.getuid()
    except OSError:
        return False


def check_recovery_allowed() -> None:
    """Refuse recovery unless run by the account that owns the configuration folder."""
    if not owns_config_folder():
        raise UserError(
            _(
                "Only the operating-system account that owns %(folder)s can recover an "
                "administrator.",
                folder=str(config.config_dir()),
            )
        )
