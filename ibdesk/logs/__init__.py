"""Reading the logs: the patient audit trail, the system log and the login log.

Pages are keyset pages, newest first (``id < cursor``), served from the indexes on
(patient_id, id), (personnummer, id), (user_name, id), (action, id) and (at, id), so
the 1000th page of ten million events costs what the first does. CSV export streams.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from ibdesk import auditwords, csvsafe, patients, personnummer
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.models import AuditEvent, LoginEvent, SystemEvent

PAGE_SIZE = 100


@dataclass(frozen=True)
class AuditFilter:
    """What the patient log shows; empty fields do not filter."""

    personnummer: str = ""
    user: str = ""
    action: str = ""
    since: dt.date | None = None
    until: dt.date | None = None

    def normalised_number(self) -> str | None:
        """Return the one patient's 12 digits the filter names, or None (blank, a range, a name)."""
        text = self.personnummer.strip()
        if not text:
            return None
        try:
            return personnummer.stored_form(text)
        except personnummer.PersonnummerError:
            return None

    def patient_terms(self) -> patients.Terms:
        """Read the patient box as the patient search does (number, beginning or name)."""
        return patients.terms(self.personnummer)


def parse_date(text: str | None, what: str) -> dt.date | None:
    """Parse YYYY-MM-DD, or say what is wrong."""
    if not text or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            _("The start date '%(text)s' is not a date; write it as YYYY-MM-DD.", text=text)
            if what == "start"
            else _("The end date '%(text)s' is not a date; write it as YYYY-MM-DD.", text=text)
        ) from None


def _day_start(day: dt.date) -> dt.datetime:
    """Return when a day starts in this computer's time zone, the one the log is shown in."""
    midnight = dt.datetime(day.year, day.month, day.day)
    try:
        return midnight.astimezone().astimezone(dt.UTC)
    except (OverflowError, ValueError):  # the calendar's first day, before any event
        return midnight.replace(tzinfo=dt.UTC)


def _day_end(day: dt.date) -> dt.datetime | None:
    """Return when the day after ``day`` starts, or None when there is none (9999-12-31)."""
    # The last day the calendar holds has no next day: "until" then leaves nothing out.
    if day == dt.date.max:
        return None
    return _day_start(day + dt.timedelta(days=1))


def _audit_query(flt: AuditFilter) -> Select[Any]:
    query = select(AuditEvent)
    found = flt.patient_terms()
    if found.mode == "number":
        query = query.where(
            AuditEvent.personnummer >= found.low, AuditEvent.personnummer < found.high
        )
    elif found.mode == "name":
        query = query.where(patients.name_condition(AuditEvent.personnummer, found))
    if flt.user.strip():
        query = query.where(AuditEvent.user_name == flt.user.strip())
    if flt.action.strip():
        query = query.where(AuditEvent.action == flt.action.strip())
    if flt.since:
        query = query.where(AuditEvent.at >= _day_start(flt.since))
    end = _day_end(flt.until) if flt.until else None
    if end is not None:
        query = query.where(AuditEvent.at < end)
    if flt.since and flt.until and flt.until < flt.since:
        raise UserError(_("The end date is before the start date."))
    return query


@dataclass(frozen=True)
class Page:
    """A page of log rows, newest first, and the cursor for the next (older) page."""

    rows: list[Any]
    next_cursor: int | None


def _page(
    session: Session, query: Select[Any], id_column: Any, cursor: int | None, limit: int
) -> Page:
    if cursor is not None:
        query = query.where(id_column < cursor)
    rows = list(session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)


def audit_page(
    session: Session, flt: AuditFilter, *, cursor: int | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Return a page of the patient log matching the filter."""
    return _page(session, _audit_query(flt), AuditEvent.id, cursor, limit)


def _timed_page(
    session: Session, query: Select[Any], model: Any, cursor: int | None, limit: int
) -> Page:
    """Return a page newest first by the event's own time (then id), the cursor a row id.

    Workstations report log-ins (and 1.2 conversion brings old ones) out of time order, so
    the id alone does not say which is newest; the (at, id) index keeps this a range scan.
    """
    if cursor is not None:
        last_at = session.scalar(select(model.at).where(model.id == cursor))
        if last_at is None:
            raise UserError(
                _("That log page does not exist; open the log from its first page again.")
            )
        # Spelled out: SQL Server has no row-value comparison.
        query = query.where(or_(model.at < last_at, and_(model.at == last_at, model.id < cursor)))
    rows = list(session.scalars(query.order_by(model.at.desc(), model.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)


@dataclass(frozen=True)
class SystemFilter:
    """What the system log shows; empty fields do not filter."""

    level: str = ""
    action: str = ""
    since: dt.date | None = None
    until: dt.date | None = None


def system_page(
    session: Session,
    flt: SystemFilter | None = None,
    *,
    cursor: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Return a page of the system log, newest first, filtered by level, event and dates."""
    flt = flt or SystemFilter()
    query = select(SystemEvent)
    if flt.level.strip():
        query = query.where(SystemEvent.level == flt.level.strip())
    if flt.action.strip():
        query = query.where(SystemEvent.action == flt.action.strip())
    if flt.since and flt.until and flt.until < flt.since:
        raise UserError(_("The end date is before the start date."))
    if flt.since:
        query = query.where(SystemEvent.at >= _day_start(flt.since))
    end = _day_end(flt.until) if flt.until else None
    if end is not None:
        query = query.where(SystemEvent.at < end)
    return _timed_page(session, query, SystemEvent, cursor, limit)


def login_page(
    session: Session,
    *,
    user: str = "",
    failures_only: bool = False,
    cursor: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Return a page of the login log."""
    query = select(LoginEvent)
    if user.strip():
        query = query.where(LoginEvent.user_name == user.strip())
    if failures_only:
        query = query.where(LoginEvent.success.is_(False))
    return _timed_page(session, query, LoginEvent, cursor, limit)


AUDIT_CSV_HEADER = (
    "id",
    "seq",
    "time_utc",
    "user",
    "machine",
    "personnummer",
    "action",
    "entity",
    "entity_id",
    "changes",
    "event",
)


def audit_rows(session: Session, flt: AuditFilter, batch: int = 2000) -> Iterator[AuditEvent]:
    """Yield every event matching the filter, newest first, a page at a time."""
    cursor: int | None = None
    while True:
        page = audit_page(session, flt, cursor=cursor, limit=batch)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
        session.expunge_all()


def audit_csv(session: Session, flt: AuditFilter) -> Iterator[str]:
    """Stream the filtered patient log as CSV text, a chunk at a time."""
    buffer = io.StringIO()
    writer = csvsafe.Writer(buffer)
    writer.writerow(AUDIT_CSV_HEADER)
    describe = auditwords.Describer(session)
    # Consecutive images added to one status are one row, as on the page; the row carries
    # the newest event's id and every event's changes.
    for n, event in enumerate(describe.grouped(audit_rows(session, flt)), 1):
        writer.writerow(
            (
                event.id,
                event.seq,
                event.at.isoformat(),
                event.user_name,
                event.machine,
                event.personnummer or "",
                event.action,
                event.entity,
                event.entity_id or "",
                " | ".join(text for text in event.change_texts if text),
                describe(event),
            )
        )
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# The actions ibdesk and the workstations write, offered as suggestions in the log filter.
KNOWN_ACTIONS = (
    "patient.view",
    "patient.create",
    "patient.update",
    "patient.delete",
    "patient.restore",
    "patient.purge",
    "image_set.create",
    "image_set.sign",
    "image_set.unsign",
    "media.add",
    "media.update",
    "media.delete",
    "media.undelete",
)


@dataclass(frozen=True)
class AccessLine:
    """Who did one kind of thing to a patient's record, how often, first and last time."""

    user: str
    action: str
    events: int
    first: dt.datetime
    last: dt.datetime


def patient_access(session: Session, number: str) -> list[AccessLine]:
    """Summarise who has seen and changed a patient's record (counted by the database)."""
    normalised = personnummer.stored_form(number)  # also a number kept as typed in 1.2
    query = (
        select(
            AuditEvent.user_name,
            AuditEvent.action,
            func.count(),
            func.min(AuditEvent.at),
            func.max(AuditEvent.at),
        )
        .where(AuditEvent.personnummer == normalised)
        .group_by(AuditEvent.user_name, AuditEvent.action)
        .order_by(AuditEvent.user_name, AuditEvent.action)
    )
    return [AccessLine(*row) for row in session.execute(query)]
