"""The export job: patients a page at a time, media encoded on every core, one audit event each.

The generator reads a keyset page of patients, hands their media files to a pool of worker
processes (a bounded number in flight, so memory stays flat however many patients there
are) and finishes each patient as soon as its last file is back: ``patient.xml`` is built,
validated and written, the ``patient.export`` audit event is committed, and only then is
the XML renamed into place and the patient's manifest rewritten. It yields a ``Progress``
for every file and patient, a ``LogLine`` for every patient and every problem, and returns
an ``ExportSummary``. Closing the generator (a cancelled web job, Ctrl-C) cancels the files
not yet started, waits for the few being encoded and shuts the pool down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ibdesk import audit, mediacheck, private
from ibdesk import display as display_module
from ibdesk.audit import Actor
from ibdesk.db import session_scope
from ibdesk.errors import UserError
from ibdesk.export import manifest, media, patient_xml, records
from ibdesk.export.files import TEMP_PREFIX, create_private, sha256_file
from ibdesk.export.media import FileResult, FileTask
from ibdesk.export.plan import ExportOptions, ExportSummary, FailedItem, Plan, Selection, plan
from ibdesk.export.records import MediaRecord, PatientRecord
from ibdesk.export.workers import WorkerPool
from ibdesk.i18n import gettext as _
from ibdesk.models import Patient, utcnow
from ibdesk.progress import Event, Job, LogLine, Progress

logger = logging.getLogger(__name__)
# Seconds between heartbeats while files are being encoded: a web job can cancel this often.
HEARTBEAT_S = 1.0
MAX_TRIES = 2  # a file whose worker died is encoded once more, in a new pool
_DEFAULT_EXTENSION = {"video": "mp4", "audio": "wav", "document": "pdf"}


def export_patients(
    engine: Engine,
    selection: Selection,
    options: ExportOptions,
    actor: Actor,
    *,
    cancel: threading.Event | None = None,
) -> Job[ExportSummary]:
    """Check the export now; return the job that exports the selected patients."""
    with session_scope(engine, read_only=True) as session:
        checked = plan(session, selection, options)
    return _Export(engine, checked, options, actor, cancel).run()


def display(number: str) -> str:
    """Return a 12-digit number as staff read it, ``YYYYMMDD-NNNN``."""
    return display_module.personnummer(number)


@dataclass
class _PatientWork:
    """A patient whose files are being exported."""

    record: PatientRecord
    folder: Path
    known: dict[str, str]
    results: dict[int, FileResult] = field(default_factory=dict)
    tasks: list[FileTask] = field(default_factory=list)
    pending: int = 0
    items: dict[int, MediaRecord] = field(default_factory=dict)

    @property
    def number(self) -> str:
        return display(self.record.personnummer)


class _Export:
    def __init__(
        self,
        engine: Engine,
        checked: Plan,
        options: ExportOptions,
        actor: Actor,
        cancel: threading.Event | None,
    ) -> None:
        self.engine, self.plan, self.options, self.actor = engine, checked, options, actor
        self.cancel = cancel or threading.Event()
        self.summary = ExportSummary(folder=str(checked.target))
        self.total = checked.patients + checked.media
        self.done = 0
        self.message = ""
        self.pool = WorkerPool(options.jobs)
        # Each file being encoded: its patient, its task, its tries, and its pool's generation.
        self.in_flight: dict[Future[FileResult], tuple[_PatientWork, FileTask, int, int]] = {}
        self.window = max(2, 3 * options.jobs)

    # -- the job -----------------------------------------------------------------------------

    def run(self) -> Job[ExportSummary]:
        started = time.perf_counter()
        target = self.plan.target
        with manifest.lock(target):
            self._write_schema()
            with session_scope(self.engine) as session:
                audit.system_event(
                    session,
                    self.actor,
                    "export.start",
                    f"{self.plan.patients} patients, {self.plan.media} media to {target}",
                )
            closed = False
            try:
                yield LogLine(
                    _(
                        "Exporting %(patients)s patients to %(target)s.",
                        patients=self.plan.patients,
                        target=target,
                    )
                )
                yield Progress(0, self.total, "")
                yield from self._patients()
                yield from self._drain()
            except (GeneratorExit, KeyboardInterrupt):
                # Closed by a cancelled web job, or Ctrl-C in the terminal.
                closed = self.summary.cancelled = True
                raise
            finally:
                self.pool.shutdown()
                problem = self._rebuild_root()
                self.summary.seconds = time.perf_counter() - started
                if closed:
                    self._log_finish(best_effort=True)
        if problem:
            self.summary.add_failure(FailedItem("", None, "", problem))
            yield LogLine(problem, "error")
        self._log_finish()
        yield LogLine(self.summary.describe(), "info" if self.summary.ok else "warning")
        return self.summary

    def _log_finish(self, *, best_effort: bool = False) -> None:
        s = self.summary
        try:
            with session_scope(self.engine) as session:
                audit.system_event(
                    session,
                    self.actor,
                    "export.finish",
                    f"{s.patients} patients to {self.plan.target}, {s.failures} problems"
                    + (", cancelled" if s.cancelled else ""),
                    level="info" if s.ok else "warning",
                )
        except SQLAlchemyError:
            if not best_effort:
                raise
            # The job is being closed: there is no one left to tell but the program log.
            logger.exception("Could not log the end of the cancelled export to %s", s.folder)

    def _patients(self) -> Iterator[Event]:
        for page in records.pages(self.engine, self.plan.patient_ids):
            for patient in page:
                if self.cancel.is_set():
                    self.summary.cancelled = True
                    return
                work = yield from self._start(patient)
                if work is None:
                    continue
                for task in work.tasks:
                    while len(self.in_flight) >= self.window:
                        yield from self._collect()
                        if self.cancel.is_set():
                            self.summary.cancelled = True
                            return
                    self._submit(work, task, 1)
                work.tasks.clear()
                if work.pending == 0:
                    yield from self._finish(work)

    def _drain(self) -> Iterator[Event]:
        while self.in_flight:
            # A cancel may come while the last files are encoding: check on every round.
            if self.cancel.is_set():
                self.summary.cancelled = True
                for future in list(self.in_flight):
                    if future.cancel():
                        del self.in_flight[future]
                if not self.in_flight:
                    break
            yield from self._collect()

    # -- files -------------------------------------------------------------------------------

    def _start(self, patient: PatientRecord) -> Generator[Event, None, _PatientWork | None]:
        """Prepare a patient's folder and tasks; return None (after logging) if impossible."""
        number = patient.personnummer
        folder = self.plan.target / number
        try:
            if not manifest.PATIENT_FOLDER.fullmatch(number):
                raise UserError(_("its number %(number)s is not 12 digits", number=repr(number)))
            # Patient data: this account's only (as private.make_folder makes it), also a
            # folder an earlier export left open; a file in the way is refused, not changed.
            folder.mkdir(mode=private.FOLDER_MODE, exist_ok=True)
            private.restrict(folder, private.FOLDER_MODE)
            for leftover in folder.glob(f"{TEMP_PREFIX}*"):
                leftover.unlink()
            journal = folder / manifest.MANIFEST
            manifest.end_line(journal)
            known = manifest.read(journal)
        except (OSError, UserError) as error:
            yield from self._patient_failed(
                patient, _("cannot be exported: %(error)s", error=_reason(error))
            )
            self._step(1 + sum(1 for _media in patient.media), display(number))
            yield self._progress()
            return None
        work = _PatientWork(patient, folder, known)
        for item in patient.media:
            work.items[item.id] = item
            stem = f"{item.image_set_id}-{item.id}-{item.kind}"
            extension = media.safe_extension(item.path, _DEFAULT_EXTENSION.get(item.kind, "bin"))
            try:
                relative = mediacheck.relative_path(item.path)
                source = self.plan.image_folder / relative
            except UserError as error:
                work.results[item.id] = FileResult(item.id, "failed", problem=str(error))
                continue
            names = media.candidate_names(item.kind, stem, extension, self.options.lossy_photos)
            work.tasks.append(
                FileTask(
                    media_id=item.id,
                    kind=item.kind,
                    source=str(source),
                    folder=str(folder),
                    stem=stem,
                    extension=extension,
                    lossy=self.options.lossy_photos,
                    root=str(self.plan.image_folder),
                    relative=relative,
                    byte_size=item.byte_size,
                    sha256=item.sha256,
                    known=tuple((n, known[n]) for n in names if n in known),
                )
            )
        work.pending = len(work.tasks)
        for item_id, result in list(work.results.items()):
            yield from self._record(work, item_id, result)
        return work

    def _submit(self, work: _PatientWork, task: FileTask, tries: int) -> None:
        future = self.pool.submit(task)
        self.in_flight[future] = (work, task, tries, self.pool.generation)

    def _collect(self) -> Iterator[Event]:
        done, _pending = wait(
            list(self.in_flight), timeout=HEARTBEAT_S, return_when=FIRST_COMPLETED
        )
        if not done:
            yield self._progress()
            return
        for future in done:
            work, task, tries, generation = self.in_flight.pop(future)
            media_id = task.media_id
            try:
                result = future.result()
            except BrokenProcessPool:
                # A worker died, and its pool with it: each of the pool's files is encoded
                # once more in a new pool; a file that kills that one too is given up.
                self.pool.broken(generation)
                if tries < MAX_TRIES and not self.cancel.is_set():
                    self._submit(work, task, tries + 1)
                    continue
                result = FileResult(media_id, "failed", problem=_("its worker process stopped"))
            except Exception as error:
                result = FileResult(media_id, "failed", problem=f"{type(error).__name__}: {error}")
            work.pending -= 1
            yield from self._record(work, media_id, result)
            if work.pending == 0 and not self.cancel.is_set():
                yield from self._finish(work)

    def _record(self, work: _PatientWork, media_id: int, result: FileResult) -> Iterator[Event]:
        work.results[media_id] = result
        summary = self.summary
        item = work.items.get(media_id)
        path = item.path if item else ""
        if result.outcome in ("encoded", "copied"):
            try:
                manifest.append(work.folder / manifest.MANIFEST, result.name, result.sha256)
            except OSError as error:
                result = FileResult(media_id, "failed", problem=f"manifest: {_reason(error)}")
                work.results[media_id] = result
        if result.outcome == "failed":
            summary.files_failed += 1
            summary.add_failure(
                FailedItem(work.record.personnummer, media_id, path, result.problem)
            )
            yield LogLine(
                _(
                    "%(number)s: media %(media_id)s (%(path)s): %(problem)s.",
                    number=work.number,
                    media_id=media_id,
                    path=path,
                    problem=result.problem,
                ),
                "error",
            )
        else:
            if result.outcome == "encoded":
                summary.files_encoded += 1
            elif result.outcome == "copied":
                summary.files_copied += 1
            else:
                summary.files_skipped += 1
            if item is not None and item.kind in media.IMAGE_KINDS:
                summary.images += 1
            if result.outcome != "skipped":
                summary.bytes_read += result.original_size or 0
                summary.bytes_written += result.size
            done = {
                "encoded": _("encoded"),
                "copied": _("copied"),
                "skipped": _("already exported"),
            }
            yield LogLine(
                _(
                    "%(number)s: %(path)s → %(name)s (%(done)s).",
                    number=work.number,
                    path=path,
                    name=result.name,
                    done=done.get(result.outcome, result.outcome),
                )
            )
            for note in result.warnings:
                yield LogLine(
                    _(
                        "%(number)s: media %(media_id)s: %(note)s.",
                        number=work.number,
                        media_id=media_id,
                        note=note,
                    ),
                    "warning",
                )
        self._step(1, work.number)
        yield self._progress()

    # -- patients ----------------------------------------------------------------------------

    def _finish(self, work: _PatientWork) -> Iterator[Event]:
        """Write patient.xml and the audit event; then the patient's export is complete."""
        record, folder = work.record, work.folder
        temp = folder / f"{TEMP_PREFIX}{patient_xml.XML_NAME}"
        stamp = patient_xml.ExportStamp(
            utcnow(), self.actor.user, self.actor.machine, patient_xml.software()
        )
        try:
            with session_scope(self.engine, read_only=True) as session:
                history = records.audit_history(session, record.id)
                data = patient_xml.serialize(
                    patient_xml.build(record, work.results, history, stamp)
                )
            _write_file(temp, data)
            # The event is committed before the XML gets its final name: a crash in between
            # leaves an event for an unfinished folder (a rerun finishes it), never a
            # finished folder without its event.
            with session_scope(self.engine) as session:
                patient = session.get(Patient, record.id)
                if patient is None:
                    raise UserError(_("the patient was removed from the database meanwhile"))
                audit.record(
                    session,
                    self.actor,
                    "patient.export",
                    patient=patient,
                    changes={"to": [None, str(folder)]},
                )
            os.replace(temp, folder / patient_xml.XML_NAME)
            entries = {r.name: r.sha256 for r in work.results.values() if r.ok}
            entries[patient_xml.XML_NAME] = sha256_file(folder / patient_xml.XML_NAME)
            manifest.write(folder / manifest.MANIFEST, entries.items())
            _remove_stale(folder, work.known, entries)
        except (OSError, UserError, patient_xml.InvalidExport) as error:
            temp.unlink(missing_ok=True)
            yield from self._patient_failed(record, f"patient.xml: {_reason(error)}")
            self._step(1, work.number)
            yield self._progress()
            return
        self.summary.patients += 1
        self.summary.bytes_written += len(data)
        problems = sum(1 for r in work.results.values() if not r.ok)
        files = len(work.results)
        skipped = sum(1 for r in work.results.values() if r.outcome == "skipped")
        counts = {"number": work.number, "files": files, "skipped": skipped, "problems": problems}
        if skipped and problems:
            text = _(
                "%(number)s: exported, %(files)s files (%(skipped)s already there), "
                "%(problems)s could not be exported.",
                **counts,
            )
        elif skipped:
            text = _("%(number)s: exported, %(files)s files (%(skipped)s already there).", **counts)
        elif problems:
            text = _(
                "%(number)s: exported, %(files)s files, %(problems)s could not be exported.",
                **counts,
            )
        else:
            text = _("%(number)s: exported, %(files)s files.", **counts)
        yield LogLine(text, "warning" if problems else "info")
        self._step(1, work.number)
        yield self._progress()

    def _patient_failed(self, record: PatientRecord, problem: str) -> Iterator[Event]:
        self.summary.patients_failed += 1
        self.summary.add_failure(FailedItem(record.personnummer, None, "", problem))
        yield LogLine(f"{display(record.personnummer)}: {problem}.", "error")

    # -- bookkeeping -------------------------------------------------------------------------

    def _step(self, units: int, message: str) -> None:
        self.done += units
        self.total = max(self.total, self.done)
        self.message = message

    def _progress(self) -> Progress:
        return Progress(self.done, self.total, self.message)

    def _write_schema(self) -> None:
        path = self.plan.target / patient_xml.SCHEMA_FILE
        data = patient_xml.schema_bytes()
        try:
            if path.is_file() and path.read_bytes() == data:
                private.restrict(path)
            else:
                manifest.write_atomic(path, data)
        except OSError as error:
            raise UserError(
                _(
                    "The export folder %(target)s cannot be written (%(error)s).",
                    target=self.plan.target,
                    error=_reason(error),
                )
            ) from error

    def _rebuild_root(self) -> str:
        try:
            manifest.rebuild_root(self.plan.target, [patient_xml.SCHEMA_FILE])
        except OSError as error:
            return _("The folder's manifest could not be written: %(error)s.", error=_reason(error))
        return ""


def _write_file(path: Path, data: bytes) -> None:
    with create_private(path) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _remove_stale(folder: Path, before: dict[str, str], now: dict[str, str]) -> None:
    """Remove files an earlier export wrote for items that are no longer exported."""
    for name in before:
        if name not in now and name != manifest.MANIFEST and manifest.FILE_NAME.fullmatch(name):
            (folder / name).unlink(missing_ok=True)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    return str(error)
