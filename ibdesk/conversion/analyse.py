"""Step 1: read the whole 1.2 installation (read-only) and say what converting it would meet.

Counts per table and in the image folder, every problem by kind with a few examples, and an
estimate of the time and the disk space the conversion will take. Nothing is written
anywhere: the source is open read-only and the result is a plain dictionary (the report).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ibdesk import display
from ibdesk.conversion import checks
from ibdesk.conversion.names import NameIndex
from ibdesk.conversion.source import ITEMS, LOG, PATIENTS, STATUSES, TABLES, USERS, Source
from ibdesk.i18n import gettext as _
from ibdesk.i18n import ngettext
from ibdesk.progress import Job, LogLine, Progress

EXAMPLES = 5
# Rough paces measured on a small machine, for the estimate only.
ROWS_PER_S = 2_000
FILES_PER_S_LINKED = 1_500
BYTES_PER_S_COPIED = 60 * 1024 * 1024


class Problems:
    """Problems by kind: how many, and the first few examples of each."""

    def __init__(self) -> None:
        """Start with none."""
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[dict[str, Any]]] = {}

    def add(self, kind: str, table: str, key: Any, column: str = "", raw: Any = None) -> None:
        """Count one problem and keep it as an example while there are few."""
        self.counts[kind] += 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < EXAMPLES:
            shown.append(
                {
                    "table": table,
                    "key": str(key),
                    "column": column,
                    "raw": None if raw is None else str(raw),
                }
            )

    def as_dict(self) -> dict[str, Any]:
        """Return the problems as the report holds them."""
        return {
            k: {"count": n, "examples": self.examples[k]} for k, n in sorted(self.counts.items())
        }


def _patients(source: Source, found: Problems) -> tuple[set[int], int]:
    seen: set[str] = set()
    ids: set[int] = set()
    merged = 0
    for rows in source.rows(PATIENTS, 2000):
        for row in rows:
            key = row["PatientId"]
            ids.add(int(key))
            read = checks.read_personnummer(row["PersonNr"])
            if read.problem:
                found.add(read.problem, "Patienter", key, "PersonNr", row["PersonNr"])
            elif read.number in seen:
                found.add(checks.DUPLICATE, "Patienter", key, "PersonNr", row["PersonNr"])
                merged += 1
            else:
                seen.add(read.number or "")
            for column in ("Fornamn", "Efternamn", "Adress", "Ort", "Anteckning"):
                text = checks.repair_text(row[column])
                if text.problem:
                    found.add(text.problem, "Patienter", key, column, row[column])
            if checks.read_time(row["Skapad"])[1]:
                found.add(
                    checks.read_time(row["Skapad"])[1] or "",
                    "Patienter",
                    key,
                    "Skapad",
                    row["Skapad"],
                )
            if row["Raderad"]:
                found.add(checks.DELETED, "Patienter", key, "Raderad", row["Raderad"])
    return ids, merged


def _items(
    source: Source,
    names: NameIndex,
    found: Problems,
    patient_ids: set[int],
    status_ids: set[int],
    progress: tuple[int, int],
) -> Job[tuple[int, Counter[str]]]:
    """Check every item row and its file; return the bytes the rows name and the count by type."""
    done, total = progress
    index = checks.FolderIndex(source.images)
    named_bytes = 0
    by_type: Counter[str] = Counter()
    for rows in source.rows(ITEMS, 2000):
        names.add_named(rows)
        for row in rows:
            key = row["BildId"]
            by_type[str(row["Typ"])] += 1
            if checks.as_int(row["PatientId"]) not in patient_ids:
                found.add(checks.ORPHAN_PATIENT, "Bilder", key, "PatientId", row["PatientId"])
            elif row["StatusId"] is not None and checks.as_int(row["StatusId"]) not in status_ids:
                found.add(checks.ORPHAN_STATUS, "Bilder", key, "StatusId", row["StatusId"])
            if checks.read_kind(row["Typ"]) is None:
                found.add(checks.WRONG_TYPE, "Bilder", key, "Typ", row["Typ"])
            if row["Raderad"]:
                found.add(checks.DELETED, "Bilder", key, "Raderad", row["Raderad"])
            where = index.find(str(row["Filnamn"]))
            if where.relative is None:
                found.add(
                    where.problem or checks.FILE_MISSING,
                    "Bilder",
                    key,
                    "Filnamn",
                    row["Filnamn"],
                )
                continue
            if where.case_differs:
                found.add(checks.CASE_DIFFERS, "Bilder", key, "Filnamn", row["Filnamn"])
            try:
                size = os.lstat(source.images / where.relative).st_size
            except OSError:  # gone since the folder was listed
                found.add(checks.FILE_MISSING, "Bilder", key, "Filnamn", row["Filnamn"])
                continue
            if size == 0:
                found.add(checks.FILE_EMPTY, "Bilder", key, "Filnamn", row["Filnamn"])
            named_bytes += size
        done += len(rows)
        yield Progress(done, total, "Bilder")
    return named_bytes, by_type


def _users(source: Source, found: Problems) -> None:
    """Note every 1.2 user whose password is still kept as MD5."""
    for rows in source.rows(USERS):
        for row in rows:
            if row["LosenordMD5"]:
                found.add(
                    checks.MD5_PASSWORD, "Anvandare", row["AnvandarId"], "LosenordMD5", "(MD5)"
                )


def _statuses(
    source: Source, found: Problems, patient_ids: set[int], progress: tuple[int, int]
) -> Job[tuple[set[int], int, int]]:
    """Check every status row; return the ids carried over, how many are signed, rows done."""
    done, total = progress
    status_ids: set[int] = set()
    signed = 0
    for rows in source.rows(STATUSES, 2000):
        for row in rows:
            if checks.as_int(row["PatientId"]) not in patient_ids:
                found.add(
                    checks.ORPHAN_PATIENT, "Status", row["StatusId"], "PatientId", row["PatientId"]
                )
            else:
                status_ids.add(int(row["StatusId"]))
            signed += bool(row["Signerad"])
        done += len(rows)
        yield Progress(done, total, "Status")
    return status_ids, signed, done


def analyse(source: Source, target_images: Path | None = None) -> Job[dict[str, Any]]:
    """Analyse a 1.2 installation as a job; return the report (a plain dictionary)."""
    started = time.perf_counter()
    counts = {t.name: source.count(t) for t in TABLES}
    yield LogLine(
        _(
            "Rows per table: %(counts)s.",
            counts=", ".join(f"{name} {display.number(n)}" for name, n in counts.items()),
        )
    )
    total = sum(counts.values())
    found = Problems()
    done = 0
    patient_ids, merged = _patients(source, found)
    done += counts["Patienter"]
    yield Progress(done, total, "Patienter")
    _users(source, found)
    status_ids, signed, done = yield from _statuses(source, found, patient_ids, (done, total))
    with NameIndex() as names:
        named_bytes, by_type = yield from _items(
            source, names, found, patient_ids, status_ids, (done, total)
        )
        done += counts["Bilder"]
        for rows in source.rows(LOG, 5000):
            for row in rows:
                pid = row["PatientId"]
                if pid is not None and checks.as_int(pid) not in patient_ids:
                    found.add(
                        checks.ORPHAN_PATIENT, "Logg", row["LoggId"], "PatientId", row["PatientId"]
                    )
            done += len(rows)
            yield Progress(done, total, "Logg")
        names.add_disk(source.images)
        files, folder_bytes = names.files()
        for relative in names.unnamed():
            found.add(checks.ORPHAN_FILE, "file", relative, "", relative)
    linked = _same_filesystem(source.images, target_images)
    seconds = total / ROWS_PER_S + (
        files / FILES_PER_S_LINKED if linked else named_bytes / BYTES_PER_S_COPIED
    )
    report = {
        "step": 1,
        "source": source.label,
        "tables": counts,
        "folder": {"files": files, "bytes": folder_bytes, "named_bytes": named_bytes},
        "by_type": dict(sorted(by_type.items())),
        "signed_statuses": signed,
        "duplicates_to_merge": merged,
        "problems": found.as_dict(),
        "estimate": {
            "seconds": round(seconds, 1),
            "hard_links": linked,
            "disk_bytes": 0 if linked else named_bytes,
            "database_bytes": total * 1024,
        },
        "analysed_in_s": round(time.perf_counter() - started, 2),
    }
    yield LogLine(
        ngettext(
            "%(count)s kind of problem found.",
            "%(count)s kinds of problem found.",
            len(found.counts),
            count=display.number(len(found.counts)),
        )
    )
    return report


def _same_filesystem(source: Path, target: Path | None) -> bool:
    if target is None:
        return False
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return os.stat(source).st_dev == os.stat(probe).st_dev
    except OSError:
        return False
