"""Plain snapshots of what an export reads from the database, loaded a page of patients at a time.

The export job holds no transaction open while it encodes: each page of patients is read in a
short read-only session and turned into these frozen dataclasses, which the XML builder, the
worker processes and the tests use without a database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ibdesk.db import session_scope
from ibdesk.models import AuditEvent, ImageSet, MediaItem, Patient
from ibdesk.snapshots import MediaFacts, snapshot

# Patients per keyset page; a page's image sets and media are read with it.
PAGE_SIZE = 100
# Ids per IN (...) list: well under every backend's bound-parameter limit (SQL Server: 2100).
IN_CHUNK = 500
T = TypeVar("T")


@dataclass(frozen=True)
class MediaRecord(MediaFacts):
    """One live media item of a patient, as stored."""

    image_set_id: int
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True)
class ImageSetRecord:
    """One image set ("status") with its signature and live media."""

    id: int
    taken_on: dt.date
    description: str
    created_at: dt.datetime
    created_by: str
    signed_at: dt.datetime | None
    signed_by: str | None
    signature_digest: str | None
    media: tuple[MediaRecord, ...]


@dataclass(frozen=True)
class PatientRecord:
    """One patient with identity, contact details, note and image sets."""

    id: int
    personnummer: str
    kind: str
    first_name: str
    last_name: str
    address: str
    postal_code: str
    city: str
    phone: str
    note: str
    created_at: dt.datetime
    created_by: str
    modified_at: dt.datetime
    modified_by: str
    image_sets: tuple[ImageSetRecord, ...]

    @property
    def media(self) -> Iterator[MediaRecord]:
        """Yield every live media item of the patient, set by set."""
        for image_set in self.image_sets:
            yield from image_set.media


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the patient's audit history."""

    id: int
    seq: int | None
    at: dt.datetime
    user_name: str
    machine: str
    action: str
    entity: str
    entity_id: int | None
    changes: str
    chain_hash: str | None


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """Yield consecutive slices of at most ``size`` values."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def live_patient_ids(session: Session, after: int, limit: int) -> list[int]:
    """Return the next ``limit`` live patient ids above ``after`` (keyset paging)."""
    return list(
        session.scalars(
            select(Patient.id)
            .where(Patient.id > after, Patient.deleted_at.is_(None))
            .order_by(Patient.id)
            .limit(limit)
        )
    )


def count_live_media(session: Session, patient_ids: Sequence[int]) -> int:
    """Count the live media items of the given patients (the database counts)."""
    total = 0
    for part in chunks(patient_ids):
        total += (
            session.scalar(
                select(func.count(MediaItem.id)).where(
                    MediaItem.patient_id.in_(part), MediaItem.deleted_at.is_(None)
                )
            )
            or 0
        )
    return total


def load_patients(session: Session, patient_ids: Sequence[int]) -> list[PatientRecord]:
    """Read the given live patients with their image sets and live media, in id order."""
    patients = list(
        session.scalars(
            select(Patient)
            .where(Patient.id.in_(patient_ids), Patient.deleted_at.is_(None))
            .order_by(Patient.id)
        )
    )
    sets: dict[int, list[ImageSet]] = {p.id: [] for p in patients}
    for image_set in session.scalars(
        select(ImageSet)
        .where(ImageSet.patient_id.in_(patient_ids))
        .order_by(ImageSet.patient_id, ImageSet.id)
    ):
        sets.setdefault(image_set.patient_id, []).append(image_set)
    media: dict[int, list[MediaRecord]] = {}
    for item in session.scalars(
        select(MediaItem)
        .where(MediaItem.patient_id.in_(patient_ids), MediaItem.deleted_at.is_(None))
        .order_by(MediaItem.image_set_id, MediaItem.id)
    ):
        media.setdefault(item.image_set_id, []).append(snapshot(MediaRecord, item))
    return [
        snapshot(
            PatientRecord,
            p,
            image_sets=tuple(
                snapshot(ImageSetRecord, s, media=tuple(media.get(s.id, ())))
                for s in sets.get(p.id, ())
            ),
        )
        for p in patients
    ]


def audit_history(session: Session, patient_id: int) -> Iterator[AuditRecord]:
    """Yield the patient's audit events in the order they were written."""
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.patient_id == patient_id)
        .order_by(AuditEvent.id)
        .execution_options(yield_per=500)
    )
    for event in rows:
        yield snapshot(AuditRecord, event)


def pages(
    engine: Engine, patient_ids: Sequence[int] | None, page_size: int | None = None
) -> Iterator[list[PatientRecord]]:
    """Yield the selected patients a page at a time (every live patient when ids is None)."""
    page_size = page_size or PAGE_SIZE
    if patient_ids is not None:
        for part in chunks(patient_ids, page_size):
            with session_scope(engine, read_only=True) as session:
                page = load_patients(session, part)
            if page:
                yield page
        return
    after = 0
    while True:
        with session_scope(engine, read_only=True) as session:
            ids = live_patient_ids(session, after, page_size)
            if not ids:
                return
            page = load_patients(session, ids)
        after = ids[-1]
        if page:
            yield page
