"""The clinic's license: install a vendor file, read the current one back verified, history.

The Licensing tab, the wizard's step 3 and ``ibdesk license`` install through
``install_license``: signature, key, dates and seat count are checked before anything is
written; then it becomes current (earlier ones stay as history) and the seat slots are made
to match. Every reader verifies the stored document again, so an edited database grants
nothing.

Demo licenses (``make_demo_license``) are made locally, unsigned (no private key may be in
the repository): ``demo: true``, licensee starting with DEMO, at most three seats, bound to
the database's random ``demo_database_id`` setting, and void once a real license has been
installed; none can be installed from a file. This is labelling, not copy protection:
whoever administers the database can write settings, just as they can trust their own key
with ``IBDESK_TRUST_KEY``. It keeps a clinic from drifting into using one: the supported
path refuses a database that ever held a real license, it never exceeds three seats, and
it says DEMO on every screen and seat claim.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from sqlalchemy import Executable, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from ibdesk import audit, clinic_settings
from ibdesk.audit import Actor
from ibdesk.errors import Refused
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.i18n import ngettext
from ibdesk.licensing.licensefile import (
    DEMO_KEY_ID,
    MAX_FILE_BYTES,
    LicenseDocument,
    LicenseError,
    Trust,
    parse,
    render_body,
    verify,
)
from ibdesk.models import License, SeatActivation, utcnow

DEMO_DATABASE_ID = "demo_database_id"
DEMO_SEATS = 3
DEMO_PREFIX = "DEMO"
DEMO_ORG_NUMBER = "000000-0000"
_STORED = _l("The installed license")


@dataclass(frozen=True)
class VerifiedLicense:
    """A license document whose signature (or demo rules) and dates have been checked."""

    document: LicenseDocument
    trust: Trust
    key_name: str


@dataclass(frozen=True)
class LicenseInfo:
    """What the Licensing tab, the wizard and ``ibdesk license show`` display."""

    row_id: int
    license_id: str
    key_id: str
    key_name: str
    licensee: str
    org_number: str
    seats: int
    created_on: dt.date
    expires_on: dt.date | None
    trust: Trust | None
    active_seats: int
    installed_at: dt.datetime
    installed_by: str
    is_current: bool
    problem: str | None

    @property
    def valid(self) -> bool:
        """Return whether this license verifies and has not expired."""
        return self.problem is None

    @property
    def is_demo(self) -> bool:
        """Return whether this is a demo license."""
        return self.trust is Trust.DEMO or self.key_id == DEMO_KEY_ID

    @property
    def registered_to(self) -> str:
        """Return the licensee and organisation number as shown on screen."""
        return f"{self.licensee} ({self.org_number})"

    @property
    def title(self) -> str:
        """Return the heading to show: DEMO and TEST licenses say so."""
        if self.is_demo:
            return _("DEMO license")
        if self.trust is Trust.TEST_KEY:
            return _("TEST license")
        return _("License")

    @property
    def notice(self) -> str | None:
        """Return the warning every screen must show for a demo or test license."""
        if self.is_demo:
            return _(
                "DEMO license: for trying ImageBank with the demo database only, "
                "not for clinical use."
            )
        if self.trust is Trust.TEST_KEY:
            return _(
                "TEST license: verified by a key trusted only through "
                "IBDESK_TRUST_KEY (%(key_name)s), not by the vendor's key.",
                key_name=self.key_name,
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        """Return the fields, title and notice as plain JSON-ready values."""
        extra = ("title", "notice", "registered_to", "valid", "is_demo")
        return asdict(self) | {name: getattr(self, name) for name in extra}


def check_document(
    session: Session, document: LicenseDocument, *, today: dt.date | None = None
) -> VerifiedLicense:
    """Verify a license's signature (or a demo license's rules) and that it has not expired."""
    verified = _trust(session, document)
    _check_expiry(document, today)
    return verified


def _trust(session: Session, document: LicenseDocument) -> VerifiedLicense:
    if document.demo:
        _check_demo(session, document)
        return VerifiedLicense(document, Trust.DEMO, "demo")
    key = verify(document)
    return VerifiedLicense(document, key.source, key.name)


def _check_expiry(document: LicenseDocument, today: dt.date | None) -> None:
    if document.expires_on is not None and document.expires_on < (today or dt.date.today()):
        raise LicenseError(
            _(
                "The license expired on %(isoformat)s; ask the vendor for a renewed license.",
                isoformat=document.expires_on.isoformat(),
            )
        )


def _check_demo(session: Session, document: LicenseDocument) -> None:
    if document.seats > DEMO_SEATS or not document.licensee.startswith(DEMO_PREFIX):
        raise LicenseError(
            _(
                "The demo license is not valid: a demo license has at most "
                "%(DEMO_SEATS)s seats and its licensee starts with %(DEMO_PREFIX)s.",
                DEMO_SEATS=DEMO_SEATS,
                DEMO_PREFIX=DEMO_PREFIX,
            )
        )
    if clinic_settings.get(session, DEMO_DATABASE_ID) != document.database_id:
        raise LicenseError(
            _(
                "The demo license belongs to another database; a demo license works only in "
                "the demo database it was made for."
            )
        )
    if _has_held_real_license(session):
        raise LicenseError(
            _(
                "A demo license stops working once a real license has been installed in "
                "this database."
            )
        )


def _has_held_real_license(session: Session) -> bool:
    query = select(License.id).where(License.key_id != DEMO_KEY_ID).limit(1)
    return session.execute(query).first() is not None


def has_held_real_license(session: Session) -> bool:
    """Tell whether this database has ever held a clinic's real (not DEMO) license."""
    return _has_held_real_license(session)


def _current_row(session: Session) -> License | None:
    query = select(License).where(License.is_current.is_(True)).order_by(License.id.desc())
    return session.scalars(query.limit(1)).first()


def seat_license(session: Session, *, today: dt.date | None = None) -> VerifiedLicense:
    """Return the current license, verified here, or refuse with a sentence for a workstation."""
    row = _current_row(session)
    if row is None:
        raise Refused(
            _(
                "No license is installed; ask the administrator to install the clinic's "
                "license in ImageBank SysAdmin."
            )
        )
    try:
        document = parse(row.document.encode("utf-8"), name=_STORED)
        return check_document(session, document, today=today)
    except LicenseError as error:
        reason = str(error)
        raise Refused(
            _(
                "The clinic's license cannot grant seats: %(reason)s",
                reason=reason[:1].lower() + reason[1:],
            )
        ) from error


def _info(session: Session, row: License, today: dt.date | None) -> LicenseInfo:
    """Describe a stored license from its verified document (or its columns if it fails)."""
    source: License | LicenseDocument = row
    trust, key_name, problem = None, "", None
    try:
        source = parse(row.document.encode("utf-8"), name=_STORED)
        verified = _trust(session, source)
        trust, key_name = verified.trust, verified.key_name
        _check_expiry(source, today)
    except LicenseError as error:
        problem = str(error)
    held = SeatActivation.mac.is_not(None), SeatActivation.slot <= source.seats
    count = select(func.count()).select_from(SeatActivation).where(*held)
    return LicenseInfo(
        row_id=row.id,
        license_id=source.license_id,
        key_id=source.key_id,
        key_name=key_name,
        licensee=source.licensee,
        org_number=source.org_number,
        seats=source.seats,
        created_on=source.created_on,
        expires_on=source.expires_on,
        trust=trust,
        active_seats=session.execute(count).scalar_one() if row.is_current else 0,
        installed_at=row.installed_at,
        installed_by=row.installed_by,
        is_current=row.is_current,
        problem=problem,
    )


def current_license(session: Session, *, today: dt.date | None = None) -> LicenseInfo | None:
    """Return the current license, verified again, or None when none is installed."""
    row = _current_row(session)
    return _info(session, row, today) if row is not None else None


def license_history(session: Session, *, today: dt.date | None = None) -> list[LicenseInfo]:
    """Return every license ever installed, newest first (the current one included)."""
    rows = session.scalars(select(License).order_by(License.id.desc()))
    return [_info(session, row, today) for row in rows]


def install_license(
    session: Session,
    data: bytes,
    actor: Actor,
    *,
    name: str = "",
    today: dt.date | None = None,
) -> LicenseInfo:
    """Validate a license file and make it current; refuse with one sentence, changing nothing."""
    name = name or upload_name(None)
    document = parse(data, name=name)
    if document.demo:
        raise LicenseError(
            _(
                "%(name)s is a demo license; demo licenses come with the demo database "
                "and cannot be installed.",
                name=name,
            )
        )
    verified = check_document(session, document, today=today)
    if document.created_on > (today or dt.date.today()):
        raise LicenseError(
            _(
                "The license is dated %(isoformat)s, which is in the future; check "
                "this computer's date, or ask the vendor.",
                isoformat=document.created_on.isoformat(),
            )
        )
    _lock_seats(session)
    fit_slots(session, document.seats)
    current = _current_row(session)
    if current is not None and current.document == document.text:
        return _info(session, current, today)  # installed again: only the slots are repaired
    return _info(session, _store(session, verified, actor), today)


def make_demo_license(
    session: Session,
    actor: Actor,
    *,
    clinic_name: str | None = None,
    today: dt.date | None = None,
) -> LicenseInfo:
    """Give a demo database its DEMO license (three seats); refuse a real clinic's database."""
    if _has_held_real_license(session):
        raise Refused(
            _(
                "This database has held a real license, so it cannot get a demo license; "
                "demo licenses are only for demo databases."
            )
        )
    current = current_license(session, today=today)
    if current is not None and current.is_demo and current.valid:
        return current
    database_id = clinic_settings.get(session, DEMO_DATABASE_ID)
    if not database_id:
        database_id = uuid.uuid4().hex
        clinic_settings.put(session, DEMO_DATABASE_ID, database_id, by=actor.user)
    clinic = (
        clinic_name or clinic_settings.get(session, clinic_settings.CLINIC_NAME) or "Demo Clinic"
    )
    body = render_body(
        {
            "license-id": f"demo-{uuid.uuid4().hex[:16]}",
            "key-id": DEMO_KEY_ID,
            "licensee": f"{DEMO_PREFIX} – {' '.join(clinic.split())}"[:200].strip(),
            "org-number": DEMO_ORG_NUMBER,
            "seats": str(DEMO_SEATS),
            "created": (today or dt.date.today()).isoformat(),
            "demo": "true",
            "database-id": database_id,
        }
    )
    session.flush()  # the demo check below reads the setting just written
    document = parse((body + "signature: none\n").encode("utf-8"), name=_("The demo license"))
    verified = check_document(session, document, today=today)
    _lock_seats(session)
    fit_slots(session, DEMO_SEATS)
    return _info(session, _store(session, verified, actor), today)


def _lock_seats(session: Session) -> None:
    """Keep claims and other installs out while the slots are renumbered."""
    statement = seat_lock_statement(session.get_bind().dialect.name)
    if statement is not None:
        session.execute(statement)


def seat_lock_statement(dialect: str) -> Executable | None:
    """Return the statement that locks the seat table until commit, for a backend.

    SQLite needs none: every writing transaction there begins with BEGIN IMMEDIATE.
    """
    if dialect == "postgresql":
        # EXCLUSIVE lets readers through but waits for, and then blocks, every writer.
        return text("LOCK TABLE seat_activation IN EXCLUSIVE MODE")
    if dialect == "mssql":
        return (
            select(func.count())
            .select_from(SeatActivation)
            .with_hint(SeatActivation, "WITH (TABLOCKX, HOLDLOCK)", "mssql")
        )
    return None


def fit_slots(session: Session, seats: int) -> None:
    """Make exactly slots 1..seats exist, moving held seats down; refuse if too many are held.

    The caller holds the seat lock (``_lock_seats``). A held seat keeps its id when moved.
    """
    conn = session.connection()
    S = SeatActivation
    rows = conn.execute(select(S.id, S.slot, S.mac, S.hostname, S.last_seen).order_by(S.slot)).all()
    held = [r for r in rows if r.mac is not None]
    if len(held) > seats:
        excess = len(held) - seats
        never = dt.datetime.min.replace(tzinfo=dt.UTC)
        oldest = sorted(held, key=lambda r: (r.last_seen or never, r.slot))[:excess]
        names = ", ".join(
            _("%(hostname)s (seat ID %(id)s)", hostname=r.hostname, id=r.id) for r in oldest
        )
        values = {"seats": seats, "held": len(held), "excess": excess, "names": names}
        if excess == 1:
            message = ngettext(
                "The new license has %(seats)s seat but %(held)s workstations hold one, so "
                "free %(excess)s first, for example %(names)s, which was seen longest ago; "
                "nothing was changed.",
                "The new license has %(seats)s seats but %(held)s workstations hold one, so "
                "free %(excess)s first, for example %(names)s, which was seen longest ago; "
                "nothing was changed.",
                seats,
                **values,
            )
        else:
            message = ngettext(
                "The new license has %(seats)s seat but %(held)s workstations hold one, so "
                "free %(excess)s first, for example %(names)s, which were seen longest ago; "
                "nothing was changed.",
                "The new license has %(seats)s seats but %(held)s workstations hold one, so "
                "free %(excess)s first, for example %(names)s, which were seen longest ago; "
                "nothing was changed.",
                seats,
                **values,
            )
        raise Refused(message)
    present = {r.slot for r in rows}
    missing = [slot for slot in range(1, seats + 1) if slot not in present]
    if missing:
        conn.execute(insert(S), [{"slot": slot} for slot in missing])
    free_low = sorted([r.slot for r in rows if r.mac is None and r.slot <= seats] + missing)
    for row in (r for r in held if r.slot > seats):
        target = free_low.pop(0)
        conn.execute(delete(S).where(S.slot == target, S.mac.is_(None)))
        conn.execute(update(S).where(S.id == row.id).values(slot=target))
    conn.execute(delete(S).where(S.slot > seats, S.mac.is_(None)))
    left = conn.execute(select(func.count()).select_from(S).where(S.slot > seats)).scalar_one()
    if left:
        raise Refused(_("The seats changed while the license was being installed; try again."))


def _store(session: Session, verified: VerifiedLicense, actor: Actor) -> License:
    document = verified.document
    session.execute(update(License).where(License.is_current.is_(True)).values(is_current=False))
    row = License(
        license_id=document.license_id,
        key_id=document.key_id,
        licensee=document.licensee,
        org_number=document.org_number,
        seats=document.seats,
        created_on=document.created_on,
        expires_on=document.expires_on,
        document=document.text,
        installed_at=utcnow(),
        installed_by=actor.user,
        is_current=True,
    )
    session.add(row)
    expires = document.expires_on.isoformat() if document.expires_on else "never"
    audit.system_event(
        session,
        actor,
        "license.install",
        f"{verified.trust.value} license {document.license_id} for "
        f"{document.registered_to}: {document.seats} seats, created "
        f"{document.created_on.isoformat()}, expires {expires}, key {verified.key_name} "
        f"({document.key_id}).",
    )
    session.flush()
    return row


UPLOAD_NAME_CHARS = 80  # of an uploaded file's name, as repeated in messages


def installed_message(info: LicenseInfo) -> str:
    """Say which license was installed, for whom, with how many seats (a whole sentence)."""
    # One sentence per kind of license, so that each language words it whole.
    words = {"id": info.license_id, "licensee": info.registered_to}
    if info.is_demo:
        return ngettext(
            "Installed demo license %(id)s for %(licensee)s with %(num)d seat.",
            "Installed demo license %(id)s for %(licensee)s with %(num)d seats.",
            info.seats,
            **words,
        )
    if info.trust is Trust.TEST_KEY:
        return ngettext(
            "Installed test license %(id)s for %(licensee)s with %(num)d seat.",
            "Installed test license %(id)s for %(licensee)s with %(num)d seats.",
            info.seats,
            **words,
        )
    return ngettext(
        "Installed license %(id)s for %(licensee)s with %(num)d seat.",
        "Installed license %(id)s for %(licensee)s with %(num)d seats.",
        info.seats,
        **words,
    )


def upload_name(filename: str | None) -> str:
    """Return how messages name an uploaded file: its base name, shortened."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base:
        return _("The file")
    short = base if len(base) <= UPLOAD_NAME_CHARS else base[: UPLOAD_NAME_CHARS - 1] + "…"
    return _("The file %(name)s", name=short)


def read_upload(stream: BinaryIO) -> bytes:
    """Read an uploaded license file: one byte more than a license can be, never more."""
    return stream.read(MAX_FILE_BYTES + 1)
