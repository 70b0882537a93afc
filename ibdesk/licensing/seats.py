"""Workstation seats: claim, heartbeat, list and release, with no oversubscription possible.

A seat is one of the slot rows 1..N of ``seat_activation`` (N from the current license,
see ``licensing.fit_slots``); a free slot has no MAC address. A workstation claims one with
its MAC address and machine ID: the same machine gets its own seat back, otherwise it takes
the lowest free slot with one UPDATE that only succeeds while that slot is still free.

Why this cannot oversubscribe on any backend: slot numbers are unique and a claim only ever
takes a slot numbered at most N, where N comes from the license document verified here (not
from the ``seats`` column), so at most N machines can hold one; the unique index on
(mac, machine_id) keeps one machine to one seat. The UPDATE re-checks ``mac IS NULL`` on the
row it writes: under PostgreSQL's READ COMMITTED a claimant that lost the race to another
sees the committed row, updates nothing and tries again; SQLite runs one writer at a time
(BEGIN IMMEDIATE). The free slot is first picked with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL and ``UPDLOCK, READPAST, ROWLOCK`` on SQL Server, so fifty simultaneous
claimants each lock a different slot instead of queueing on the same one; when every free
slot is locked by another claimant, one blocking attempt waits for the outcome before a
claim is refused, so a claimant is never turned away from a seat that ends up free.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ibdesk import audit
from ibdesk.audit import Actor
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.licensing import seat_license, seat_lock_statement
from ibdesk.models import SeatActivation, utcnow

MAX_ATTEMPTS = 100
_S = SeatActivation
_COLUMNS = (
    _S.id,
    _S.slot,
    _S.hostname,
    _S.mac,
    _S.machine_id,
    _S.machine_id_reported,
    _S.first_seen,
    _S.last_seen,
)
_FREE = {
    "mac": None,
    "machine_id": None,
    "machine_id_reported": None,
    "hostname": None,
    "first_seen": None,
    "last_seen": None,
}
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_MACHINE_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class SeatError(UserError, ValueError):
    """A MAC address, machine ID or host name that cannot identify a workstation."""


@dataclass(frozen=True)
class SeatInfo:
    """One held seat, as the Licensing tab and ``ibdesk seats list`` show it.

    ``machine_id`` is spelled as the workstation reported it; ``machine_key`` is the folded
    form that keeps one machine to one seat.
    """

    id: int
    slot: int
    hostname: str
    mac: str
    machine_id: str
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    machine_key: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as plain JSON-ready values."""
        return asdict(self)


def normalize_mac(value: str) -> str:
    """Return a MAC address as AA:BB:CC:DD:EE:FF, accepting the usual ways of writing one."""
    text = value.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}", text):
        digits = text.replace(":", "").replace("-", "")
    elif re.fullmatch(r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}", text):
        digits = text.replace(".", "")
    elif len(text) == 12 and _HEX.match(text):
        digits = text
    else:
        raise SeatError(
            _(
                "'%(text)s' is not a MAC address; write it as AA:BB:CC:DD:EE:FF, "
                "AA-BB-CC-DD-EE-FF or aabb.ccdd.eeff.",
                text=text[:40],
            )
        )
    digits = digits.upper()
    if digits in ("000000000000", "FFFFFFFFFFFF"):
        raise SeatError(
            _(
                "%(join)s is not the address of a network card; use the "
                "workstation's own MAC address.",
                join=":".join(digits[i : i + 2] for i in range(0, 12, 2)),
            )
        )
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_machine_id(value: str) -> str:
    """Return a machine ID trimmed and lower-cased, or refuse one that cannot be an ID."""
    return reported_machine_id(value).lower()


def reported_machine_id(value: str) -> str:
    """Return a machine ID trimmed, in the case the workstation wrote it, or refuse it."""
    text = value.strip()
    if not _MACHINE_ID.match(text):
        raise SeatError(
            _(
                "The machine ID must be 1 to 64 printable characters without spaces (for "
                "example /etc/machine-id or the Windows MachineGuid)."
            )
        )
    return text


def _normalize_hostname(value: str) -> str:
    text = value.strip()
    if not text or len(text) > 100 or _CONTROL.search(text):
        raise SeatError(_("The host name must be 1 to 100 characters on one line."))
    return text


def free_slot_query(seats: int, *, skip_locked: bool) -> Select[int]:
    """Return the query picking the lowest free slot numbered at most ``seats``.

    With ``skip_locked`` it locks the slot it returns and passes over slots other claimants
    have locked (PostgreSQL FOR UPDATE SKIP LOCKED; SQL Server UPDLOCK, READPAST).
    """
    query = select(_S.id).where(_S.mac.is_(None), _S.slot <= seats).order_by(_S.slot).limit(1)
    if skip_locked:
        query = query.with_for_update(skip_locked=True).with_hint(
            _S, "WITH (UPDLOCK, READPAST, ROWLOCK)", "mssql"
        )
    return query


def claim_seat(
    session: Session,
    mac: str,
    machine_id: str,
    hostname: str,
    actor: Actor | None = None,
    *,
    today: dt.date | None = None,
) -> SeatInfo:
    """Give this workstation a seat (its own again if it has one), or refuse in one sentence."""
    reported = reported_machine_id(machine_id)
    mac, machine_id = normalize_mac(mac), reported.lower()
    hostname = _normalize_hostname(hostname)
    seats = seat_license(session, today=today).document.seats
    conn = session.connection()
    # Claims take turns (they are rare: a workstation starting). Without this, two claims of
    # the same machine lock two free slots and then wait on each other's unique-index entry:
    # PostgreSQL breaks that deadlock by failing one of them.
    lock = seat_lock_statement(conn.dialect.name)
    if lock is not None:
        conn.execute(lock)
    for _attempt in range(MAX_ATTEMPTS):
        held = _held(conn, mac, machine_id)
        if held is not None:
            if held.slot <= seats:
                if _touch(conn, held.id, mac, machine_id, hostname, reported):
                    return _seat(conn, held.id)
                continue
            # A slot past the verified count was never granted by a license: give it up.
            conn.execute(update(_S).where(_S.id == held.id, _S.mac == mac).values(**_FREE))
            continue
        values = {
            "mac": mac,
            "machine_id": machine_id,
            "machine_id_reported": reported,
            "hostname": hostname,
        }
        try:
            with session.begin_nested():
                # The savepoint is only emitted on a connection asked for inside the block;
                # rolling it back also lets go of the slot this attempt locked.
                taken = _take_free_slot(session.connection(), seats, values)
        except IntegrityError:
            continue  # the same machine claimed at the same moment elsewhere; find its seat
        if taken is not None:
            seat = _seat(conn, taken)
            audit.system_event(
                session,
                actor or Actor(user="workstation", machine=hostname),
                "seat.claim",
                f"Seat {seat.slot} (ID {seat.id}) granted to {hostname} ({mac}, machine ID "
                f"{reported}).",
            )
            return seat
    raise Refused(_("The seats are busy with other workstations; try again in a moment."))


def _take_free_slot(conn: Connection, seats: int, values: dict[str, Any]) -> int | None:
    """Take the lowest free slot; return its id, None if another claimant got it first."""
    candidate = conn.execute(free_slot_query(seats, skip_locked=True)).scalar()
    if candidate is None:
        # Every free slot may be locked by claimants still in flight: wait for them.
        candidate = conn.execute(free_slot_query(seats, skip_locked=False)).scalar()
        if candidate is None:
            raise Refused(
                _(
                    "All %(seats)s seats of the clinic's license are in use; ask the "
                    "administrator to free the seat of a computer that is no longer used.",
                    seats=seats,
                )
                if seats > 1
                else _(
                    "The one seat of the clinic's license is in use; ask the administrator "
                    "to free the seat of a computer that is no longer used."
                )
            )
    now = utcnow()
    taken = conn.execute(
        update(_S)
        .where(_S.id == candidate, _S.mac.is_(None), _S.slot <= seats)
        .values(**values, first_seen=now, last_seen=now)
    ).rowcount
    return int(candidate) if taken == 1 else None


def heartbeat(
    session: Session, mac: str, machine_id: str, *, today: dt.date | None = None
) -> SeatInfo:
    """Record that the workstation holding a seat is still running ("last seen")."""
    mac, machine_id = normalize_mac(mac), normalize_machine_id(machine_id)
    seats = seat_license(session, today=today).document.seats
    conn = session.connection()
    held = _held(conn, mac, machine_id)
    if held is None or held.slot > seats or not _touch(conn, held.id, mac, machine_id):
        raise Refused(_("This workstation holds no seat any more; claim one again."))
    return _seat(conn, held.id)


def list_seats(session: Session) -> list[SeatInfo]:
    """Return every held seat in slot order."""
    rows = session.execute(select(*_COLUMNS).where(_S.mac.is_not(None)).order_by(_S.slot))
    return [_from_row(row) for row in rows]


def release_seat(session: Session, seat_id: int, actor: Actor) -> SeatInfo:
    """Free a seat (of a machine that is gone) and log it as a system event."""
    conn = session.connection()
    row = conn.execute(select(*_COLUMNS).where(_S.id == seat_id)).first()
    if row is None:
        raise NotFound(
            _("There is no seat with ID %(seat_id)s; see `ibdesk seats list`.", seat_id=seat_id)
        )
    if row.mac is None:
        raise Refused(_("Seat ID %(seat_id)s is already free.", seat_id=seat_id))
    seat = _from_row(row)
    freed = conn.execute(
        update(_S)
        .where(_S.id == seat_id, _S.mac == seat.mac, _S.machine_id == seat.machine_key)
        .values(**_FREE)
    ).rowcount
    if freed != 1:
        raise Refused(
            _("Seat ID %(seat_id)s changed meanwhile; look at the list again.", seat_id=seat_id)
        )
    audit.system_event(
        session,
        actor,
        "seat.release",
        f"Seat {seat.slot} (ID {seat.id}) of {seat.hostname} ({seat.mac}, machine ID "
        f"{seat.machine_id}) freed.",
    )
    return seat


def _held(conn: Connection, mac: str, machine_id: str) -> Any:
    return conn.execute(
        select(_S.id, _S.slot).where(_S.mac == mac, _S.machine_id == machine_id)
    ).first()


def _touch(
    conn: Connection,
    seat_id: int,
    mac: str,
    machine_id: str,
    hostname: str | None = None,
    reported: str | None = None,
) -> bool:
    values: dict[str, Any] = {"last_seen": utcnow()}
    if hostname is not None:
        values["hostname"] = hostname
    if reported is not None:
        values["machine_id_reported"] = reported
    statement = update(_S).where(_S.id == seat_id, _S.mac == mac, _S.machine_id == machine_id)
    return conn.execute(statement.values(**values)).rowcount == 1


def _seat(conn: Connection, seat_id: int) -> SeatInfo:
    return _from_row(conn.execute(select(*_COLUMNS).where(_S.id == seat_id)).one())


def _from_row(row: Any) -> SeatInfo:
    return SeatInfo(
        id=row.id,
        slot=row.slot,
        hostname=row.hostname or "",
        mac=row.mac or "",
        machine_id=row.machine_id_reported or row.machine_id or "",
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        machine_key=row.machine_id or "",
    )
