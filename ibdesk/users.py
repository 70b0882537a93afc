"""User accounts: creating local accounts and checking log-ins."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibdesk import audit
from ibdesk.audit import Actor
from ibdesk.errors import Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.models import AccountSource, UserAccount, utcnow
from ibdesk.passwords import check_rule, hash_password, upgrade_legacy, verify_password

_USERNAME = re.compile(r"^[\w.\-@]{2,64}$")


def normalize_username(username: str) -> str:
    """Return the lower-cased, trimmed log-in name, or refuse one that cannot be used."""
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise UserError(_("A user name is 2 to 64 letters, digits or . - _ @ with no spaces."))
    return name


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    actor: Actor,
    display_name: str = "",
    is_admin: bool = False,
) -> UserAccount:
    """Create a local account after checking the name is free and the password rule."""
    name = normalize_username(username)
    if session.scalar(select(UserAccount.id).where(UserAccount.username == name)) is not None:
        raise Refused(_("A user named %(name)s already exists.", name=name))
    check_rule(password, username=name)
    user = UserAccount(
        username=name,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        source=AccountSource.LOCAL.value,
        is_admin=is_admin,
        active=True,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    audit.system_event(
        session, actor, "user.create", f"{name}{' (administrator)' if is_admin else ''}"
    )
    return user


def count_admins(session: Session) -> int:
    """Return how many active administrator accounts exist."""
    return (
        session.scalar(
            select(func.count())
            .select_from(UserAccount)
            .where(UserAccount.is_admin.is_(True), UserAccount.active.is_(True))
        )
        or 0
    )


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a log-in attempt: the account, or the sentence to show."""

    user: UserAccount | None
    message: str = ""

    @property
    def ok(self) -> bool:
        """Return whether the log-in succeeded."""
        return self.user is not None


def authenticate(session: Session, username: str, password: str, machine: str) -> LoginOutcome:
    """Check a local log-in and add it, successful or not, to the login log."""
    name = username.strip().lower()
    user = session.scalar(select(UserAccount).where(UserAccount.username == name))
    reason = ""
    if user is None:
        reason = "unknown user"
    elif not user.active:
        reason = "account disabled"
    elif user.source != AccountSource.LOCAL.value:
        reason = "account is managed in Active Directory"
    elif not verify_password(user.password_hash, password):
        upgraded = None if user.password_hash else upgrade_legacy(user.legacy_md5, password)
        if upgraded is None:
            reason = "wrong password"
        else:  # a converted 1.2 account's first sign-in: Argon2id from now on, MD5 gone
            user.password_hash, user.legacy_md5 = upgraded, None
    audit.login_event(session, name, machine, success=not reason, reason=reason)
    session.flush()
    if reason or user is None:
        message = (
            _("This account is disabled; ask the administrator.")
            if reason == "account disabled"
            else _("Wrong user name or password.")
        )
        return LoginOutcome(None, message)
    user.last_login_at = utcnow()
    return LoginOutcome(user)
