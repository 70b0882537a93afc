"""Tamper evidence for the audit trail: a keyed hash chain, sealed by ibdesk.

Workstations write audit events without a sequence number (they never hold the key). ibdesk
*seals* them: in id order it gives each new event the next sequence number and a hash
chained to the previous event's, HMAC-SHA256 keyed with a secret of this installation
that lives only in ibdesk's local configuration folder (mode 0600), never in the database.
So someone who edits, deletes or inserts rows with raw SQL cannot make a chain that
verifies. The newest sealed sequence number and hash are also kept beside the key, so
deleting the newest events is caught too.

Sealing holds new audit inserts off for a moment (PostgreSQL: SHARE lock; SQLite: the
writer lock), so no event can commit with a lower id after a higher one was sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from ibdesk import config
from ibdesk.db import keyset_scan, session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import ngettext
from ibdesk.models import AuditEvent
from ibdesk.progress import Job, LogLine, Progress, run_to_end

KEY_FILE = "audit-chain.key"
HEAD_FILE = "audit-chain-head.json"
GENESIS = "0" * 64
BATCH = 5_000


class MissingKey(UserError):
    """This installation's audit key is not on this machine."""


def _key_path() -> Path:
    return config.config_dir() / KEY_FILE


def load_key(*, create: bool = False) -> bytes:
    """Return this installation's chain key, creating it on first use when asked."""
    path = _key_path()
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        if not create:
            raise MissingKey(
                _(
                    "The audit log key %(path)s is missing, so the log cannot be "
                    "checked on this machine; run ibdesk where the database was set "
                    "up, or restore the key from its backup.",
                    path=path,
                )
            ) from None
    except ValueError as error:
        raise MissingKey(_("The audit log key %(path)s is damaged.", path=path)) from error
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex())
    return key


def canonical(event: Any, seq: int) -> bytes:
    """Return the bytes of an event (an AuditEvent, or its table's row) that its hash covers:
    every column but the hashes."""
    at = event.at.isoformat(timespec="microseconds") if event.at else ""
    fields = [
        seq,
        event.id,
        at,
        event.user_name,
        event.machine,
        event.patient_id,
        event.personnummer,
        event.action,
        event.entity,
        event.entity_id,
        event.changes,
    ]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def link(key: bytes, previous: str, event: Any, seq: int) -> str:
    """Return the chained hash of an event following the one whose hash is `previous`."""
    return hmac.new(
        key, previous.encode() + b"|" + canonical(event, seq), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True)
class Head:
    """The newest sealed event: its sequence number and chained hash."""

    seq: int
    chain_hash: str


def _read_head() -> Head | None:
    try:
        data = json.loads((config.config_dir() / HEAD_FILE).read_text(encoding="utf-8"))
        return Head(int(data["seq"]), str(data["chain_hash"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _write_head(head: Head) -> None:
    path = config.config_dir() / HEAD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    config.write_private(path, json.dumps({"seq": head.seq, "chain_hash": head.chain_hash}))


def adopt_head(head: Head | None) -> None:
    """Make ``head`` the newest sealed event this computer knows of (None: no chain yet).

    For a restore that replaced this computer's own clinic database with a backup whose
    chain was verified against the head it recorded: the events after it are gone by the
    administrator's choice (the restore is in the system log), not behind the program's back.
    """
    if head is None:
        (config.config_dir() / HEAD_FILE).unlink(missing_ok=True)
    else:
        _write_head(head)


# Run on the Core connection: a plain executemany, not the ORM's bulk update.
_SEAL = (
    update(AuditEvent)
    .where(AuditEvent.id == bindparam("b_id"))
    .values(seq=bindparam("b_seq"), prev_hash=bindparam("b_prev"), chain_hash=bindparam("b_chain"))
)


def _lock_for_seal(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("LOCK TABLE audit_event IN SHARE ROW EXCLUSIVE MODE"))
    elif dialect == "mssql":
        session.execute(text("SELECT COUNT(*) FROM audit_event WITH (TABLOCKX, HOLDLOCK)"))


def last_sealed(conn: Connection | Session) -> tuple[int, str] | None:
    """Return the newest sealed audit event's sequence number and chain hash (None: none yet)."""
    row = conn.execute(
        select(AuditEvent.seq, AuditEvent.chain_hash)
        .where(AuditEvent.seq.is_not(None))
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    return (int(row[0] or 0), str(row[1])) if row is not None else None


def seal(engine: Engine) -> int:
    """Chain every not yet sealed audit event; return how many were sealed."""
    key = load_key(create=True)
    sealed = 0
    head: Head | None = None
    with session_scope(engine) as session:
        _lock_for_seal(session)
        seq, previous = last_sealed(session) or (0, GENESIS)
        while True:
            batch = session.execute(
                select(*AuditEvent.__table__.c)
                .where(AuditEvent.seq.is_(None))
                .order_by(AuditEvent.id)
                .limit(BATCH)
            ).all()
            if not batch:
                break
            sealed_rows = []
            for event in batch:
                seq += 1
                chained = link(key, previous, event, seq)
                sealed_rows.append(
                    {"b_id": event.id, "b_seq": seq, "b_prev": previous, "b_chain": chained}
                )
                previous = chained
            # One executemany per batch (Core, not matched against the loaded objects).
            session.connection().execute(_SEAL, sealed_rows)
            sealed += len(batch)
        head = Head(seq, previous) if seq else None
    if head is not None:
        _write_head(head)
    return sealed


@dataclass(frozen=True)
class ChainReport:
    """The outcome of checking the chain: ok, or the first problem found."""

    checked: int
    unsealed: int
    problem: str = ""
    event_id: int | None = None
    seq: int | None = None

    @property
    def ok(self) -> bool:
        """Return whether no tampering was found."""
        return not self.problem


def _sealed_events(session: Session) -> Iterator[Row[Any]]:
    return keyset_scan(session, AuditEvent, AuditEvent.seq, BATCH)


def verify(session: Session) -> ChainReport:
    """Recompute the chain and report the first event altered, deleted or inserted."""
    report, _result = run_to_end(verify_steps(session))
    return report


def verify_steps(session: Session, *, expected_head: Head | None = None) -> Job[ChainReport]:
    """Verify the chain as a job: progress after every batch, the report as its result.

    ``expected_head`` replaces the head kept beside the key (a restored copy of the database
    is checked against the head its backup recorded).
    """
    key = load_key()
    total = int(session.scalar(select(func.max(AuditEvent.seq))) or 0)
    previous, expected_seq, checked, last_id = GENESIS, 1, 0, 0
    yield Progress(0, total, _("audit events checked"))
    for event in _sealed_events(session):
        if checked and checked % BATCH == 0:
            yield Progress(checked, max(total, checked), _("audit events checked"))
        seq = int(event.seq or 0)
        problem = _event_problem(key, event, seq, previous, expected_seq, checked)
        if problem is not None:
            return problem
        previous, expected_seq, last_id = event.chain_hash or "", seq + 1, event.id
        checked += 1
    head = expected_head if expected_head is not None else _read_head()
    problem = _head_problem(head, previous, expected_seq, checked, last_id)
    if problem is not None:
        return problem
    return _unsealed_report(session, checked, last_id)


def _event_problem(
    key: bytes, event: Row[Any], seq: int, previous: str, expected_seq: int, checked: int
) -> ChainReport | None:
    """Return the report on a sealed event out of sequence or with a wrong hash, else None."""
    if seq != expected_seq:
        return ChainReport(
            checked,
            0,
            _(
                "Audit events %(expected_seq)s to %(value)s were deleted behind "
                "the program's back (the sequence jumps).",
                expected_seq=expected_seq,
                value=seq - 1,
            ),
            event.id,
            expected_seq,
        )
    if event.prev_hash != previous or not hmac.compare_digest(
        link(key, previous, event, seq), event.chain_hash or ""
    ):
        return ChainReport(
            checked,
            0,
            _(
                "Audit event %(seq)s (id %(id)s) was altered or inserted behind "
                "the program's back: its hash does not match.",
                seq=seq,
                id=event.id,
            ),
            event.id,
            seq,
        )
    return None


def _head_problem(
    head: Head | None, previous: str, expected_seq: int, checked: int, last_id: int
) -> ChainReport | None:
    """Return the report on newest events deleted or rewritten since the last seal, else None.

    ``previous`` and ``expected_seq`` are the last checked event's hash and its seq plus one.
    """
    if head is not None and head.seq >= expected_seq:
        return ChainReport(
            checked,
            0,
            _(
                "The newest audit events (%(expected_seq)s to %(seq)s) were "
                "deleted behind the program's back.",
                expected_seq=expected_seq,
                seq=head.seq,
            ),
            None,
            expected_seq,
        )
    if head is not None and head.seq == expected_seq - 1 and head.chain_hash != previous:
        return ChainReport(
            checked,
            0,
            _("The newest audit event differs from the one sealed last; the log was rewritten."),
            last_id or None,
            head.seq,
        )
    return None


def _unsealed_report(session: Session, checked: int, last_id: int) -> ChainReport:
    """Return the final report: counts unsealed events and catches one slipped among sealed."""
    # The chain is read from seq 1 up: a row given seq 0 or below would be passed over.
    slipped = session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.seq < 1))
    if slipped is None:
        slipped = session.scalar(
            select(func.min(AuditEvent.id)).where(AuditEvent.seq.is_(None), AuditEvent.id < last_id)
        )
    unsealed = (
        session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None)))
        or 0
    )
    if slipped is not None:
        return ChainReport(
            checked,
            unsealed,
            _(
                "Audit event id %(slipped)s was inserted behind the program's back "
                "among sealed events.",
                slipped=slipped,
            ),
            slipped,
            None,
        )
    return ChainReport(checked, unsealed)


@dataclass(frozen=True)
class LogCheck:
    """The outcome of [Verify log]: how many events were sealed first, then the report."""

    sealed: int
    report: ChainReport


def seal_and_verify(engine: Engine) -> Job[LogCheck]:
    """Seal the new events, then verify the whole chain (a job: it reads every event)."""
    yield LogLine(_("Sealing new audit events…"))
    sealed = seal(engine)
    yield LogLine(
        ngettext("Sealed %(num)s new audit event.", "Sealed %(num)s new audit events.", sealed)
    )
    with session_scope(engine, read_only=True) as session:
        report = yield from verify_steps(session)
    yield Progress(report.checked, report.checked, _("audit events checked"))
    if report.ok:
        yield LogLine(
            _("The audit log is intact: %(checked)s events checked.", checked=report.checked)
        )
    else:
        yield LogLine(report.problem, "error")
    return LogCheck(sealed, report)
