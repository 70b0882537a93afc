"""Checking an export folder against its manifest: every file there, intact, and nothing else.

The manifest is streamed, one patient folder at a time, so checking a folder of any size
needs little memory. Each ``patient.xml`` is also validated against the schema and its
file list compared with the manifest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from ibdesk import display, folders
from ibdesk.errors import UserError
from ibdesk.export import manifest, patient_xml
from ibdesk.export.files import TEMP_PREFIX, sha256_file
from ibdesk.i18n import gettext
from ibdesk.i18n import gettext as _
from ibdesk.progress import Job, LogLine, Progress

MAX_LISTED_PROBLEMS = 1000
_IGNORED = frozenset({manifest.MANIFEST, manifest.LOCK_FILE})


@dataclass
class VerifyReport:
    """What checking an export folder found."""

    folder: str
    files: int = 0
    bytes: int = 0
    patients: int = 0
    seconds: float = 0.0
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether the folder matches its manifest exactly."""
        return self.problem_count == 0

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain data (for JSON)."""
        data = asdict(self)
        data["ok"] = self.ok
        data["seconds"] = round(self.seconds, 3)
        return data


def verify_export(folder: Path) -> Job[VerifyReport]:
    """Check that the folder is an export folder now; return the job that checks every file."""
    folder = folders.expand(folder)
    if not folders.is_folder(folder):
        raise UserError(gettext("%(folder)s is not a folder.", folder=folder))
    if not folders.is_file(folder / manifest.MANIFEST):
        raise UserError(
            _(
                "%(folder)s has no %(MANIFEST)s; it is not an ibdesk export "
                "folder, or the export did not get far enough to write one (run it "
                "again).",
                folder=folder,
                MANIFEST=manifest.MANIFEST,
            )
        )
    return _Check(folder.resolve()).run()


class _Check:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.report = VerifyReport(folder=str(folder))
        self.seen_folders: set[str] = set()
        self.root_names: set[str] = set()

    def problem(self, text: str) -> LogLine:
        self.report.problem_count += 1
        if len(self.report.problems) < MAX_LISTED_PROBLEMS:
            self.report.problems.append(text)
        return LogLine(text, "error")

    def run(self) -> Job[VerifyReport]:
        started = time.perf_counter()
        with manifest.lock(self.folder, create=False):
            total = sum(1 for _entry in manifest.iter_root(self.folder))
            yield Progress(0, total, "")
            current: str | None = None
            entries: dict[str, str] = {}
            for number, line in manifest.iter_root(self.folder):
                parsed = manifest.parse_line(line) if line.endswith("\n") else None
                if parsed is None:
                    yield self.problem(
                        _(
                            "%(MANIFEST)s line %(number)s is not a manifest line.",
                            MANIFEST=manifest.MANIFEST,
                            number=number,
                        )
                    )
                    continue
                digest, path = parsed
                patient, _slash, name = path.rpartition("/")
                if not self._safe(patient, name):
                    yield self.problem(
                        _(
                            "%(MANIFEST)s line %(number)s: bad path %(path)s.",
                            MANIFEST=manifest.MANIFEST,
                            number=number,
                            path=path,
                        )
                    )
                    continue
                if patient != current:
                    if current is not None:
                        yield from self._close_folder(current, entries)
                    if patient and patient in self.seen_folders:
                        yield self.problem(
                            _(
                                "%(MANIFEST)s lists %(patient)s in two places.",
                                MANIFEST=manifest.MANIFEST,
                                patient=patient,
                            )
                        )
                    elif patient:
                        self.seen_folders.add(patient)
                    current, entries = patient, {}
                entries[name] = digest
                yield from self._check_file(path, digest)
                yield Progress(number, total, path)
            if current is not None:
                yield from self._close_folder(current, entries)
            yield from self._check_root()
        self.report.seconds = time.perf_counter() - started
        r = self.report
        yield LogLine(
            (
                gettext(
                    "Checked %(files)s files of %(patients)s patients (%(size)s): all intact.",
                    files=display.number(r.files),
                    patients=display.number(r.patients),
                    size=display.byte_size(r.bytes),
                )
                if r.ok
                else gettext(
                    "Checked %(files)s files of %(patients)s patients (%(size)s): "
                    "%(problems)s problems.",
                    files=display.number(r.files),
                    patients=display.number(r.patients),
                    size=display.byte_size(r.bytes),
                    problems=display.number(r.problem_count),
                )
            ),
            "info" if r.ok else "error",
        )
        return self.report

    @staticmethod
    def _safe(patient: str, name: str) -> bool:
        if patient and not manifest.PATIENT_FOLDER.fullmatch(patient):
            return False
        return bool(manifest.FILE_NAME.fullmatch(name))

    def _check_file(self, path: str, digest: str) -> Iterator[LogLine]:
        target = self.folder / path
        try:
            actual = sha256_file(target)
            size = target.stat().st_size
        except FileNotFoundError:
            yield self.problem(_("%(path)s is missing.", path=path))
            return
        except OSError as error:
            yield self.problem(
                _("%(path)s cannot be read (%(strerror)s).", path=path, strerror=error.strerror)
            )
            return
        self.report.files += 1
        self.report.bytes += size
        if actual != digest:
            yield self.problem(
                _("%(path)s has changed: its SHA-256 does not match the manifest.", path=path)
            )

    def _close_folder(self, patient: str, entries: dict[str, str]) -> Iterator[LogLine]:
        """Check a patient folder as a whole once all of its manifest lines were read."""
        if not patient:
            self.root_names.update(entries)
            return
        self.report.patients += 1
        folder = self.folder / patient
        try:
            present = {e.name for e in os.scandir(folder) if e.is_file()}
        except OSError as error:
            yield self.problem(
                _(
                    "%(patient)s cannot be listed (%(strerror)s).",
                    patient=patient,
                    strerror=error.strerror,
                )
            )
            return
        for name in sorted(present - set(entries) - _IGNORED):
            if name.startswith(TEMP_PREFIX):
                yield self.problem(
                    _(
                        "%(patient)s/%(name)s is a file left half-written by an export.",
                        patient=patient,
                        name=name,
                    )
                )
            else:
                yield self.problem(
                    _("%(patient)s/%(name)s is not in the manifest.", patient=patient, name=name)
                )
        if patient_xml.XML_NAME not in entries:
            yield self.problem(
                _(
                    "%(patient)s has no %(XML_NAME)s in the manifest: its export did "
                    "not finish; run the export again.",
                    patient=patient,
                    XML_NAME=patient_xml.XML_NAME,
                )
            )
            return
        yield from self._check_xml(patient, entries)

    def _check_xml(self, patient: str, entries: dict[str, str]) -> Iterator[LogLine]:
        path = self.folder / patient / patient_xml.XML_NAME
        try:
            document = etree.parse(str(path), etree.XMLParser(resolve_entities=False))
        except (OSError, etree.XMLSyntaxError) as error:
            yield self.problem(
                _(
                    "%(patient)s/%(XML_NAME)s cannot be read (%(error)s).",
                    patient=patient,
                    XML_NAME=patient_xml.XML_NAME,
                    error=error,
                )
            )
            return
        xsd = patient_xml.schema()
        if not xsd.validate(document):
            yield self.problem(
                _(
                    "%(patient)s/%(XML_NAME)s is not valid: %(last_error)s.",
                    patient=patient,
                    XML_NAME=patient_xml.XML_NAME,
                    last_error=xsd.error_log.last_error,
                )
            )
            return
        ns = f"{{{patient_xml.NAMESPACE}}}"
        number = document.findtext(f"{ns}identity/{ns}number")
        if number != patient:
            yield self.problem(
                _(
                    "%(patient)s/%(XML_NAME)s is about another patient.",
                    patient=patient,
                    XML_NAME=patient_xml.XML_NAME,
                )
            )
        for element in document.iter(f"{ns}file"):
            name, digest = element.get("name", ""), element.get("sha256", "")
            if entries.get(name) != digest:
                yield self.problem(
                    _(
                        "%(patient)s/%(XML_NAME)s names %(name)s, which the manifest does "
                        "not list with the same SHA-256.",
                        patient=patient,
                        XML_NAME=patient_xml.XML_NAME,
                        name=name,
                    )
                )

    def _check_root(self) -> Iterator[LogLine]:
        if patient_xml.SCHEMA_FILE not in self.root_names:
            yield self.problem(
                _("%(SCHEMA_FILE)s is not in the manifest.", SCHEMA_FILE=patient_xml.SCHEMA_FILE)
            )
        with os.scandir(self.folder) as found:
            for entry in sorted(found, key=lambda e: e.name):
                name = entry.name
                if name in _IGNORED or name in self.root_names or name in self.seen_folders:
                    continue
                if entry.is_dir() and manifest.PATIENT_FOLDER.fullmatch(name):
                    yield self.problem(
                        _("%(name)s is a patient folder the manifest does not list.", name=name)
                    )
                elif name.startswith(TEMP_PREFIX):
                    yield self.problem(
                        _("%(name)s is a file left half-written by an export.", name=name)
                    )
                else:
                    yield self.problem(_("%(name)s is not in the manifest.", name=name))
