"""The administrators who must remain: one enabled administrator, and one local one.

Every change that may take the administer right away (editing, disabling or deleting an
account, a group's rights, an Active Directory sign-in) reads ``admins_before`` first and
calls ``protect_last_admin`` before its commit. A local administrator (an account of this
program's own) must remain too: when Active Directory is off or cannot be reached, nobody
else can sign in, and only a local account can be recovered.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ibdesk.errors import Refused
from ibdesk.i18n import gettext as _
from ibdesk.models import AccountSource, GroupRight, Right, UserAccount, user_group_member


def _admin_ids(session: Session, *, local: bool = False) -> set[int]:
    query = (
        select(UserAccount.id)
        .join(user_group_member, user_group_member.c.user_id == UserAccount.id)
        .join(GroupRight, GroupRight.group_id == user_group_member.c.group_id)
        .where(GroupRight.right_name == Right.ADMINISTER.value, UserAccount.active.is_(True))
    )
    if local:
        query = query.where(UserAccount.source == AccountSource.LOCAL.value)
    return set(session.scalars(query))


@dataclass(frozen=True)
class Admins:
    """Whether enabled administrators exist, and local ones among them (before a change)."""

    any: bool
    local: bool


def count_admins(session: Session) -> int:
    """Return how many enabled accounts have the administer right."""
    return len(_admin_ids(session))


# One key for every change that may take the administer right away (PostgreSQL advisory lock).
_ADMIN_CHANGE_LOCK = 0x1B_AD_0001


def admins_before(session: Session) -> Admins:
    """Say whether enabled administrators exist (before a change that may remove one).

    Changes that may remove an administrator take turns until their commit: two
    administrators disabling each other at the same moment would otherwise each see the
    other still enabled, and leave none. (SQLite lets one writer at a time anyway.)
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_ADMIN_CHANGE_LOCK)))
    elif dialect == "mssql":
        session.execute(text("SELECT COUNT(*) FROM user_account WITH (TABLOCKX, HOLDLOCK)"))
    session.flush()
    return Admins(bool(_admin_ids(session)), bool(_admin_ids(session, local=True)))


def protect_last_admin(session: Session, before: Admins) -> None:
    """Refuse (before commit) a change that removed the last enabled administrator, or the
    last local one: an account of this program's own, who can still sign in (and be
    recovered) when Active Directory is off or cannot be reached."""
    session.flush()
    if before.any and not _admin_ids(session):
        raise Refused(
            _(
                "That would leave no enabled administrator, and nobody could sign in to "
                "ImageBank SysAdmin; make another administrator first."
            )
        )
    if before.local and not _admin_ids(session, local=True):
        raise Refused(
            _(
                "That would leave no enabled local administrator, and nobody could sign in "
                "when Active Directory cannot be reached; make another local account an "
                "administrator first."
            )
        )
