"""One chunk of a demo clinic: patients, their image sets and media, audit trail and log-ins.

Each table's rows are built in Python as tuples already in stored form (timestamps as text:
``bulkwrite.insert_values``) and inserted in one batch; ids are reserved first, so child rows
point at their parents with no round trip. The random draws happen in a fixed order, so one
seed always makes the same clinic.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import json
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import personnummer
from ibdesk.bulkwrite import insert_values
from ibdesk.demo import content as demo_content
from ibdesk.demo.dice import Dice
from ibdesk.demo.kinds import FILE_KINDS, KIND_WEIGHTS, KindRow
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

STAFF = (
    ("anna.tandlakare", "RUM-1"),
    ("erik.tandlakare", "RUM-2"),
    ("lena.tandskoterska", "RUM-3"),
    ("karin.hygienist", "RUM-4"),
    ("reception", "RECEPTION"),
)
MACHINES = dict(STAFF)


def _columns(model: type[Any], *leave_out: str) -> tuple[str, ...]:
    """Return a table's columns in their order, but for those a new row leaves empty."""
    return tuple(c.name for c in model.__table__.columns if c.name not in leave_out)


# Each row is a tuple in its table's column order: a new column must be drawn here too.
PATIENT_COLUMNS = _columns(Patient, "deleted_at", "deleted_by")
IMAGE_SET_COLUMNS = _columns(ImageSet, "signed_at", "signed_by", "signature_digest")
MEDIA_COLUMNS = _columns(MediaItem, "deleted_at", "deleted_by")
AUDIT_COLUMNS = (
    "at",
    "user_name",
    "machine",
    "patient_id",
    "personnummer",
    "action",
    "entity",
    "entity_id",
    "changes",
)
LOGIN_COLUMNS = ("at", "user_name", "machine", "success", "reason")


@dataclass(frozen=True)
class _NewNumber:
    """A patient number not used yet, with what the patient's row needs from its draw."""

    number: str
    kind: str
    female: bool


@dataclass(frozen=True)
class _Patient:
    """A patient just drawn: its id and number, who registered it and on which day."""

    id: int
    number: str
    user: str
    since: dt.date


def _teeth(bits: Callable[[int], int]) -> str:
    """Draw two neighbouring teeth of one quadrant (``below(4)``, then ``below(7)``)."""
    r = bits(3)
    while r >= 4:
        r = bits(3)
    quadrant = r + 1
    r = bits(3)
    while r >= 7:
        r = bits(3)
    return f"{quadrant}{r + 1},{quadrant}{r + 2}"


def _drawn_size_and_digest(kind: KindRow, bits: Callable[[int], int]) -> tuple[int, str]:
    """Draw a file size in the kind's range and a digest, for a row without a file."""
    span, k = kind.span, kind.span_bits
    r = bits(k)
    while r >= span:
        r = bits(k)
    return kind.low + r, f"{bits(256):064x}"


IdSource = Callable[[type[Any], int], Sequence[int]]
"""Reserves ``count`` new ids of a model's table (``reserve_ids``, ``bulkload.LocalIds``)."""
TakenLookup = Callable[[list[str]], set[str]]
"""Returns which of these patient numbers the database has already."""


def taken_in(session: Session) -> TakenLookup:
    """Look patient numbers up in the database ``session`` writes to."""

    def taken(numbers: list[str]) -> set[str]:
        found = select(Patient.personnummer).where(Patient.personnummer.in_(numbers))
        return set(session.scalars(found))

    return taken


@dataclass
class Chunk:
    """One chunk's rows in stored form (``insert_values``), and what they add up to."""

    patients: list[tuple[Any, ...]]
    image_sets: list[tuple[Any, ...]]
    media: list[tuple[Any, ...]]
    audit_events: list[tuple[Any, ...]]
    logins: list[tuple[Any, ...]]
    summary: DemoSummary

    def write(self, session: Session) -> None:
        """Insert the rows, parents before children."""
        insert_values(session, Patient, PATIENT_COLUMNS, self.patients)
        insert_values(session, ImageSet, IMAGE_SET_COLUMNS, self.image_sets)
        insert_values(session, MediaItem, MEDIA_COLUMNS, self.media)
        insert_values(session, AuditEvent, ("id", *AUDIT_COLUMNS), self.audit_events)
        insert_values(session, LoginEvent, LOGIN_COLUMNS, self.logins)


class ChunkBuilder:
    """Builds the rows of a chunk of patients at a time; keeps the numbers used in this run.

    It knows no database: ids come from ``ids``, and ``taken`` says which new numbers the
    database has already (``None``: a clinic that had no patients when the run began, whose
    numbers are all in ``used``). So a second process can build the rows while this one
    writes them (``demo.producer``).
    """

    def __init__(
        self,
        options: DemoOptions,
        rng: random.Random,
        used: set[str],
        ids: IdSource,
        taken: TakenLookup | None = None,
    ) -> None:
        """Draw from ``rng``; ``used`` is shared by all chunks of the run."""
        self.options, self.rng, self.used = options, rng, used
        self.ids, self.taken = ids, taken
        self.dice = Dice(rng)
        self.files_written: list[Path] = []
        self.summary = DemoSummary()
        kinds = list(FILE_KINDS if options.image_folder else KIND_WEIGHTS)
        self.kinds = [KindRow.of(kind) for kind in kinds]
        # What Random.choices(kinds, weights) computes on every call.
        self.cum_weights = list(itertools.accumulate(KIND_WEIGHTS[k] for k in kinds))

    def build(self, count: int) -> Chunk:
        """Build ``count`` new patients with their image sets, media, audit trail and log-ins.

        Media files (with an image folder) are written now, and listed in ``files_written``.
        """
        self.summary = s = DemoSummary()
        numbers = self._fresh_numbers(count)
        patient_rows, patients, audit_rows = self._patient_rows(numbers)
        set_rows, owners = self._image_set_rows(patients, audit_rows)
        media_rows = self._media_rows(set_rows, owners, audit_rows)
        audit_rows.sort(key=itemgetter(0))
        audit_ids = self.ids(AuditEvent, len(audit_rows))
        audit_rows = [(i, *row) for i, row in zip(audit_ids, audit_rows, strict=True)]
        logins = self._login_rows(count)
        s.patients, s.image_sets, s.media = len(patient_rows), len(set_rows), len(media_rows)
        s.audit_events, s.logins = len(audit_rows), len(logins)
        return Chunk(patient_rows, set_rows, media_rows, audit_rows, logins, s)

    def _fresh_numbers(self, count: int) -> list[_NewNumber]:
        """Draw ``count`` patient numbers that neither this run nor the database has."""
        if self.taken is None:
            return [self._number() for _ in range(count)]
        numbers: list[_NewNumber] = []
        while len(numbers) < count:
            # Numbers already in the database (an earlier demo run) are drawn again.
            batch = [self._number() for _ in range(count - len(numbers))]
            taken = self.taken([n.number for n in batch])
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
    ) -> tuple[list[tuple[Any, ...]], list[_Patient], list[tuple[Any, ...]]]:
        """Build a patient row for each number; return them, the patients and audit rows."""
        dice, today = self.dice, self.options.today
        choice, randint = dice.choice, dice.randint
        rows: list[tuple[Any, ...]] = []
        patients: list[_Patient] = []
        audit_rows: list[tuple[Any, ...]] = []
        ids = self.ids(Patient, len(numbers))
        for pid, new in zip(ids, numbers, strict=True):
            first = choice(demo_content.FEMALE if new.female else demo_content.MALE)
            last = choice(demo_content.LAST)
            city, zip_prefix = choice(demo_content.CITIES)
            since = today - dt.timedelta(days=randint(30, 12 * 365))
            at = dice.stamp(since)
            user, machine = choice(STAFF)
            address = f"{choice(demo_content.STREETS)} {randint(1, 120)}"
            postal_code = f"{zip_prefix}{randint(100, 999)}"
            phone = f"07{randint(0, 9)}-{randint(100, 999)} {randint(10, 99)} {randint(10, 99)}"
            note = choice(demo_content.NOTES)
            name_key = f"{last} {first}".lower()
            rows.append(
                (
                    pid,
                    new.number,
                    new.kind,
                    first,
                    last,
                    name_key,
                    address,
                    postal_code,
                    city,
                    phone,
                    note,
                    at,
                    user,
                    at,
                    user,
                )
            )
            patients.append(_Patient(pid, new.number, user, since))
            changes = {
                "personnummer": [None, new.number],
                "first_name": [None, first],
                "last_name": [None, last],
            }
            audit_rows.append(
                (
                    at,
                    user,
                    machine,
                    pid,
                    new.number,
                    "patient.create",
                    "patient",
                    pid,
                    json.dumps(changes, ensure_ascii=False, sort_keys=True),
                )
            )
        return rows, patients, audit_rows

    def _image_set_rows(
        self, patients: list[_Patient], audit_rows: list[tuple[Any, ...]]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[_Patient, int]]]:
        """Split each patient's media into image sets of 1 to 8, taken since registration.

        Return the rows and each set's patient and size; add each set's audit row.
        """
        dice, today = self.dice, self.options.today
        below, choice, stamp = dice.below, dice.choice, dice.stamp
        drawn: list[tuple[_Patient, int, str, str, str]] = []
        for patient in patients:
            remaining = self.options.media_per_patient
            span = max(1, (today - patient.since).days) + 1
            while remaining > 0:
                size = min(remaining, 1 + below(8))
                remaining -= size
                day = patient.since + dt.timedelta(days=below(span))
                description = choice(demo_content.SET_DESCRIPTIONS)
                drawn.append((patient, size, day.isoformat(), description, stamp(day)))
        ids = self.ids(ImageSet, len(drawn))
        rows: list[tuple[Any, ...]] = []
        owners: list[tuple[_Patient, int]] = []
        for set_id, (patient, size, day_text, description, at) in zip(ids, drawn, strict=True):
            rows.append((set_id, patient.id, day_text, description, at, patient.user))
            owners.append((patient, size))
            audit_rows.append(
                (
                    at,
                    patient.user,
                    MACHINES[patient.user],
                    patient.id,
                    patient.number,
                    "image_set.create",
                    "image_set",
                    set_id,
                    f'{{"taken_on": [null, "{day_text}"]}}',
                )
            )
        return rows, owners

    def _media_rows(
        self,
        set_rows: list[tuple[Any, ...]],
        owners: list[tuple[_Patient, int]],
        audit_rows: list[tuple[Any, ...]],
    ) -> list[tuple[Any, ...]]:
        """Build each image set's media rows (and files); add their audit rows, count kinds.

        The hot loop of the demo: each ``below(n)`` draw is spelled out in place (bits of
        ``n.bit_length()`` until one is below ``n``, as ``_Dice.below``).
        """
        kinds, cum, bits = self.kinds, self.cum_weights, self.dice.bits
        draw, bisect_right = self.dice.random, bisect.bisect
        total, last = cum[-1] + 0.0, len(cum) - 1
        comments = demo_content.COMMENTS
        n_comments = len(comments)
        k_comments = n_comments.bit_length()
        with_files = self.options.image_folder is not None
        new_id = iter(self.ids(MediaItem, sum(s for _p, s in owners))).__next__
        rows: list[tuple[Any, ...]] = []
        add, add_audit = rows.append, audit_rows.append
        for set_row, (patient, size) in zip(set_rows, owners, strict=True):
            set_id, at = set_row[0], set_row[4]
            pid, user, number = patient.id, patient.user, patient.number
            machine = MACHINES[user]
            for n in range(size):
                # Random.choices(kinds, weights)[0], step by step.
                kind = kinds[bisect_right(cum, draw() * total, 0, last)]
                value = kind.value
                path = f"{number}/{set_id}/{n + 1:03d}_{value}.{kind.ext}"
                if with_files:
                    made = self._file(kind.kind, path, number)
                    byte_size, digest = len(made.data), hashlib.sha256(made.data).hexdigest()
                    width, height, depth = made.width, made.height, made.bit_depth
                else:
                    byte_size, digest = _drawn_size_and_digest(kind, bits)
                    width, height, depth = kind.width, kind.height, kind.bits
                teeth = _teeth(bits) if kind.intraoral else ""
                r = bits(k_comments)
                while r >= n_comments:
                    r = bits(k_comments)
                comment = comments[r]
                mid = new_id()
                add(
                    (
                        mid,
                        set_id,
                        pid,
                        value,
                        path,
                        byte_size,
                        digest,
                        width,
                        height,
                        depth,
                        teeth,
                        at,
                        comment,
                        at,
                        user,
                        at,
                    )
                )
                add_audit(
                    (
                        at,
                        user,
                        machine,
                        pid,
                        number,
                        "media.add",
                        "media",
                        mid,
                        f'{{"kind": [null, "{value}"], "path": [null, "{path}"]}}',
                    )
                )
        made_kinds = self.summary.kinds
        for value, count in Counter(map(itemgetter(3), rows)).items():
            made_kinds[value] = made_kinds.get(value, 0) + count
        return rows

    def _login_rows(self, count: int) -> list[tuple[Any, ...]]:
        """Return a year of staff log-ins, one for every ten patients, a few of them failed."""
        dice, today = self.dice, self.options.today
        rows: list[tuple[Any, ...]] = []
        for _ in range(max(1, count // 10)):
            user, machine = dice.choice(STAFF)
            ok = dice.random() > 0.05
            at = dice.stamp(today - dt.timedelta(days=dice.randint(0, 365)))
            rows.append((at, user, machine, int(ok), "" if ok else "wrong password"))
        return rows

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


def iter_chunks(total: int, size: int) -> Iterator[int]:
    """Yield chunk sizes that add up to total."""
    while total > 0:
        yield min(size, total)
        total -= size
