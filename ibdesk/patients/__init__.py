"""Patient administration: search, details, deleting, restoring and purging patients.

Search is done by the database: a personnummer (any typed form, or a prefix of one) is an
index range scan on the normalised number; a name is a prefix range scan on the lower-cased
"last first" key. Paging is keyset paging, so the 1000th page costs what the first does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from ibdesk import audit, clinic_settings, display, limits, personnummer, safefiles
from ibdesk.audit import Actor
from ibdesk.clients import find_patient
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.models import AuditEvent, ImageSet, MediaItem, Patient, utcnow
from ibdesk.snapshots import MediaFacts, snapshot

PAGE_SIZE = 50


@dataclass(frozen=True)
class PatientRow:
    """One line of a patient list."""

    id: int
    personnummer: str
    kind: str
    first_name: str
    last_name: str
    deleted: bool

    @property
    def display_number(self) -> str:
        """Return the number as staff write it: YYYYMMDD-NNNN."""
        return display.personnummer(self.personnummer)


@dataclass(frozen=True)
class SearchPage:
    """A page of search results and the cursor for the next page (None at the end)."""

    rows: list[PatientRow]
    next_cursor: str | None
    mode: str  # "number", "name" or "all"
    # Why a complete-looking number is not valid (wrong check digit, serial 000): shown
    # beside the rows, which still hold a patient stored with exactly those digits.
    hint: str | None = None


def _name_prefix(text: str) -> tuple[str, str]:
    key = " ".join(text.lower().split())
    return key, key + "\uffff"


@dataclass(frozen=True)
class Terms:
    """What a search text means: mode "all", "number" (a personnummer range) or "name"."""

    mode: str
    low: str = ""
    high: str = ""


def terms(text: str) -> Terms:
    """Read search-box text the one way every tab does, or raise why it cannot be searched."""
    text = limits.check_search(text.strip())
    if not text:
        return Terms("all")
    number_range = personnummer.search_key(text)
    if number_range is not None:
        return Terms("number", *number_range)
    if any(ch.isdigit() for ch in text):
        # Digits mixed with other characters: say what is wrong with the number.
        personnummer.parse(text)
    return Terms("name", *_name_prefix(text))


def name_condition(column: Any, found: Terms) -> Any:
    """Return the SQL condition "column holds the number of a patient the name finds"."""
    names = select(Patient.personnummer).where(
        Patient.name_key >= found.low, Patient.name_key < found.high
    )
    return column.in_(names)


def search(
    session: Session,
    text: str,
    *,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    include_deleted: bool = True,
    exclude: Sequence[int] = (),
) -> SearchPage:
    """Find patients by personnummer (any form or prefix) or by name; blank lists all.

    This one search serves every tab (Patients, Export, Logs) and the CLI, so each says
    the same; ``exclude`` leaves out patients already picked (Export's right-hand list).
    """
    text = text.strip()
    found = terms(text)
    mode = found.mode
    query = select(
        Patient.id,
        Patient.personnummer,
        Patient.kind,
        Patient.first_name,
        Patient.last_name,
        Patient.deleted_at,
    )
    if not include_deleted:
        query = query.where(Patient.deleted_at.is_(None))
    if exclude:
        query = query.where(Patient.id.not_in(list(exclude)[: limits.EXCLUDED_MAX]))
    if mode != "name":
        if mode == "number":
            query = query.where(
                Patient.personnummer >= found.low, Patient.personnummer < found.high
            )
        if cursor:
            query = query.where(Patient.personnummer > cursor)
        query = query.order_by(Patient.personnummer)
    else:
        query = query.where(Patient.name_key >= found.low, Patient.name_key < found.high)
        if cursor:
            key, _sep, last_text = cursor.rpartition("\x1f")
            last_id = limits.row_id(last_text)
            if last_id is None:
                raise UserError(_("This page's address is damaged; search again."))
            # Spelled out: SQL Server has no row-value comparison.
            query = query.where(
                or_(Patient.name_key > key, and_(Patient.name_key == key, Patient.id > last_id))
            )
        query = query.order_by(Patient.name_key, Patient.id)
        query = query.add_columns(Patient.name_key)
    result: list[Any] = list(session.execute(query.limit(limit + 1)).all())
    rows = [PatientRow(r[0], r[1], r[2], r[3], r[4], r[5] is not None) for r in result[:limit]]
    next_cursor = None
    if len(result) > limit:
        last = result[limit - 1]
        next_cursor = f"{last[6]}\x1f{last[0]}" if mode == "name" else last[1]
    hint = personnummer.typed_problem(text) if mode == "number" else None
    return SearchPage(rows, next_cursor, mode, hint)


@dataclass(frozen=True)
class MediaView(MediaFacts):
    """A media item as the details page shows it."""

    deleted: bool


@dataclass(frozen=True)
class ImageSetView:
    """An image set ("status") with its media."""

    id: int
    taken_on: dt.date
    description: str
    signed_at: dt.datetime | None
    signed_by: str | None
    signature_digest: str | None
    media: list[MediaView]

    @property
    def kind_counts(self) -> dict[str, int]:
        """Return how many live media of each kind the set holds."""
        counts: dict[str, int] = {}
        for item in self.media:
            if not item.deleted:
                counts[item.kind] = counts.get(item.kind, 0) + 1
        return counts


@dataclass(frozen=True)
class PatientDetails:
    """Everything the details page shows about one patient."""

    patient: Patient
    image_sets: list[ImageSetView] = field(default_factory=list)

    @property
    def media_count(self) -> int:
        """Return the number of live media items."""
        return sum(len([m for m in s.media if not m.deleted]) for s in self.image_sets)


def details(session: Session, number: str, *, actor: Actor | None = None) -> PatientDetails:
    """Return a patient's details, sets and media; record the viewing when an actor is given."""
    patient = find_patient(session, number, include_deleted=True)
    sets = list(
        session.scalars(
            select(ImageSet)
            .where(ImageSet.patient_id == patient.id)
            .order_by(ImageSet.taken_on.desc(), ImageSet.id.desc())
        )
    )
    media_by_set: dict[int, list[MediaView]] = {s.id: [] for s in sets}
    for m in session.scalars(
        select(MediaItem).where(MediaItem.patient_id == patient.id).order_by(MediaItem.id)
    ):
        media_by_set.setdefault(m.image_set_id, []).append(_media_view(m))
    views = [_set_view(s, media_by_set.get(s.id, [])) for s in sets]
    if actor is not None:
        audit.record(session, actor, "patient.view", patient=patient, entity_id=patient.id)
    return PatientDetails(patient, views)


def _media_view(m: MediaItem) -> MediaView:
    return snapshot(MediaView, m, deleted=m.deleted_at is not None)


def _set_view(s: ImageSet, media: list[MediaView]) -> ImageSetView:
    return ImageSetView(
        s.id, s.taken_on, s.description, s.signed_at, s.signed_by, s.signature_digest, media
    )


def _confirm(patient: Patient, typed: str) -> None:
    try:
        same = personnummer.stored_form(typed) == patient.personnummer
    except UserError:
        same = False
    if not same:
        raise Refused(
            _(
                "The number typed to confirm does not match this patient's personnummer; "
                "nothing was changed."
            )
        )


def delete_patient(session: Session, actor: Actor, number: str, *, confirm: str) -> Patient:
    """Hide a patient from the workstations (undoable); the personnummer must be typed again."""
    patient = find_patient(session, number)
    _confirm(patient, confirm)
    _set_deleted(session, actor, patient, deleted=True)
    return patient


def restore_patient(session: Session, actor: Actor, number: str) -> Patient:
    """Bring a deleted patient back to the workstations."""
    patient = find_patient(session, number, include_deleted=True)
    if patient.deleted_at is None:
        raise Refused(
            _("Patient %(number)s is not deleted; there is nothing to restore.", number=number)
        )
    _set_deleted(session, actor, patient, deleted=False)
    return patient


def _set_deleted(session: Session, actor: Actor, patient: Patient, *, deleted: bool) -> None:
    """Hide a patient (or bring one back) and note it in the patient's log."""
    patient.deleted_at, patient.deleted_by = (utcnow(), actor.user) if deleted else (None, None)
    audit.record(
        session,
        actor,
        "patient.delete" if deleted else "patient.restore",
        patient=patient,
        entity_id=patient.id,
        changes={"deleted": [not deleted, deleted]},
    )


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed, and the files it could not remove."""

    personnummer: str
    image_sets: int
    media: int
    files_removed: int
    files_left: list[str]


def purge_patient(session: Session, actor: Actor, number: str, *, confirm: str) -> PurgeResult:
    """Remove a patient's rows and files for good; refused while any image set is signed.

    The rows go in one transaction, committed here; then the files are removed (a file that
    cannot be removed is listed, never leaves a row pointing at nothing). The audit trail
    stays: its events keep the personnummer.
    """
    patient = find_patient(session, number, include_deleted=True)
    _confirm(patient, confirm)
    signed = session.scalar(
        select(func.count())
        .select_from(ImageSet)
        .where(ImageSet.patient_id == patient.id, ImageSet.signed_at.is_not(None))
    )
    if signed:
        raise Refused(
            _(
                "Patient %(number)s has %(signed)s signed image set(s); a patient "
                "with signed records cannot be purged (delete hides the patient "
                "instead).",
                number=number,
                signed=signed,
            )
        )
    rows = session.execute(
        select(MediaItem.path, MediaItem.sha256).where(MediaItem.patient_id == patient.id)
    ).all()
    paths = [row.path for row in rows]
    sets = (
        session.scalar(
            select(func.count()).select_from(ImageSet).where(ImageSet.patient_id == patient.id)
        )
        or 0
    )
    folder = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    audit.record(
        session,
        actor,
        "patient.purge",
        patient=patient,
        entity_id=patient.id,
        changes={"image_sets": [sets, 0], "media": [len(paths), 0]},
    )
    session.execute(delete(MediaItem).where(MediaItem.patient_id == patient.id))
    session.execute(delete(ImageSet).where(ImageSet.patient_id == patient.id))
    session.execute(delete(Patient).where(Patient.id == patient.id))
    # A file another patient's row still names stays (paths are not unique in the table).
    shared = _still_named(session, paths)
    # So do the thumbnails of a file with the same content elsewhere; the others go too.
    hashes = {row.sha256 for row in rows} - _still_hashed(session, {row.sha256 for row in rows})
    pn = patient.personnummer
    session.commit()
    removed, left = 0, []
    images = safefiles.Folder(folder) if folder else None
    for relative in dict.fromkeys(paths):
        if relative in shared:
            continue
        try:
            if images is None:
                raise safefiles.FileProblem(safefiles.UNREADABLE, "no image folder")
            removed += images.remove(relative)
        except safefiles.FileProblem:
            left.append(relative)  # outside the folder, a link, or not removable: listed
    from ibdesk.patients import thumbnails  # numpy and Pillow: only when purging

    thumbnails.forget(hashes)
    return PurgeResult(pn, sets, len(paths), removed, left)


def _still_named(session: Session, paths: list[str]) -> set[str]:
    """Return those of ``paths`` that some media row still names."""
    found: set[str] = set()
    unique = sorted(set(paths))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found.update(session.scalars(select(MediaItem.path).where(MediaItem.path.in_(chunk))))
    return found


def _still_hashed(session: Session, hashes: set[str]) -> set[str]:
    """Return those of ``hashes`` that some media row still has."""
    found: set[str] = set()
    unique = sorted(hashes)
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found.update(session.scalars(select(MediaItem.sha256).where(MediaItem.sha256.in_(chunk))))
    return found


def audit_count(session: Session, number: str) -> int:
    """Return how many audit events name this patient (also after a purge)."""
    normalised = personnummer.stored_form(number)
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.personnummer == normalised)
        )
        or 0
    )


def check_set_of(session: Session, number: str, set_id: int) -> None:
    """Refuse an image set that is not this patient's (an address naming another's set)."""
    patient = find_patient(session, number, include_deleted=True)
    owner = session.scalar(select(ImageSet.patient_id).where(ImageSet.id == set_id))
    if owner != patient.id:
        raise NotFound(
            _(
                "Patient %(personnummer)s has no image set %(set_id)s.",
                personnummer=display.personnummer(patient.personnummer),
                set_id=set_id,
            )
        )


def image_set_view(session: Session, set_id: int) -> ImageSetView:
    """Return one image set with its media, as the details page shows it (nothing logged)."""
    image_set = session.get(ImageSet, set_id)
    if image_set is None:
        raise NotFound(_("Image set %(set_id)s does not exist.", set_id=set_id))
    media = session.scalars(
        select(MediaItem).where(MediaItem.image_set_id == set_id).order_by(MediaItem.id)
    )
    return _set_view(image_set, [_media_view(m) for m in media])


__all__ = [
    "ImageSetView",
    "NotFound",
    "PatientDetails",
    "PurgeResult",
    "SearchPage",
    "check_set_of",
    "delete_patient",
    "details",
    "image_set_view",
    "purge_patient",
    "restore_patient",
    "search",
]


def live_rows_by_id(session: Session, ids: Sequence[int]) -> list[PatientRow]:
    """Return the patients with these ids that are not deleted, as list rows, in that order."""
    ids = list(dict.fromkeys(ids))
    found: dict[int, PatientRow] = {}
    for start in range(0, len(ids), 500):
        query = select(
            Patient.id, Patient.personnummer, Patient.kind, Patient.first_name, Patient.last_name
        ).where(Patient.id.in_(ids[start : start + 500]), Patient.deleted_at.is_(None))
        for pid, number, kind, first, last in session.execute(query):
            found[pid] = PatientRow(pid, number, kind, first, last, False)
    return [found[i] for i in ids if i in found]
