"""User accounts: creating and changing local accounts, signing in, lockout."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ibdesk import audit
from ibdesk.audit import Actor
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.models import (
    AccountSource,
    AuditEvent,
    GroupRight,
    ImageSet,
    Right,
    UserAccount,
    UserGroup,
    utcnow,
)
from ibdesk.users.admins import admins_before, protect_last_admin
from ibdesk.users.passwords import (
    check_rule,
    dummy_verify,
    hash_password,
    upgrade_legacy,
    verify_password,
)

_USERNAME = re.compile(r"^[\w.\-@]{2,64}$")
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
LOCK_TIME = dt.timedelta(minutes=15)
ADMINISTRATORS = "Administrators"
CLINICIANS = "Clinicians"  # seeded by the migration: what a 1.2 user without Admin becomes


def normalize_username(username: str) -> str:
    """Return the lower-cased, trimmed log-in name, or refuse one that cannot be used."""
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise UserError(_("A user name is 2 to 64 letters, digits or . - _ @ with no spaces."))
    return name


def find_user(session: Session, username: str) -> UserAccount | None:
    """Return the account with this name in any case, or None."""
    name = username.strip().lower()
    return session.scalar(select(UserAccount).where(UserAccount.username == name))


def get_user(session: Session, username: str) -> UserAccount:
    """Return the account with this name, or say there is none."""
    user = find_user(session, username)
    if user is None:
        raise NotFound(_("There is no user named %(name)s.", name=username.strip()[:64]))
    return user


def get_group(session: Session, name: str) -> UserGroup:
    """Return the group with this name in any case, or say there is none."""
    group = session.scalar(
        select(UserGroup).where(func.lower(UserGroup.name) == name.strip().lower())
    )
    if group is None:
        raise NotFound(_("There is no user group named %(name)s.", name=name.strip()[:100]))
    return group


def _groups_named(session: Session, names: list[str] | tuple[str, ...]) -> list[UserGroup]:
    # Once each, however often named ("Clinicians" and "clinicians" are one group).
    found = {group.id: group for group in (get_group(session, name) for name in names)}
    return list(found.values())


def administrators_group(session: Session) -> UserGroup:
    """Return the seeded Administrators group (made again if someone removed it)."""
    group = session.scalar(
        select(UserGroup).where(func.lower(UserGroup.name) == ADMINISTRATORS.lower())
    )
    if group is None:
        group = UserGroup(name=ADMINISTRATORS, description="")
        group.rights = [GroupRight(right_name=r.value) for r in Right]
        session.add(group)
        session.flush()
    return group


def values(user: UserAccount) -> dict[str, Any]:
    """Return an account's fields as the system log's before/after shows them."""
    return {
        "display_name": user.display_name,
        "active": user.active,
        "groups": ", ".join(sorted(g.name for g in user.groups)),
        "locked": user.locked_until is not None,
    }


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    actor: Actor,
    display_name: str = "",
    is_admin: bool = False,
    groups: list[str] | tuple[str, ...] = (),
) -> UserAccount:
    """Create a local account after checking the name is free and the password rule."""
    name = normalize_username(username)
    if find_user(session, name) is not None:
        raise Refused(_("A user named %(name)s already exists.", name=name))
    display = " ".join(display_name.split())
    if len(display) > 200:
        raise UserError(_("A display name may be at most 200 characters."))
    check_rule(password, username=name)
    chosen = _groups_named(session, groups)
    if is_admin:
        admins = administrators_group(session)
        if admins not in chosen:
            chosen.append(admins)
    user = UserAccount(
        username=name,
        display_name=display,
        password_hash=hash_password(password),
        source=AccountSource.LOCAL.value,
        active=True,
        created_at=utcnow(),
        failed_count=0,
    )
    user.groups = chosen
    session.add(user)
    session.flush()
    changes = audit.diff({}, values(user))
    audit.system_event(session, actor, "user.create", f"{name}: {_changes_text(changes)}")
    return user


def _changes_text(changes: dict[str, list[Any]]) -> str:
    return "; ".join(f"{key} {before!r} → {after!r}" for key, (before, after) in changes.items())


def edit_user(
    session: Session,
    actor: Actor,
    username: str,
    *,
    display_name: str | None = None,
    groups: list[str] | None = None,
) -> UserAccount:
    """Change an account's display name or groups (the last administrator stays one)."""
    user = get_user(session, username)
    had_admins = admins_before(session)
    before = values(user)
    if display_name is not None:
        display = " ".join(display_name.split())
        if len(display) > 200:
            raise UserError(_("A display name may be at most 200 characters."))
        user.display_name = display
    if groups is not None:
        user.groups = _groups_named(session, groups)
    protect_last_admin(session, had_admins)
    changes = audit.diff(before, values(user))
    if changes:
        audit.system_event(
            session, actor, "user.edit", f"{user.username}: {_changes_text(changes)}"
        )
    return user


def set_active(session: Session, actor: Actor, username: str, active: bool) -> UserAccount:
    """Enable or disable an account (the last enabled administrator cannot be disabled)."""
    user = get_user(session, username)
    had_admins = admins_before(session)
    if user.active == active:
        return user
    user.active = active
    protect_last_admin(session, had_admins)
    audit.system_event(
        session,
        actor,
        "user.enable" if active else "user.disable",
        f"{user.username}: active {not active!r} → {active!r}",
    )
    return user


def has_history(session: Session, user: UserAccount) -> bool:
    """Return whether the account appears in the audit trail or signed an image set."""
    name = user.username
    for query in (
        select(AuditEvent.id).where(AuditEvent.user_name == name).limit(1),
        select(ImageSet.id)
        .where(or_(ImageSet.created_by == name, ImageSet.signed_by == name))
        .limit(1),
    ):
        if session.scalar(query) is not None:
            return True
    return False


def delete_user(session: Session, actor: Actor, username: str) -> str:
    """Delete an account, or disable it when it has history; return which was done."""
    user = get_user(session, username)
    had_admins = admins_before(session)
    if has_history(session, user):
        set_active(session, actor, username, False)
        return "disabled"
    name = user.username
    before = values(user)
    session.delete(user)
    protect_last_admin(session, had_admins)
    audit.system_event(
        session, actor, "user.delete", f"{name}: {_changes_text(audit.diff(before, {}))}"
    )
    return "deleted"


def set_password(session: Session, actor: Actor, username: str, password: str) -> UserAccount:
    """Give a local account a new password (it also unlocks it)."""
    user = get_user(session, username)
    if user.source != AccountSource.LOCAL.value:
        raise Refused(_("%(name)s is managed in Active Directory.", name=user.username))
    check_rule(password, username=user.username)
    user.password_hash = hash_password(password)
    _clear_failures(user)
    audit.system_event(session, actor, "user.password", f"{user.username}: password changed")
    return user


def unlock(session: Session, actor: Actor, username: str) -> UserAccount:
    """Lift an account's lockout (recorded in the login log and the system log)."""
    user = get_user(session, username)
    was_locked, failures = user.locked_until is not None, user.failed_count
    _clear_failures(user)
    if was_locked:
        audit.login_event(
            session, user.username, actor.machine, success=False, reason=f"unlocked by {actor.user}"
        )
        audit.system_event(session, actor, "user.unlock", f"{user.username}: locked True → False")
    elif failures:  # not locked yet, but the count of failed attempts starts again
        audit.system_event(
            session, actor, "user.unlock", f"{user.username}: failed attempts {failures} → 0"
        )
    return user


def _clear_failures(user: UserAccount) -> None:
    user.failed_count = 0
    user.first_failed_at = None
    user.locked_until = None


def is_locked(user: UserAccount, now: dt.datetime | None = None) -> bool:
    """Return whether the account is locked out now."""
    now = now or utcnow()
    return user.locked_until is not None and user.locked_until > now


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a log-in attempt: the account, or the sentence to show."""

    user: UserAccount | None
    message: str = ""

    @property
    def ok(self) -> bool:
        """Return whether the log-in succeeded."""
        return self.user is not None


def wrong_message() -> str:
    """Return the one sentence for an unknown user and a wrong password alike."""
    return _("Wrong user name or password.")


def locked_message() -> str:
    """Return the sentence for a locked account."""
    return _(
        "This account is locked for 15 minutes after too many failed attempts; "
        "an administrator can unlock it."
    )


def _record_failure(session: Session, user: UserAccount, machine: str, now: dt.datetime) -> None:
    # Counted in the database, one statement each, so that wrong attempts made at the same
    # moment (several workstations, or a script) each count: a count read into Python and
    # written back would let parallel attempts overwrite each other and never lock.
    session.flush()
    mine = UserAccount.id == user.id
    session.execute(
        update(UserAccount)
        .where(
            mine,
            or_(
                UserAccount.first_failed_at.is_(None),
                UserAccount.first_failed_at < now - FAILURE_WINDOW,
            ),
        )
        .values(failed_count=0, first_failed_at=now),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(UserAccount).where(mine).values(failed_count=UserAccount.failed_count + 1),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(UserAccount)
        .where(mine, UserAccount.failed_count >= MAX_FAILURES)
        .values(locked_until=now + LOCK_TIME),
        execution_options={"synchronize_session": False},
    )
    session.refresh(user, ["failed_count", "first_failed_at", "locked_until"])
    if user.failed_count >= MAX_FAILURES:
        audit.login_event(
            session,
            user.username,
            machine,
            success=False,
            reason=f"locked after {MAX_FAILURES} failed attempts",
        )


def _directory_on(session: Session) -> bool:
    from ibdesk.users import adsettings

    return adsettings.load_settings(session).enabled


def authenticate(
    session: Session,
    username: str,
    password: str,
    machine: str,
    *,
    need: Right | None = None,
    now: dt.datetime | None = None,
) -> LoginOutcome:
    """Check a log-in and add it, successful or not, to the login log.

    A local account checks its own password; any other name goes to Active Directory when
    it is set up (``adaccounts``), so local administrators sign in while AD is down.
    """
    now = now or utcnow()
    name = username.strip().lower()[:100]
    user = find_user(session, name)
    if (user is None or user.source == AccountSource.AD.value) and _directory_on(session):
        from ibdesk.users import adaccounts  # ldap3 is imported only when AD is in use

        return adaccounts.authenticate(session, username, password, machine, need=need, now=now)
    reason = ""
    message = wrong_message()
    if user is None:
        dummy_verify()
        reason = "unknown user"
    elif user.source != AccountSource.LOCAL.value:
        dummy_verify()  # as slow as a wrong password: the answer tells no account apart
        reason = "account is managed in Active Directory"
    elif is_locked(user, now):
        reason, message = "account locked", locked_message()
    else:
        if user.locked_until is not None:  # a lock that ran out
            _clear_failures(user)
        if not verify_password(user.password_hash, password) and not _upgraded(user, password):
            reason = "wrong password"
            _record_failure(session, user, machine, now)
            if is_locked(user, now):
                message = locked_message()
        elif (barred := refusal(user, need)) is not None:
            reason, message = barred
    audit.login_event(session, name, machine, success=not reason, reason=reason)
    session.flush()
    if reason or user is None:
        return LoginOutcome(None, message)
    _clear_failures(user)
    user.last_login_at = now
    return LoginOutcome(user)


def refusal(user: UserAccount, need: Right | None) -> tuple[str, str] | None:
    """Say why an account whose password was right may not sign in (log reason, sentence)."""
    if not user.active:
        return "account disabled", _("This account is disabled; ask an administrator.")
    if need is not None and need.value not in user.rights:
        return (
            f"no {need.value} right",
            _("This account may not sign in here; ask an administrator."),
        )
    return None


def _upgraded(user: UserAccount, password: str) -> bool:
    """Sign a converted 1.2 account in once with its old password, then keep Argon2id only.

    The 1.2 MD5 is checked this one time (it never signs in by itself again): a match
    replaces it with an Argon2id hash of the same password.
    """
    if user.password_hash or user.legacy_md5 is None:
        return False
    upgraded = upgrade_legacy(user.legacy_md5, password)
    if upgraded is None:
        return False
    user.password_hash, user.legacy_md5 = upgraded, None
    return True


def rights_now(session: Session, user_id: int, username: str) -> frozenset[str]:
    """Return what an account may do now: nothing once it is gone, disabled or locked.

    The id and the name must both match: after a switch to another database, the same id
    may be somebody else.
    """
    user = session.get(UserAccount, user_id)
    if user is None or user.username != username or not user.active or is_locked(user):
        return frozenset()
    return user.rights


def confirm_password(
    session: Session, username: str, password: str, machine: str, *, now: dt.datetime | None = None
) -> str:
    """Check a signed-in person's password again; return "" or why not (in the login log).

    As strict as signing in: a disabled or locked account is refused, and each wrong
    password counts towards the lockout, so a window left open cannot be used to guess.
    """
    now = now or utcnow()
    user = find_user(session, username)
    message, reason = "", "password confirmed"
    if user is None or not user.active:
        message, reason = _("This account is disabled; ask an administrator."), "account disabled"
    elif is_locked(user, now):
        message, reason = locked_message(), "account locked"
    elif not check_password(session, user, password):
        message, reason = wrong_message(), "wrong password when confirming"
        if user.source == AccountSource.LOCAL.value:
            _record_failure(session, user, machine, now)
            if is_locked(user, now):
                message = locked_message()
    audit.login_event(session, username, machine, success=not message, reason=reason)
    return message


def check_password(session: Session, user: UserAccount, password: str) -> bool:
    """Return whether this is the account's password (an AD account asks AD)."""
    if user.source == AccountSource.AD.value:
        from ibdesk.users import adaccounts

        return adaccounts.check_password(session, user, password)
    return verify_password(user.password_hash, password)
