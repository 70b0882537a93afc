"""Step 3: 1.2 statuses become image sets and 1.2 items become media with their files placed.

A status whose patient was not carried over is rejected, and so is an item whose patient or
status was not; an item whose file is missing, empty, outside the 1.2 folder (``..``, an
absolute path, a link) or does not hash the same once placed is rejected with that reason.
Signed statuses are signed again once their media are in, by who signed them in 1.2, with
the same manifest and digest as ``ibdesk.patients.signing`` so [Verify] passes. Last, the
1.2 folder is walked for files that no row names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, delete, select
from sqlalchemy.orm import Session

from ibdesk import bulkwrite, display, safefiles
from ibdesk.conversion import checks
from ibdesk.conversion.batches import (
    CONVERTED,
    Batch,
    Converter,
    Issue,
    Outcome,
    lookup,
    rejected,
    targets,
    write_table,
)
from ibdesk.conversion.imageshape import SHAPE_ERRORS, image_shape
from ibdesk.conversion.names import NameIndex
from ibdesk.conversion.people import CONVERTER
from ibdesk.conversion.placing import Blocked, Empty, Mismatch, Placer
from ibdesk.conversion.source import ITEMS, STATUSES, Source
from ibdesk.i18n import gettext as _
from ibdesk.i18n import ngettext
from ibdesk.models import (
    AuditEvent,
    ConversionIssue,
    ConversionMap,
    ImageSet,
    MediaItem,
    Patient,
    utcnow,
)
from ibdesk.patients import signing
from ibdesk.progress import Job, LogLine, Progress

LOOSE = "loose:"  # the map key of a patient's set of loose 1.2 items
LOOSE_TABLE = "Status+loose"


def _set_event(patient: Any, set_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": utcnow(),
        "user_name": CONVERTER,
        "machine": CONVERTER,
        "patient_id": patient.id,
        "personnummer": patient.personnummer,
        "action": "image_set.convert",
        "entity": "image_set",
        "entity_id": set_id,
        "changes": json.dumps(changes, ensure_ascii=False, sort_keys=True, default=str),
    }


_PATIENT = (Patient.id, Patient.personnummer, Patient.created_at)


@dataclass(frozen=True)
class _Set:
    """What an item needs of its image set."""

    id: int
    patient_id: int


class StatusConverter(Converter):
    """The 1.2 statuses, as unsigned image sets (signed again once their media are in)."""

    def __init__(self) -> None:
        """Start with no patients looked up."""
        self.patients: dict[str, Any] = {}

    def prepare(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Look up the batch's patients."""
        keys = [str(r["PatientId"]) for r in rows]
        self.patients = lookup(session, "Patienter", keys, *_PATIENT)

    def convert(self, batch: Batch, row: dict[str, Any]) -> Outcome:
        """Carry one 1.2 status over as an (unsigned, for now) image set."""
        patient = self.patients.get(str(row["PatientId"]))
        if patient is None:
            return rejected(checks.ORPHAN_PATIENT, "PatientId", row["PatientId"])
        issues: list[Issue] = []
        when, problem = checks.read_time(row["Datum"])
        if problem:
            issues.append(Issue(problem, "Datum", row["Datum"]))
        taken = when.astimezone(checks.LOCAL).date() if when else patient.created_at.date()
        text = checks.repair_text(row["Beskrivning"])
        if text.problem:
            issues.append(Issue(text.problem, "Beskrivning", row["Beskrivning"], text.value))
        set_id = batch.add(
            ImageSet,
            {
                "patient_id": patient.id,
                "taken_on": taken,
                "description": " ".join(text.value.split())[:200],
                "created_at": when or utcnow(),
                "created_by": CONVERTER,
                "signed_at": None,
                "signed_by": None,
                "signature_digest": None,
            },
        )
        changes = {"converted_from": [None, f"1.2 StatusId {row['StatusId']}"]}
        batch.add(AuditEvent, _set_event(patient, set_id, changes))
        return Outcome(CONVERTED, set_id, issues=issues)


class ItemConverter(Converter):
    """Converts 1.2 item rows, placing each one's file."""

    def __init__(self, source: Source, target_root: Path, *, link: bool = True) -> None:
        """Read files from the source's folder and place them under ``target_root``."""
        self.index = checks.FolderIndex(source.images)
        self.placer = Placer(source.images, target_root, link=link)
        self.patients: dict[str, Any] = {}
        self.sets: dict[str, Any] = {}
        self.owners: dict[int, str] = {}
        self.loose: dict[str, _Set] = {}

    def prepare(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Look up the batch's patients and image sets, and the sets' patients' numbers."""
        self.patients = lookup(session, "Patienter", [str(r["PatientId"]) for r in rows], *_PATIENT)
        keys = [str(r["StatusId"]) for r in rows if r["StatusId"] is not None]
        self.sets = lookup(session, "Status", keys, ImageSet.id, ImageSet.patient_id)
        owners = sorted({s.patient_id for s in self.sets.values()})
        found: Any = (
            session.execute(select(Patient.id, Patient.personnummer).where(Patient.id.in_(owners)))
            if owners
            else []
        )
        self.owners = {p.id: p.personnummer for p in found}
        wanted = sorted({f"{LOOSE}{r['PatientId']}" for r in rows if r["StatusId"] is None})
        loose = {k: v for k, v in targets(session, LOOSE_TABLE, wanted).items() if v is not None}
        found = (
            session.execute(
                select(ImageSet.id, ImageSet.patient_id).where(
                    ImageSet.id.in_(sorted(loose.values()))
                )
            )
            if loose
            else []
        )
        sets = {s.id: _Set(s.id, s.patient_id) for s in found}
        self.loose = {k: sets[v] for k, v in loose.items() if v in sets}

    def _image_set(self, batch: Batch, row: dict[str, Any], patient: Any) -> Any:
        if row["StatusId"] is None:
            return self._loose_set(batch, row, patient)
        return self.sets.get(str(row["StatusId"]))

    def _loose_set(self, batch: Batch, row: dict[str, Any], patient: Any) -> _Set:
        # 1.2 items outside any status go into one set per patient.
        key = f"{LOOSE}{row['PatientId']}"
        found = self.loose.get(key)
        if found is not None:
            return found
        set_id = batch.add(
            ImageSet,
            {
                "patient_id": patient.id,
                "taken_on": patient.created_at.date(),
                "description": "1.2",
                "created_at": utcnow(),
                "created_by": CONVERTER,
                "signed_at": None,
                "signed_by": None,
                "signature_digest": None,
            },
        )
        batch.queue(
            ConversionMap,
            {
                "source_table": LOOSE_TABLE,
                "source_key": key,
                "target_id": set_id,
                "outcome": CONVERTED,
                "detail": "loose items",
            },
        )
        self.loose[key] = made = _Set(set_id, patient.id)
        return made

    def convert(self, batch: Batch, row: dict[str, Any]) -> Outcome:
        """Carry one 1.2 item over with its file, or reject it with the reason."""
        patient = self.patients.get(str(row["PatientId"]))
        if patient is None:
            return rejected(checks.ORPHAN_PATIENT, "PatientId", row["PatientId"])
        image_set = self._image_set(batch, row, patient)
        if image_set is None:
            return rejected(checks.ORPHAN_STATUS, "StatusId", row["StatusId"])
        kind = checks.read_kind(row["Typ"])
        if kind is None:
            return rejected(checks.WRONG_TYPE, "Typ", row["Typ"])
        found = self.index.find(str(row["Filnamn"]))
        if found.relative is None:
            return rejected(found.problem or checks.FILE_MISSING, "Filnamn", row["Filnamn"])
        issues: list[Issue] = []
        if found.case_differs:
            issues.append(Issue(checks.CASE_DIFFERS, "Filnamn", row["Filnamn"], found.relative))
        number = self.owners.get(image_set.patient_id, patient.personnummer)
        if image_set.patient_id != patient.id:
            # The item names another patient than its status does: kept in the status (the
            # examination it was taken in, and what a signed status signed), reported for review.
            issues.append(Issue(checks.PATIENT_DIFFERS, "PatientId", row["PatientId"], number))
        path = f"{number}/{image_set.id}/{int(row['BildId']):06d}_{kind.value}.{_extension(found)}"
        try:
            placed = self.placer.place(found.relative, path)
        except safefiles.FileProblem as problem:
            return rejected(_file_reason(problem), "Filnamn", row["Filnamn"])
        except Empty:
            return rejected(checks.FILE_EMPTY, "Filnamn", row["Filnamn"])
        except Mismatch:
            return rejected(checks.HASH_MISMATCH, "Filnamn", row["Filnamn"])
        width = height = bits = None
        if kind.is_image:
            try:
                width, height, bits = image_shape(placed.head, self.placer.target_root, path)
            except SHAPE_ERRORS as error:  # kept and placed; 2.1 shows it cannot be shown
                issues.append(Issue(checks.FILE_UNREADABLE, "Filnamn", row["Filnamn"], str(error)))
        teeth, dropped = checks.read_teeth(row["Tander"])
        if dropped:
            issues.append(Issue(checks.TEETH_INVALID, "Tander", row["Tander"], teeth))
        taken, late = checks.read_time(row["Tagen"])
        if late and row["Tagen"]:
            issues.append(Issue(late, "Tagen", row["Tagen"]))
        comment = checks.repair_text(row["Kommentar"])
        if comment.problem:
            issues.append(Issue(comment.problem, "Kommentar", row["Kommentar"], comment.value))
        deleted = bool(row["Raderad"])
        if deleted:
            issues.append(Issue(checks.DELETED, "Raderad", row["Raderad"]))
        now = utcnow()
        item_id = batch.add(
            MediaItem,
            {
                "image_set_id": image_set.id,
                "patient_id": image_set.patient_id,
                "kind": kind.value,
                "path": path,
                "byte_size": placed.size,
                "sha256": placed.sha256,
                "width": width,
                "height": height,
                "bit_depth": bits,
                "teeth": teeth,
                "taken_at": taken,
                "comment": comment.value,
                "created_at": taken or now,
                "created_by": CONVERTER,
                "modified_at": now,
                "deleted_at": now if deleted else None,
                "deleted_by": CONVERTER if deleted else None,
            },
        )
        return Outcome(CONVERTED, item_id, placed.how, issues)


def _extension(found: checks.Found) -> str:
    """Return the 2.1 file's extension: the source name's, from its last component only."""
    name = (found.relative or "").rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext if ext.isascii() and ext.isalnum() and len(ext) <= 8 else "bin"


def _file_reason(problem: safefiles.FileProblem) -> str:
    """Return the reason code of a file that could not be placed."""
    if problem.kind in (safefiles.OUTSIDE, safefiles.LINK):
        return checks.FILE_OUTSIDE
    if isinstance(problem, Blocked):
        return checks.TARGET_BLOCKED
    if problem.kind == safefiles.MISSING:
        return checks.FILE_MISSING
    return checks.FILE_UNREADABLE


def set_manifests(session: Session, sets: list[Any]) -> dict[int, dict[str, Any]]:
    """Return the signing manifest of each set, as ``signing.manifest`` makes it, in 3 queries."""
    ids = [s.id for s in sets]
    numbers = dict(
        session.execute(
            select(Patient.id, Patient.personnummer).where(
                Patient.id.in_(sorted({s.patient_id for s in sets}))
            )
        ).all()
    )
    media: dict[int, list[dict[str, Any]]] = {set_id: [] for set_id in ids}
    columns = [getattr(MediaItem, key) for key in signing.MEDIA_KEYS]
    for item in session.execute(
        select(MediaItem.image_set_id, *columns)
        .where(MediaItem.image_set_id.in_(ids), MediaItem.deleted_at.is_(None))
        .order_by(MediaItem.id)
    ):
        media[item[0]].append(
            {
                key: value.isoformat() if hasattr(value, "isoformat") else value
                for key, value in zip(signing.MEDIA_KEYS, item[1:], strict=True)
            }
        )
    return {
        s.id: {
            "image_set": s.id,
            "personnummer": numbers.get(s.patient_id),
            "taken_on": s.taken_on.isoformat(),
            "description": s.description,
            "media": media[s.id],
        }
        for s in sets
    }


def _unsigned_sets(session: Session, chosen: list[int]) -> dict[int, Any]:
    """Return the sets among ``chosen`` not signed yet, by id (only the columns signing needs)."""
    return {
        s.id: s
        for s in session.execute(
            select(
                ImageSet.id,
                ImageSet.patient_id,
                ImageSet.taken_on,
                ImageSet.description,
                ImageSet.signed_at,
            ).where(ImageSet.id.in_(chosen))
        )
        if s.signed_at is None
    }


def _sign_set(batch: Batch, row: dict[str, Any], image_set: Any, content: dict[str, Any]) -> None:
    """Queue the signature of one set, by who signed its 1.2 status, and its audit event."""
    signer = checks.without_controls(row["SigneradAv"] or "").strip() or CONVERTER
    if signer == CONVERTER:
        batch.queue(
            ConversionIssue,
            {
                "step": 3,
                "source_table": "Status",
                "source_key": str(row["StatusId"]),
                "column_name": "SigneradAv",
                "reason": checks.SIGNER_MISSING,
                "rejected": False,
                "raw_value": checks.shown(str(row["SigneradAv"] or "")) or None,
            },
        )
    when, _problem = checks.read_time(row["Datum"])
    sealed = signing.digest(content)
    batch.update(
        ImageSet,
        image_set.id,
        signed_at=when or utcnow(),
        signed_by=signer,
        signature_digest=sealed,
    )
    changes = {
        "digest": [None, sealed],
        "manifest": [None, content],
        "converted_from": [None, f"1.2 StatusId {row['StatusId']}"],
    }
    batch.add(
        AuditEvent,
        {
            "at": utcnow(),
            "user_name": signer,
            "machine": CONVERTER,
            "patient_id": image_set.patient_id,
            "personnummer": content["personnummer"],
            "action": "image_set.sign",
            "entity": "image_set",
            "entity_id": image_set.id,
            "changes": json.dumps(changes, ensure_ascii=False, sort_keys=True),
        },
    )


def sign_converted(engine: Engine, source: Source) -> Job[int]:
    """Sign again every converted set that 1.2 had signed, by who signed it there.

    A batch of sets at a time: their manifests in a few queries, the signatures and their
    audit events written through the bulk path, one transaction per batch (a rerun skips
    the sets already signed).
    """
    signed = 0
    for rows in source.rows(STATUSES, 1000):
        wanted = [r for r in rows if r["Signerad"]]
        if not wanted:
            continue
        with Session(engine) as session:
            bulkwrite.prepare(session)
            ids = targets(session, "Status", [str(r["StatusId"]) for r in wanted])
            chosen = sorted({v for v in ids.values() if v is not None})
            sets = _unsigned_sets(session, chosen)
            manifests = set_manifests(session, list(sets.values()))
            batch = Batch(session, len(wanted) + 1)
            for row in wanted:
                image_set = sets.get(ids.get(str(row["StatusId"])) or 0)
                if image_set is None:
                    continue
                _sign_set(batch, row, image_set, manifests[image_set.id])
                signed += 1
            batch.write()
            session.commit()
        yield Progress(signed, None, _("signing the sets 1.2 had signed"))
    return signed


def find_orphans(engine: Engine, source: Source) -> Job[int]:
    """Record every file in the 1.2 folder that no row names (replacing an earlier scan)."""
    yield Progress(0, None, _("looking for files no row names"))
    found = 0
    with NameIndex() as names, Session(engine) as session:
        names.add_disk(source.images)
        names.add_named(row for rows in source.rows(ITEMS, 5000) for row in rows)
        session.execute(delete(ConversionIssue).where(ConversionIssue.reason == checks.ORPHAN_FILE))
        batch: list[dict[str, Any]] = []
        for relative in names.unnamed():
            batch.append(
                {
                    "step": 3,
                    "source_table": "file",
                    "source_key": relative,
                    "column_name": "",
                    "reason": checks.ORPHAN_FILE,
                    "rejected": True,
                    "raw_value": relative,
                }
            )
            if len(batch) >= 1000:
                found += len(batch)
                bulkwrite.insert_rows(session, ConversionIssue, batch)
                batch = []
        found += len(batch)
        bulkwrite.insert_rows(session, ConversionIssue, batch)
        session.commit()
    return found


def run(
    engine: Engine, source: Source, target_root: Path, *, batch: int = 500, link: bool = True
) -> Job[dict[str, Any]]:
    """Convert statuses and items with their files; sign; find orphan files."""
    total = source.count(STATUSES) + source.count(ITEMS)
    done = 0
    result: dict[str, Any] = {}
    items = ItemConverter(source, target_root, link=link)
    steps: tuple[tuple[Table, Converter], ...] = ((STATUSES, StatusConverter()), (ITEMS, items))
    for table, convert in steps:
        result[table.name], done = yield from write_table(
            engine, 3, source, table, convert, batch=batch, done=done, total=total
        )
    signed = yield from sign_converted(engine, source)
    yield LogLine(
        _(
            "%(count)s signed sets signed again by who signed them in 1.2.",
            count=display.number(signed),
        )
    )
    orphans = yield from find_orphans(engine, source)
    yield LogLine(
        ngettext(
            "%(count)s file in the 1.2 folder that no row names.",
            "%(count)s files in the 1.2 folder that no row names.",
            orphans,
            count=display.number(orphans),
        )
    )
    result["signed"] = signed
    result["orphan_files"] = orphans
    return result
