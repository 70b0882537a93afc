"""Active Directory users in ImageBank: signing in, their account row, and the group mapping.

An AD user signs in by binding as themselves (``directory.sign_in``). Their ImageBank account
is pinned by objectGUID: a renamed AD account keeps its row, and a re-created account with an
old name is a different person and does not get the old row (nor its history). At every
sign-in the account's ImageBank groups become exactly the groups its AD groups (nested ones
included) are mapped to, so its rights are their union.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibdesk import audit
from ibdesk.audit import Actor
from ibdesk.errors import NotFound, UserError
from ibdesk.i18n import gettext as _
from ibdesk.models import AccountSource, Right, UserAccount, UserGroup, utcnow
from ibdesk.users import directory
from ibdesk.users.accounts import (
    LoginOutcome,
    find_user,
    refusal,
    values,
)
from ibdesk.users.admins import admins_before, count_admins


def _group(session: Session, name: str) -> UserGroup | None:
    return session.scalar(select(UserGroup).where(func.lower(UserGroup.name) == name.lower()))


def mapped_groups(
    session: Session, settings: directory.ADSettings, ad_groups: tuple[str, ...], machine: str
) -> list[UserGroup]:
    """Return the ImageBank groups the AD groups map to (a mapping to a lost group is logged)."""
    member_of = {dn.lower() for dn in ad_groups}
    found: dict[int, UserGroup] = {}
    for mapping in settings.mappings:
        if mapping.ad_group.lower() not in member_of:
            continue
        group = _group(session, mapping.group)
        if group is None:
            audit.system_event(
                session,
                Actor(user="Active Directory", machine=machine),
                "ad.mapping_missing",
                directory.missing_group_message(mapping),
                level="warning",
            )
            continue
        found[group.id] = group
    return sorted(found.values(), key=lambda g: g.name)


def _refuse(session: Session, name: str, machine: str, reason: str, message: str) -> LoginOutcome:
    audit.login_event(session, name, machine, success=False, reason=reason)
    session.flush()
    return LoginOutcome(None, message)


def _account_row(session: Session, person: directory.ADUser, machine: str) -> UserAccount | str:
    """Return the person's row (made on first sign-in), or the sentence why there is none."""
    user = session.scalar(select(UserAccount).where(UserAccount.ad_guid == person.guid))
    actor = Actor(user="Active Directory", machine=machine)
    if user is not None:
        if user.username != person.username and find_user(session, person.username) is None:
            audit.system_event(
                session, actor, "user.ad_rename", f"{user.username} → {person.username}"
            )
            user.username = person.username
        return user
    same_name = find_user(session, person.username)
    if same_name is not None and same_name.source == AccountSource.AD.value:
        if same_name.active:
            return _(
                "The Active Directory account %(name)s is not the one that signed in here "
                "before under that name (it was re-created); an administrator must disable or "
                "delete the old ImageBank account first.",
                name=person.username,
            )
        # The old person's row was disabled by an administrator: it keeps its history under
        # a name of its own, and the name is free for the new account.
        old_name = same_name.username
        same_name.username = f"{old_name}.replaced-{(same_name.ad_guid or '')[:8]}"[:100]
        audit.system_event(session, actor, "user.ad_replaced", f"{old_name} → {same_name.username}")
        session.flush()
        same_name = None
    if same_name is not None:
        return _(
            "A local ImageBank account is also named %(name)s; sign in with its password, or "
            "an administrator renames one of them.",
            name=person.username,
        )
    user = UserAccount(
        username=person.username,
        display_name=person.display_name[:200],
        password_hash=None,
        source=AccountSource.AD.value,
        active=True,
        created_at=utcnow(),
        failed_count=0,
        ad_guid=person.guid,
    )
    session.add(user)
    session.flush()
    audit.system_event(session, actor, "user.create", f"{person.username}: from Active Directory")
    return user


def authenticate(
    session: Session,
    typed: str,
    password: str,
    machine: str,
    *,
    need: Right | None = None,
    now: dt.datetime | None = None,
) -> LoginOutcome:
    """Sign an AD user in: bind as them, pin their row by objectGUID, map their groups."""
    settings = directory.load_settings(session)
    name = typed.strip().lower()[:100]
    try:
        person = directory.sign_in(settings, typed, password)
    except directory.BindRefused as refused:
        reason = {"52e": "wrong password", "533": "account disabled", "775": "account locked"}
        return _refuse(
            session, name, machine, f"AD: {reason.get(refused.code, refused.code)}", str(refused)
        )
    except directory.DirectoryError as error:
        return _refuse(session, name, machine, f"AD: {type(error).__name__}", str(error))
    row = _account_row(session, person, machine)
    if isinstance(row, str):
        return _refuse(session, person.username, machine, "AD: objectGUID differs", row)
    user = row
    before = values(user)
    user.display_name = person.display_name[:200] or user.display_name
    admins, held = admins_before(session), list(user.groups)
    user.groups = mapped_groups(session, settings, person.groups, machine)
    session.flush()
    if admins.any and not count_admins(session):
        # Active Directory took the right from the last administrator: keep it, or the
        # window would open to anyone (no administrator means setting up).
        user.groups = held
        audit.system_event(
            session,
            Actor(user="Active Directory", machine=machine),
            "ad.last_admin_kept",
            _(
                "Active Directory no longer makes %(user)s an administrator, but %(user)s is "
                "the last one and keeps the right; make another administrator, then sign "
                "in as %(user)s again.",
                user=user.username,
            ),
            level="warning",
        )
    changes = audit.diff(before, values(user))
    if changes:
        text = "; ".join(f"{k} {b!r} → {a!r}" for k, (b, a) in changes.items())
        audit.system_event(
            session,
            Actor(user="Active Directory", machine=machine),
            "user.ad_sync",
            f"{user.username}: {text}",
        )
    barred = refusal(user, need)
    if barred is not None:
        return _refuse(session, user.username, machine, *barred)
    audit.login_event(session, user.username, machine, success=True, reason="Active Directory")
    user.last_login_at = now or utcnow()
    session.flush()
    return LoginOutcome(user)


def check_password(session: Session, user: UserAccount, password: str) -> bool:
    """Return whether the password is this AD user's (binding as them; AD down means no)."""
    settings = directory.load_settings(session)
    try:
        person = directory.sign_in(settings, user.username, password)
    except directory.DirectoryError:
        return False
    return person.guid == user.ad_guid


def set_mapping(
    session: Session, actor: Actor, ad_group: str, group: str | None
) -> directory.ADSettings:
    """Map an AD group (a DN, or a name looked up) to an ImageBank group, or unmap it (None)."""
    settings = directory.load_settings(session)
    dn = ad_group.strip()
    if not dn:
        raise UserError(_("Name the Active Directory group."))
    if "=" not in dn:
        dn = directory.resolve_group(settings, dn)
    kept = tuple(m for m in settings.mappings if m.ad_group.lower() != dn.lower())
    if group is None:
        if len(kept) == len(settings.mappings):
            raise NotFound(_("The AD group %(dn)s is not mapped.", dn=dn[:400]))
        return directory.save_settings(session, actor, replace(settings, mappings=kept))
    target = _group(session, group.strip())
    if target is None:
        raise NotFound(_("There is no user group named %(name)s.", name=group.strip()[:100]))
    mapping = directory.Mapping(dn[:400], target.name)
    return directory.save_settings(session, actor, replace(settings, mappings=(*kept, mapping)))


def parse_mappings(
    session: Session, settings: directory.ADSettings, text: str, password: str | None = None
) -> tuple[directory.Mapping, ...]:
    """Read "AD group = ImageBank group" lines (a name without "=" is looked up in AD)."""
    found: list[directory.Mapping] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        ad_group, sep, group = line.rpartition("=")
        if not sep or not ad_group.strip() or not group.strip():
            raise UserError(
                _("Line %(number)s is not “AD group = ImageBank group”.", number=number)
            )
        target = _group(session, group.strip())
        if target is None:
            raise NotFound(_("There is no user group named %(name)s.", name=group.strip()[:100]))
        dn = ad_group.strip()
        if "=" not in dn:
            dn = directory.resolve_group(settings, dn, password)
        found.append(directory.Mapping(dn[:400], target.name))
    return tuple(found)


def mapping_text(settings: directory.ADSettings) -> str:
    """Return the mappings as the settings form shows them, one line each."""
    return "\n".join(f"{m.ad_group} = {m.group}" for m in settings.mappings)
