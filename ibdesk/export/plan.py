"""What an export is asked to do (selection, options) and what it reports (the summary).

``plan`` checks everything that can be checked before anything is written, so a mistake
(an unknown personnummer, an export folder inside the image folder) surfaces as one
``UserError`` on the caller's thread rather than in the middle of a job.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, display, folders, personnummer, statistics
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.export.records import chunks, count_live_media
from ibdesk.i18n import gettext as _
from ibdesk.models import MediaKind, Patient

# The summary lists this many failed items; ``failures`` counts all of them.
MAX_LISTED_FAILURES = 1000


def default_jobs() -> int:
    """Return the number of worker processes to use: one per core."""
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Selection:
    """Which patients to export: every live patient, or those with these numbers or ids."""

    everyone: bool = False
    numbers: tuple[str, ...] = ()
    patient_ids: tuple[int, ...] = ()

    @classmethod
    def all_patients(cls) -> Selection:
        """Select every patient that is not deleted."""
        return cls(everyone=True)

    @classmethod
    def of_numbers(cls, numbers: Iterable[str]) -> Selection:
        """Select patients by personnummer (in any form staff type)."""
        return cls(numbers=tuple(numbers))

    @classmethod
    def of_ids(cls, patient_ids: Iterable[int]) -> Selection:
        """Select patients by database id (what a search list in the window holds)."""
        return cls(patient_ids=tuple(patient_ids))


@dataclass(frozen=True)
class ExportOptions:
    """Where to export to and how.

    ``jobs`` worker processes encode images (0 encodes in the calling process);
    ``lossy_photos`` stores photos visually lossless instead of lossless (X-rays are always
    lossless).
    """

    to: Path
    jobs: int = field(default_factory=default_jobs)
    lossy_photos: bool = False


@dataclass(frozen=True)
class FailedItem:
    """A patient or media file that could not be exported, and why."""

    personnummer: str
    media_id: int | None
    path: str
    problem: str


@dataclass
class ExportSummary:
    """What an export did."""

    folder: str
    patients: int = 0
    patients_failed: int = 0
    files_encoded: int = 0
    files_copied: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    images: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    failures: int = 0
    failed: list[FailedItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether everything selected was exported."""
        return self.failures == 0 and not self.cancelled

    def add_failure(self, item: FailedItem) -> None:
        """Count a failed item, listing it while the list is not full."""
        self.failures += 1
        if len(self.failed) < MAX_LISTED_FAILURES:
            self.failed.append(item)

    def describe(self) -> str:
        """Return the summary as one sentence for the log."""
        counts = {
            "patients": self.patients,
            "encoded": self.files_encoded,
            "copied": self.files_copied,
            "skipped": self.files_skipped,
            "seconds": f"{self.seconds:.1f}",
            "failures": self.failures,
        }
        if self.cancelled and self.failures:
            return _(
                "Cancelled after exporting %(patients)s patients (%(encoded)s files encoded, "
                "%(copied)s copied, %(skipped)s already there) in %(seconds)s s; "
                "%(failures)s problems (see above); run the same export again to continue.",
                **counts,
            )
        if self.cancelled:
            return _(
                "Cancelled after exporting %(patients)s patients (%(encoded)s files encoded, "
                "%(copied)s copied, %(skipped)s already there) in %(seconds)s s; "
                "run the same export again to continue.",
                **counts,
            )
        if self.failures:
            return _(
                "Exported %(patients)s patients (%(encoded)s files encoded, %(copied)s "
                "copied, %(skipped)s already there) in %(seconds)s s; %(failures)s problems "
                "(see above).",
                **counts,
            )
        return _(
            "Exported %(patients)s patients (%(encoded)s files encoded, %(copied)s copied, "
            "%(skipped)s already there) in %(seconds)s s.",
            **counts,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain data (for JSON)."""
        data = asdict(self)
        data["ok"] = self.ok
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass(frozen=True)
class Plan:
    """A checked export: the image folder, the patients (None: all live) and the totals."""

    image_folder: Path
    target: Path
    patient_ids: tuple[int, ...] | None
    patients: int
    media: int


def plan(session: Session, selection: Selection, options: ExportOptions) -> Plan:
    """Check the selection and both folders; return what the export will do."""
    if options.jobs < 0:
        raise UserError(_("The number of worker processes cannot be negative."))
    images = image_folder(session)
    target = check_target(options.to, images)
    if selection.everyone:
        counts = statistics.counters(session)
        media = sum(counts[k.value].live for k in MediaKind if k.value in counts)
        patients = counts["patient"].live if "patient" in counts else 0
        return Plan(images, target, None, patients, media)
    ids = _resolve(session, selection)
    return Plan(images, target, ids, len(ids), count_live_media(session, ids))


def image_folder(session: Session) -> Path:
    """Return the image folder, or say why media files cannot be read from it."""
    stored = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    if not stored:
        raise UserError(_("The image folder is not set; set it before exporting patients."))
    folder = folders.expand(stored)
    if not folders.is_folder(folder):
        raise UserError(
            _(
                "The image folder %(folder)s cannot be reached; is the share connected?",
                folder=folder,
            )
        )
    return folder.resolve()


def check_target(to: Path, images: Path) -> Path:
    """Return the export folder resolved, refusing one that is missing, unwritable or inside
    the image folder."""
    folder = folders.expand(to)
    try:
        resolved = folders.refuse_dangerous(folder, _("export folder"))
    except UserError as error:
        raise Refused(str(error)) from error
    if resolved == images or images in resolved.parents:
        raise Refused(
            _(
                "%(folder)s is inside the image folder %(images)s; export to a folder outside it.",
                folder=folder,
                images=images,
            )
        )
    if resolved in images.parents:
        raise Refused(
            _(
                "%(folder)s contains the image folder %(images)s; export to a folder outside it.",
                folder=folder,
                images=images,
            )
        )
    if not folders.exists(folder):
        raise UserError(
            _("The export folder %(folder)s does not exist; create it first.", folder=folder)
        )
    if not folders.is_folder(folder):
        raise UserError(
            _("%(folder)s is a file, not a folder; choose a folder to export to.", folder=folder)
        )
    try:
        handle, probe = tempfile.mkstemp(prefix=".ibdesk-probe-", dir=resolved)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise UserError(
            _(
                "The export folder %(folder)s is not writable (%(value)s).",
                folder=folder,
                value=error.strerror or error,
            )
        ) from error
    return resolved


def _resolve(session: Session, selection: Selection) -> tuple[int, ...]:
    if selection.numbers:
        wanted = {personnummer.normalize(n) for n in selection.numbers}
        found: dict[str, int] = {}
        for numbers in chunks(sorted(wanted)):
            rows = session.execute(
                select(Patient.personnummer, Patient.id).where(
                    Patient.personnummer.in_(numbers),
                    Patient.deleted_at.is_(None),
                )
            )
            found.update({number: pid for number, pid in rows})
        missing = sorted(wanted - set(found))
        if missing:
            shown = ", ".join(display.personnummer(n) for n in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise NotFound(
                _(
                    "No patient (that is not deleted) has personnummer %(shown)s%(more)s.",
                    shown=shown,
                    more=more,
                )
            )
        ids = set(found.values())
    else:
        ids = set()
    if selection.patient_ids:
        wanted_ids = sorted(set(selection.patient_ids))
        live: set[int] = set()
        for part in chunks(wanted_ids):
            live.update(
                session.scalars(
                    select(Patient.id).where(Patient.id.in_(part), Patient.deleted_at.is_(None))
                )
            )
        gone = [i for i in wanted_ids if i not in live]
        if gone:
            raise NotFound(
                _(
                    "Patient %(gone)s does not exist or has been deleted (and %(count)s more).",
                    gone=gone[0],
                    count=len(gone) - 1,
                )
                if len(gone) > 1
                else _("Patient %(gone)s does not exist or has been deleted.", gone=gone[0])
            )
        ids |= live
    if not ids:
        raise UserError(_("Choose the patients to export, or export all patients."))
    return tuple(sorted(ids))
