"""One chunk of a demo clinic: patients, their image sets and media, audit trail and log-ins.

Each table's rows are built in Python and inserted in one batch; the ids they get back let
the next table point at them. The random draws happen in a fixed order, so one seed always
makes the same clinic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import personnummer
from ibdesk.bulkwrite import insert_rows
from ibdesk.demo import content as demo_content
from ibdesk.demo.options import DemoOptions, DemoSummary
from ibdesk.models import (
    AuditEvent,
    ImageSet,
    LoginEvent,
    MediaItem,
    MediaKind,
    Patient,
    PatientKind,
)

KIND_WEIGHTS = {
    MediaKind.INTRAORAL: 55,
    MediaKind.PANORAMIC: 10,
    MediaKind.PHOTO: 25,
    MediaKind.VIDEO: 3,
    MediaKind.AUDIO: 3,
    MediaKind.DOCUMENT: 4,
}
# Kinds the demo can make real files for (it has no video encoder).
FILE_KINDS = (
    MediaKind.INTRAORAL,
    MediaKind.PANORAMIC,
    MediaKind.PHOTO,
    MediaKind.AUDIO,
    MediaKind.DOCUMENT,
)
STAFF = (
    ("anna.tandlakare", "RUM-1"),
    ("erik.tandlakare", "RUM-2"),
    ("lena.tandskoterska", "RUM-3"),
    ("karin.hygienist", "RUM-4"),
    ("reception", "RECEPTION"),
)
_SIZES = {
    MediaKind.INTRAORAL: (2_000_000, 4_000_000),
    MediaKind.PANORAMIC: (5_000_000, 9_000_000),
    MediaKind.PHOTO: (1_500_000, 5_000_000),
    MediaKind.VIDEO: (20_000_000, 90_000_000),
    MediaKind.AUDIO: (100_000, 900_000),
    MediaKind.DOCUMENT: (50_000, 400_000),
}
_EXT = {
    MediaKind.INTRAORAL: "png",
    MediaKind.PANORAMIC: "png",
    MediaKind.PHOTO: "jpg",
    MediaKind.VIDEO: "mp4",
    MediaKind.AUDIO: "wav",
    MediaKind.DOCUMENT: "pdf",
}


@dataclass(frozen=True)
class _NewNumber:
    """A patient number not used yet, with what the patient's row needs from its draw."""

    number: str
    kind: str
    female: bool


@dataclass(frozen=True)
class _Created:
    """Who registered a patient and when (the patient's image sets come after)."""

    at: dt.datetime
    since: dt.date
    user: str


@dataclass(frozen=True)
class _SetOwner:
    """The patient an image set row belongs to, who made it and how many media it holds."""

    patient_id: int
    number: str
    user: str
    size: int


def _aware(day: dt.date, rng: random.Random) -> dt.datetime:
    return dt.datetime(
        day.year,
        day.month,
        day.day,
        rng.randint(7, 17),
        rng.randint(0, 59),
        rng.randint(0, 59),
        tzinfo=dt.UTC,
    )


class ChunkWriter:
    """Writes one chunk of patients; keeps the numbers already used in this run."""

    def __init__(
        self, session: Session, options: DemoOptions, rng: random.Random, used: set[str]
    ) -> None:
        """Write into ``session``, drawing from ``rng``; ``used`` is shared by all chunks."""
        self.session, self.options, self.rng, self.used = session, options, rng, used
        self.files_written: list[Path] = []
        self.summary = DemoSummary()
        self.kinds = list(FILE_KINDS if options.image_folder else KIND_WEIGHTS)
        self.weights = [KIND_WEIGHTS[k] for k in self.kinds]

    def write(self, count: int) -> DemoSummary:
        """Insert ``count`` new patients with their image sets, media, audit trail and log-ins."""
        numbers = self._fresh_numbers(count)
        patient_rows, created = self._patient_rows(numbers)
        patient_ids = insert_rows(self.session, Patient, patient_rows)
        audit_rows = self._patient_audit(patient_ids, patient_rows, created)
        set_rows, owners = self._image_set_rows(patient_ids, patient_rows, created)
        set_ids = insert_rows(self.session, ImageSet, set_rows)
        audit_rows += self._image_set_audit(set_ids, set_rows, owners)
        media_rows, media_owners = self._media_rows(set_ids, set_rows, owners)
        media_ids = insert_rows(self.session, MediaItem, media_rows)
        audit_rows += self._media_audit(media_ids, media_rows, media_owners)
        audit_rows.sort(key=lambda r: r["at"])
        insert_rows(self.session, AuditEvent, audit_rows, returning=False)
        logins = self._login_rows(count)
        insert_rows(self.session, LoginEvent, logins, returning=False)
        s = self.summary
        s.patients, s.image_sets, s.media = len(patient_ids), len(set_ids), len(media_ids)
        s.audit_events, s.logins = len(audit_rows), len(logins)
        return s

    def _fresh_numbers(self, count: int) -> list[_NewNumber]:
        """Draw ``count`` patient numbers that neither this run nor the database has."""
        numbers: list[_NewNumber] = []
        while len(numbers) < count:
            # Numbers already in the database (an earlier demo run) are drawn again.
            batch = [self._number() for _ in range(count - len(numbers))]
            taken = set(
                self.session.scalars(
                    select(Patient.personnummer).where(
                        Patient.personnummer.in_([n.number for n in batch])
                    )
                )
            )
            numbers += [n for n in batch if n.number not in taken]
        return numbers

    def _number(self) -> _NewNumber:
        rng, today = self.rng, self.options.today
        while True:
            birth = today - dt.timedelta(days=rng.randint(3 * 365, 95 * 365))
            female = rng.random() < 0.5
            roll = rng.random()
            if roll < 0.005:
                number, kind = f"99{rng.randrange(10**10):010d}", PatientKind.RESERVE
            else:
                coordination = roll < 0.03
                number = personnummer.generate(
                    rng, birth_date=birth, female=female, coordination=coordination
                )
                kind = PatientKind.SAMORDNINGSNUMMER if coordination else PatientKind.PERSONNUMMER
            if number not in self.used:
                self.used.add(number)
                return _NewNumber(number, kind.value, female)

    def _patient_rows(
        self, numbers: list[_NewNumber]
    ) -> tuple[list[dict[str, Any]], list[_Created]]:
        """Build a patient row for each number, and who registered it when."""
        rows: list[dict[str, Any]] = []
        created: list[_Created] = []
        for new in numbers:
            row, made = self._patient_row(new)
            rows.append(row)
            created.append(made)
        return rows, created

    def _patient_row(self, new: _NewNumber) -> tuple[dict[str, Any], _Created]:
        rng = self.rng
        first = rng.choice(demo_content.FEMALE if new.female else demo_content.MALE)
        last = rng.choice(demo_content.LAST)
        city, zip_prefix = rng.choice(demo_content.CITIES)
        since = self.options.today - dt.timedelta(days=rng.randint(30, 12 * 365))
        at = _aware(since, rng)
        user, _machine = rng.choice(STAFF)
        row = {
            "personnummer": new.number,
            "kind": new.kind,
            "first_name": first,
            "last_name": last,
            "name_key": f"{last} {first}".lower(),
            "address": f"{rng.choice(demo_content.STREETS)} {rng.randint(1, 120)}",
            "postal_code": f"{zip_prefix}{rng.randint(100, 999)}",
            "city": city,
            "phone": f"07{rng.randint(0, 9)}-{rng.randint(100, 999)} {rng.randint(10, 99)} "
            f"{rng.randint(10, 99)}",
            "note": rng.choice(demo_content.NOTES),
            "created_at": at,
            "created_by": user,
            "modified_at": at,
            "modified_by": user,
            "deleted_at": None,
            "deleted_by": None,
        }
        return row, _Created(at, since, user)

    def _patient_audit(
        self, ids: list[int], rows: list[dict[str, Any]], created: list[_Created]
    ) -> list[dict[str, Any]]:
        """Return a ``patient.create`` audit row for each inserted patient."""
        return [
            self._audit(
                made.at,
                made.user,
                pid,
                row["personnummer"],
                "patient.create",
                "patient",
                pid,
                {
                    "personnummer": [None, row["personnummer"]],
                    "first_name": [None, row["first_name"]],
                    "last_name": [None, row["last_name"]],
                },
            )
            for pid, row, made in zip(ids, rows, created, strict=True)
        ]

    def _image_set_rows(
        self, ids: list[int], patient_rows: list[dict[str, Any]], created: list[_Created]
    ) -> tuple[list[dict[str, Any]], list[_SetOwner]]:
        """Split each patient's media into image sets of 1 to 8, taken since registration."""
        rng, today = self.rng, self.options.today
        rows: list[dict[str, Any]] = []
        owners: list[_SetOwner] = []
        for pid, patient, made in zip(ids, patient_rows, created, strict=True):
            remaining = self.options.media_per_patient
            while remaining > 0:
                size = min(remaining, rng.randint(1, 8))
                remaining -= size
                day = made.since + dt.timedelta(
                    days=rng.randint(0, max(1, (today - made.since).days))
                )
                rows.append(
                    {
                        "patient_id": pid,
                        "taken_on": day,
                        "description": rng.choice(demo_content.SET_DESCRIPTIONS),
                        "created_at": _aware(day, rng),
                        "created_by": made.user,
                        "signed_at": None,
                        "signed_by": None,
                        "signature_digest": None,
                    }
                )
                owners.append(_SetOwner(pid, patient["personnummer"], made.user, size))
        return rows, owners

    def _image_set_audit(
        self, ids: list[int], rows: list[dict[str, Any]], owners: list[_SetOwner]
    ) -> list[dict[str, Any]]:
        """Return an ``image_set.create`` audit row for each inserted image set."""
        return [
            self._audit(
                row["created_at"],
                owner.user,
                owner.patient_id,
                owner.number,
                "image_set.create",
                "image_set",
                set_id,
                {"taken_on": [None, row["taken_on"].isoformat()]},
            )
            for set_id, row, owner in zip(ids, rows, owners, strict=True)
        ]

    def _media_rows(
        self, ids: list[int], set_rows: list[dict[str, Any]], owners: list[_SetOwner]
    ) -> tuple[list[dict[str, Any]], list[_SetOwner]]:
        """Build each image set's media rows (and files); return them and each one's owner."""
        rows: list[dict[str, Any]] = []
        row_owners: list[_SetOwner] = []
        for set_id, set_row, owner in zip(ids, set_rows, owners, strict=True):
            for n in range(owner.size):
                rows.append(self._media(owner.patient_id, owner.number, set_id, n, set_row))
                row_owners.append(owner)
        return rows, row_owners

    def _media_audit(
        self, ids: list[int], rows: list[dict[str, Any]], owners: list[_SetOwner]
    ) -> list[dict[str, Any]]:
        """Return a ``media.add`` audit row for each inserted media item; count the kinds."""
        audit_rows: list[dict[str, Any]] = []
        kinds = self.summary.kinds
        for mid, row, owner in zip(ids, rows, owners, strict=True):
            audit_rows.append(
                self._audit(
                    row["created_at"],
                    owner.user,
                    row["patient_id"],
                    owner.number,
                    "media.add",
                    "media",
                    mid,
                    {"kind": [None, row["kind"]], "path": [None, row["path"]]},
                )
            )
            kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
        return audit_rows

    def _login_rows(self, count: int) -> list[dict[str, Any]]:
        """Return a year of staff log-ins, one for every ten patients, a few of them failed."""
        rng = self.rng
        return [
            {
                "at": _aware(self.options.today - dt.timedelta(days=rng.randint(0, 365)), rng),
                "user_name": u,
                "machine": m,
                "success": ok,
                "reason": "" if ok else "wrong password",
            }
            for u, m in (rng.choice(STAFF) for _ in range(max(1, count // 10)))
            for ok in (rng.random() > 0.05,)
        ]

    def _audit(
        self,
        at: dt.datetime,
        user: str,
        pid: int,
        number: str,
        action: str,
        entity: str,
        entity_id: int,
        changes: dict[str, Any],
    ) -> dict[str, Any]:
        machine = dict(STAFF)[user]
        return {
            "at": at,
            "user_name": user,
            "machine": machine,
            "patient_id": pid,
            "personnummer": number,
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "seq": None,
            "prev_hash": None,
            "chain_hash": None,
            "changes": json.dumps(changes, ensure_ascii=False, sort_keys=True),
        }

    def _media(
        self, pid: int, number: str, set_id: int, n: int, srow: dict[str, Any]
    ) -> dict[str, Any]:
        rng = self.rng
        kind = rng.choices(self.kinds, self.weights)[0]
        path = f"{number}/{set_id}/{n + 1:03d}_{kind.value}.{_EXT[kind]}"
        made = self._file(kind, path, number) if self.options.image_folder else None
        if made is not None:
            size, digest = len(made.data), hashlib.sha256(made.data).hexdigest()
            width, height, bits = made.width, made.height, made.bit_depth
        else:
            size = rng.randint(*_SIZES[kind])
            digest = f"{rng.getrandbits(256):064x}"
            width, height, bits = {
                MediaKind.INTRAORAL: (1600, 1200, 16),
                MediaKind.PANORAMIC: (2900, 1400, 16),
                MediaKind.PHOTO: (4000, 3000, 8),
            }.get(kind, (None, None, None))
        teeth = ""
        if kind is MediaKind.INTRAORAL:
            quadrant = rng.randint(1, 4)
            first = rng.randint(1, 7)
            teeth = f"{quadrant}{first},{quadrant}{first + 1}"
        return {
            "image_set_id": set_id,
            "patient_id": pid,
            "kind": kind.value,
            "path": path,
            "byte_size": size,
            "sha256": digest,
            "width": width,
            "height": height,
            "bit_depth": bits,
            "teeth": teeth,
            "taken_at": srow["created_at"],
            "comment": rng.choice(demo_content.COMMENTS),
            "created_at": srow["created_at"],
            "created_by": srow["created_by"],
            "modified_at": srow["created_at"],
            "deleted_at": None,
            "deleted_by": None,
        }

    def _file(self, kind: MediaKind, path: str, number: str) -> demo_content.MadeFile:
        rng = self.rng
        if kind is MediaKind.INTRAORAL:
            made = demo_content.xray_png(rng, panoramic=False)
        elif kind is MediaKind.PANORAMIC:
            made = demo_content.xray_png(rng, panoramic=True)
        elif kind is MediaKind.PHOTO:
            made = demo_content.photo_jpeg(rng)
        elif kind is MediaKind.AUDIO:
            made = demo_content.wav_note(rng)
        else:
            made = demo_content.pdf_document(rng, f"Remiss {number}")
        assert self.options.image_folder is not None
        target = self.options.image_folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(made.data)
        os.replace(tmp, target)
        self.files_written.append(target)
        self.summary.files += 1
        self.summary.file_bytes += len(made.data)
        return made
