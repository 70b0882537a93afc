"""The way back in: the server's own administrator resets a lost administrator password.

Recorded loudly (a warning in the system log) and shown on the Overview until an
administrator acknowledges it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import audit, clinic_settings, limits
from ibdesk.audit import Actor
from ibdesk.errors import Refused
from ibdesk.i18n import gettext as _
from ibdesk.models import SystemEvent
from ibdesk.users import accounts

ACTION = "user.recover"
ACKNOWLEDGED = "users.recovery_acknowledged"


def recover(session: Session, actor: Actor, username: str, password: str) -> None:
    """Give an administrator a new password, unlock and enable it, and say so loudly."""
    user = accounts.get_user(session, username)
    if not user.is_admin:
        raise Refused(
            _("%(name)s is not an administrator; recovery is only for those.", name=user.username)
        )
    accounts.set_password(session, actor, user.username, password)
    if not user.active:
        accounts.set_active(session, actor, user.username, True)
    audit.system_event(
        session,
        actor,
        ACTION,
        f"{user.username}: password reset from the command line of this server",
        level="warning",
    )


def unacknowledged(session: Session) -> list[SystemEvent]:
    """Return the recoveries an administrator has not acknowledged yet."""
    seen = clinic_settings.get(session, ACKNOWLEDGED)
    last = (limits.row_id(seen) if seen else None) or 0
    query = (
        select(SystemEvent)
        .where(SystemEvent.action == ACTION, SystemEvent.id > last)
        .order_by(SystemEvent.id)
    )
    return list(session.scalars(query))


def acknowledge(session: Session, actor: Actor) -> None:
    """Mark every recovery so far as seen (recorded in the system log)."""
    events = unacknowledged(session)
    if not events:
        return
    clinic_settings.put(session, ACKNOWLEDGED, str(events[-1].id), by=actor.user)
    audit.system_event(session, actor, "user.recover_acknowledged", f"{len(events)} recoveries")
