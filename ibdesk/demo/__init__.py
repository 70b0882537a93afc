"""Demo clinics at any scale: patients, image sets, media, audit history and log-ins.

Rows go in with multi-row INSERT ... RETURNING batches (SQLAlchemy's insertmanyvalues,
which works on all three backends), a chunk of patients per transaction, so 100 000
patients with two million media rows take minutes and memory stays flat. With files, real
media files are written to the image folder first (to a temporary name, then renamed) and
removed again if their chunk's transaction fails, so rows and files always match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from ibdesk import audit, personnummer, statistics
from ibdesk.db import DatabaseError, explain, session_scope
from ibdesk.demo import content as demo_content
from ibdesk.errors import UserError
from ibdesk.models import (
    AuditEvent,
    ImageSet,
    LoginEvent,
    MediaItem,
    MediaKind,
    Patient,
    PatientKind,
    UTCDateTime,
)
from ibdesk.progress import Job, LogLine, Progress

if TYPE_CHECKING:
    import psycopg

CHUNK_PATIENTS = 1000
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


@dataclass
class DemoSummary:
    """What a demo run made."""

    patients: int = 0
    image_sets: int = 0
    media: int = 0
    files: int = 0
    file_bytes: int = 0
    audit_events: int = 0
    logins: int = 0
    seconds: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Return every row written."""
        return self.patients + self.image_sets + self.media + self.audit_events + self.logins


@dataclass(frozen=True)
class DemoOptions:
    """How large a demo clinic to make and where its files go."""

    patients: int
    media_per_patient: int = 20
    image_folder: Path | None = None
    seed: int = 2026
    today: dt.date = field(default_factory=dt.date.today)

    def check(self) -> None:
        """Refuse sizes that make no sense."""
        if self.patients < 1 or self.patients > 5_000_000:
            raise UserError("The number of patients must be between 1 and 5 000 000.")
        if self.media_per_patient < 0 or self.media_per_patient > 500:
            raise UserError("The media per patient must be between 0 and 500.")
        if self.image_folder is not None:
            folder = self.image_folder
            if not folder.is_dir():
                raise UserError(f"The image folder {folder} does not exist; create it first.")
            if not os.access(folder, os.W_OK):
                raise UserError(f"The image folder {folder} is not writable by this program.")


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


class _Writer:
    """Writes one chunk of patients; keeps the numbers already used in this run."""

    def __init__(
        self, session: Session, options: DemoOptions, rng: random.Random, used: set[str]
    ) -> None:
        self.session, self.options, self.rng, self.used = session, options, rng, used
        self.files_written: list[Path] = []
        self.summary = DemoSummary()
        self.kinds = list(FILE_KINDS if options.image_folder else KIND_WEIGHTS)
        self.weights = [KIND_WEIGHTS[k] for k in self.kinds]

    def _number(self) -> tuple[str, str, dt.date, bool]:
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
                return number, kind.value, birth, female

    def write(self, count: int) -> DemoSummary:
        rng, session = self.rng, self.session
        numbers: list[tuple[str, str, dt.date, bool]] = []
        while len(numbers) < count:
            # Numbers already in the database (an earlier demo run) are drawn again.
            batch = [self._number() for _ in range(count - len(numbers))]
            taken = set(
                session.scalars(
                    select(Patient.personnummer).where(
                        Patient.personnummer.in_([n[0] for n in batch])
                    )
                )
            )
            numbers += [n for n in batch if n[0] not in taken]
        patient_rows: list[dict[str, Any]] = []
        audit_rows: list[dict[str, Any]] = []
        created: list[tuple[dt.datetime, dt.date, str]] = []
        for number, kind, _birth, female in numbers:
            first = rng.choice(demo_content.FEMALE if female else demo_content.MALE)
            last = rng.choice(demo_content.LAST)
            city, zip_prefix = rng.choice(demo_content.CITIES)
            since = self.options.today - dt.timedelta(days=rng.randint(30, 12 * 365))
            at = _aware(since, rng)
            user, _machine = rng.choice(STAFF)
            created.append((at, since, user))
            patient_rows.append(
                {
                    "personnummer": number,
                    "kind": kind,
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
            )
        ids = self._insert(Patient, patient_rows)
        set_rows: list[dict[str, Any]] = []
        set_owner: list[tuple[int, str, str, list[int]]] = []
        for pid, row, (at, since, user) in zip(ids, patient_rows, created, strict=True):
            audit_rows.append(
                self._audit(
                    at,
                    user,
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
            )
            remaining = self.options.media_per_patient
            while remaining > 0:
                size = min(remaining, rng.randint(1, 8))
                remaining -= size
                day = since + dt.timedelta(
                    days=rng.randint(0, max(1, (self.options.today - since).days))
                )
                set_rows.append(
                    {
                        "patient_id": pid,
                        "taken_on": day,
                        "description": rng.choice(demo_content.SET_DESCRIPTIONS),
                        "created_at": _aware(day, rng),
                        "created_by": user,
                        "signed_at": None,
                        "signed_by": None,
                        "signature_digest": None,
                    }
                )
                set_owner.append((pid, row["personnummer"], user, [size]))
        set_ids = self._insert(ImageSet, set_rows)
        media_rows: list[dict[str, Any]] = []
        media_meta: list[tuple[str, str]] = []
        for set_id, srow, (pid, number, user, (size,)) in zip(
            set_ids, set_rows, set_owner, strict=True
        ):
            audit_rows.append(
                self._audit(
                    srow["created_at"],
                    user,
                    pid,
                    number,
                    "image_set.create",
                    "image_set",
                    set_id,
                    {"taken_on": [None, srow["taken_on"].isoformat()]},
                )
            )
            for n in range(size):
                media_rows.append(self._media(pid, number, set_id, n, srow))
                media_meta.append((number, user))
        media_ids = self._insert(MediaItem, media_rows)
        for mid, mrow, (number, user) in zip(media_ids, media_rows, media_meta, strict=True):
            audit_rows.append(
                self._audit(
                    mrow["created_at"],
                    user,
                    mrow["patient_id"],
                    number,
                    "media.add",
                    "media",
                    mid,
                    {"kind": [None, mrow["kind"]], "path": [None, mrow["path"]]},
                )
            )
            self.summary.kinds[mrow["kind"]] = self.summary.kinds.get(mrow["kind"], 0) + 1
        audit_rows.sort(key=lambda r: r["at"])
        self._insert(AuditEvent, audit_rows, returning=False)
        logins = [
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
        self._insert(LoginEvent, logins, returning=False)
        s = self.summary
        s.patients, s.image_sets, s.media = len(ids), len(set_ids), len(media_ids)
        s.audit_events, s.logins = len(audit_rows), len(logins)
        return s

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

    def _insert(
        self, model: type[Any], rows: list[dict[str, Any]], *, returning: bool = True
    ) -> list[int]:
        if not rows:
            return []
        table = model.__table__
        dialect = self.session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            driver_error = self.session.get_bind().dialect.loaded_dbapi.Error
            try:
                if dialect == "postgresql":
                    return self._copy(table, rows, returning=returning)
                return self._sqlite_insert(table, rows, returning=returning)
            except driver_error as error:
                # Straight to the driver, so no SQLAlchemy wrapping: word it here.
                raise DatabaseError(explain(error, self.session.get_bind().engine.url)) from error
        if not returning:
            self.session.execute(insert(table), rows)
            return []
        result = self.session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        )
        return [row[0] for row in result]

    def _sqlite_insert(
        self, table: Any, rows: list[dict[str, Any]], *, returning: bool
    ) -> list[int]:
        """Insert with the driver's executemany, values already in SQLite's stored form.

        SQLite cannot return the ids of a multi-row INSERT in order, and SQLAlchemy's
        per-value processing costs more than SQLite's own work here. This transaction is
        the only writer (BEGIN IMMEDIATE), so the next ids are known.
        """
        ids: list[int] = []
        if returning:
            start = self.session.scalar(select(func.max(table.c.id))) or 0
            ids = list(range(start + 1, start + 1 + len(rows)))
            for row_id, row in zip(ids, rows, strict=True):
                row["id"] = row_id
        columns = list(rows[0])
        statement = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        raw = self.session.connection().connection.dbapi_connection
        assert raw is not None
        raw.cursor().executemany(
            statement, [[_sqlite_value(row[c]) for c in columns] for row in rows]
        )
        return ids

    def _copy(self, table: Any, rows: list[dict[str, Any]], *, returning: bool) -> list[int]:
        """Load rows with PostgreSQL's COPY (ids reserved from the table's sequence first)."""
        ids: list[int] = []
        if returning:
            ids = list(
                self.session.scalars(
                    text(
                        "SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"t": table.name, "n": len(rows)},
                )
            )
            for row_id, row in zip(ids, rows, strict=True):
                row["id"] = row_id
        columns = list(rows[0])
        raw = cast("psycopg.Connection[Any]", self.session.connection().connection.dbapi_connection)
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([_naive_utc(row[c]) for c in columns])
        return ids


def _sqlite_value(value: Any) -> Any:
    # What SQLAlchemy's SQLite types store: naive UTC text with microseconds, ISO dates.
    if isinstance(value, dt.datetime):
        return _naive_utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _naive_utc(value: Any) -> Any:
    # The columns hold naive UTC (models.UTCDateTime); COPY bypasses that type.
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def generate(engine: Engine, options: DemoOptions) -> Job[DemoSummary]:
    """Fill the database with a demo clinic, a chunk of patients per transaction."""
    options.check()
    import time

    started = time.perf_counter()
    rng = random.Random(options.seed)
    used: set[str] = set()
    total = DemoSummary()
    done = 0
    while done < options.patients:
        count = min(CHUNK_PATIENTS, options.patients - done)
        writer: _Writer | None = None
        try:
            with session_scope(engine) as session:
                if engine.dialect.name == "sqlite":
                    # Bulk loading touches every index at random places: give it 512 MB.
                    session.execute(text("PRAGMA cache_size = -524288"))
                writer = _Writer(session, options, rng, used)
                part = writer.write(count)
        except BaseException:
            for path in writer.files_written if writer else []:
                path.unlink(missing_ok=True)
            raise
        _add(total, part)
        done += count
        yield Progress(done, options.patients, "patients")
    with session_scope(engine) as session:
        statistics.fold(session)
        audit.system_event(
            session,
            audit.Actor("ibdesk demo"),
            "demo.generate",
            f"{total.patients} patients, {total.media} media, {total.files} files",
        )
    total.seconds = time.perf_counter() - started
    yield LogLine(
        f"Made {total.patients} patients, {total.image_sets} image sets, "
        f"{total.media} media ({total.files} files), {total.audit_events} audit "
        f"events in {total.seconds:.1f} s."
    )
    return total


def _add(total: DemoSummary, part: DemoSummary) -> None:
    for name in (
        "patients",
        "image_sets",
        "media",
        "files",
        "file_bytes",
        "audit_events",
        "logins",
    ):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for kind, n in part.kinds.items():
        total.kinds[kind] = total.kinds.get(kind, 0) + n


def iter_chunks(total: int, size: int) -> Iterator[int]:
    """Yield chunk sizes that add up to total."""
    while total > 0:
        yield min(size, total)
        total -= size


__all__ = ["DemoOptions", "DemoSummary", "UTCDateTime", "generate"]
