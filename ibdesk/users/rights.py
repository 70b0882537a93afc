"""What a signed-in person may do: the rights of their groups, checked for every call."""

from __future__ import annotations

from ibdesk.audit import Actor
from ibdesk.errors import Refused
from ibdesk.i18n import gettext as _
from ibdesk.models import Right, UserAccount


def actor_for(user: UserAccount, machine: str) -> Actor:
    """Return the actor of a signed-in user, carrying the union of their groups' rights."""
    return Actor(user=user.username, machine=machine, rights=user.rights)


def require(actor: Actor, right: Right) -> None:
    """Refuse when a signed-in user lacks the right (this program's own work is not limited)."""
    if actor.rights is not None and right.value not in actor.rights:
        from ibdesk.users.groups import RIGHT_LABELS

        raise Refused(
            _(
                "%(user)s may not do that: it needs the right “%(right)s”; ask an administrator.",
                user=actor.user,
                right=str(RIGHT_LABELS[right]),
            )
        )
