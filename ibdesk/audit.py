"""Writing the patient audit trail and the system log, always inside the caller's transaction."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ibdesk.models import AuditEvent, LoginEvent, Patient, SystemEvent, utcnow


def this_machine() -> str:
    """Return this computer's name, as logs record it."""
    return socket.gethostname()


@dataclass(frozen=True)
class Actor:
    """Who does something, and from which machine (for every log entry).

    ``rights`` is what a signed-in ImageBank user may do (the union of their groups' rights);
    None means this program's own trusted work at this machine (the demo generator, the
    tests, a cron-run command), which ``ibdesk.clients`` does not restrict.
    """

    user: str
    machine: str = field(default_factory=this_machine)
    rights: frozenset[str] | None = None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Return {field: [before, after]} for the fields whose value changed."""
    return {
        key: [_jsonable(before.get(key)), _jsonable(after.get(key))]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    patient: Patient | None = None,
    entity: str = "patient",
    entity_id: int | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event for a patient to the session (committed with the change)."""
    event = AuditEvent(
        at=utcnow(),
        user_name=actor.user,
        machine=actor.machine,
        patient_id=patient.id if patient is not None else None,
        personnummer=patient.personnummer if patient is not None else None,
        action=action,
        entity=entity,
        entity_id=entity_id,
        changes=json.dumps(changes or {}, ensure_ascii=False, sort_keys=True),
    )
    session.add(event)
    return event


def system_event(
    session: Session, actor: Actor, action: str, detail: str = "", *, level: str = "info"
) -> SystemEvent:
    """Add an entry to the system log (committed with the caller's transaction)."""
    event = SystemEvent(
        at=utcnow(),
        level=level,
        user_name=actor.user,
        machine=actor.machine,
        action=action,
        detail=detail,
    )
    session.add(event)
    return event


def login_event(
    session: Session, user: str, machine: str, success: bool, reason: str = ""
) -> LoginEvent:
    """Add an entry to the login log."""
    event = LoginEvent(at=utcnow(), user_name=user, machine=machine, success=success, reason=reason)
    session.add(event)
    return event


def os_account() -> str:
    """Return the name of the operating-system account this process really runs as.

    Never from ``LOGNAME``, ``USER`` or ``USERNAME`` (which ``getpass.getuser`` reads first):
    whoever starts the program chooses those, so they would let a caller sign as anyone.
    """
    if hasattr(os, "getuid"):
        import pwd

        uid = os.getuid()
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:  # a uid with no account name (some containers)
            return f"uid {uid}"
    try:
        return os.getlogin()  # Windows: GetUserNameW, the account of the process token
    except OSError:
        return "administrator"


OS_ACCOUNT_MARK = "(operating-system account)"


def unattended() -> Actor:
    """Return the actor of a command run with nobody signed in (cron: backup, stats, check).

    It is this machine's operating-system account, marked as such in every log entry, so
    that it is never taken for an ImageBank user of the same name. A sign-in on the command
    line is deliberately not used: a cron job is not the person who signed in last.
    """
    return Actor(user=f"{os_account()} {OS_ACCOUNT_MARK}")


def local_admin() -> Actor:
    """Return the administrator at this machine (the operating-system user running ibdesk)."""
    return Actor(user=os_account())
