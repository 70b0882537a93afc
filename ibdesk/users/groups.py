"""User groups: each a set of rights from the fixed catalogue; members get their union."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ibdesk import audit
from ibdesk.audit import Actor
from ibdesk.errors import Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import GroupRight, Right, UserAccount, UserGroup
from ibdesk.users.accounts import get_group
from ibdesk.users.admins import admins_before, protect_last_admin

RIGHT_LABELS = {
    Right.VIEW_PATIENTS: _l("View patients"),
    Right.EDIT_IDENTITY: _l("Edit patient identity"),
    Right.ADD_IMAGES: _l("Add images"),
    Right.DELETE_MEDIA: _l("Delete media"),
    Right.SIGN: _l("Sign image sets"),
    Right.EXPORT: _l("Export"),
    Right.ADMINISTER: _l("Administer"),
}

# The descriptions a new database gives its three groups (migration 0004, in English). While
# one reads as it was made, the window shows it in its own language; one a clinic wrote
# itself is shown as written.
SEEDED_DESCRIPTIONS = {
    "Everything, including users, groups and settings.": _l(
        "Everything, including users, groups and settings."
    ),
    "Dentists and dental nurses: patients, images, signing and export.": _l(
        "Dentists and dental nurses: patients, images, signing and export."
    ),
    "Front desk: find and register patients.": _l("Front desk: find and register patients."),
}


def description_text(description: str | None) -> str:
    """Return a group's description to show: a seeded one in the window's language."""
    text = description or ""
    seeded = SEEDED_DESCRIPTIONS.get(text)
    return str(seeded) if seeded is not None else text


def parse_right(name: str) -> Right:
    """Return the right with this name, or say which names there are."""
    try:
        return Right(name.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Right)
        raise UserError(
            _("%(name)s is not a right; use one of %(names)s.", name=name[:40], names=names)
        ) from None


def list_groups(session: Session) -> list[UserGroup]:
    """Return every group by name, with its rights and members loaded."""
    query = (
        select(UserGroup)
        .options(selectinload(UserGroup.rights), selectinload(UserGroup.members))
        .order_by(UserGroup.name)
    )
    return list(session.scalars(query))


def create_group(
    session: Session, actor: Actor, name: str, description: str = "", rights: tuple[str, ...] = ()
) -> UserGroup:
    """Create a group with a unique name and the given rights."""
    clean = " ".join(name.split())
    if not clean or len(clean) > 100:
        raise UserError(_("A group name is 1 to 100 characters."))
    if session.scalar(select(UserGroup.id).where(func.lower(UserGroup.name) == clean.lower())):
        raise Refused(_("A user group named %(name)s already exists.", name=clean))
    chosen = sorted({parse_right(r).value for r in rights})
    group = UserGroup(name=clean, description=" ".join(description.split())[:400])
    group.rights = [GroupRight(right_name=r) for r in chosen]
    session.add(group)
    session.flush()
    audit.system_event(
        session, actor, "group.create", f"{clean}: rights '' → {', '.join(chosen)!r}"
    )
    return group


def set_rights(session: Session, actor: Actor, name: str, rights: set[str]) -> UserGroup:
    """Give a group exactly these rights (an administrator must remain)."""
    group = get_group(session, name)
    had_admins = admins_before(session)
    before = sorted(group.right_names)
    wanted = sorted({parse_right(r).value for r in rights})
    if wanted == before:
        return group
    group.rights = [r for r in group.rights if r.right_name in wanted] + [
        GroupRight(right_name=r) for r in wanted if r not in before
    ]
    protect_last_admin(session, had_admins)
    audit.system_event(
        session,
        actor,
        "group.rights",
        f"{group.name}: rights {', '.join(before)!r} → {', '.join(wanted)!r}",
    )
    return group


def grant(session: Session, actor: Actor, name: str, right: str) -> UserGroup:
    """Add one right to a group."""
    group = get_group(session, name)
    return set_rights(session, actor, group.name, set(group.right_names) | {right})


def revoke(session: Session, actor: Actor, name: str, right: str) -> UserGroup:
    """Take one right from a group (not the last administrators' administer right)."""
    group = get_group(session, name)
    return set_rights(session, actor, group.name, set(group.right_names) - {parse_right(right)})


def members(session: Session, name: str) -> list[UserAccount]:
    """Return a group's members by name."""
    return sorted(get_group(session, name).members, key=lambda u: u.username)
