"""What the conversion decides about one 1.2 value: shared by the analysis and the steps.

Every function here is pure (no database): a personnummer is read as 2.1 reads it, text is
repaired only when ftfy is certain it is UTF-8 that was read as Windows-1252, and a date
typed by the old client becomes an aware UTC time (1.2 stored Swedish local time).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import ftfy

from ibdesk import limits, personnummer, safefiles
from ibdesk.mediacheck import VALID_TEETH
from ibdesk.models import MediaKind, PatientKind

LOCAL = ZoneInfo("Europe/Stockholm")
KINDS = {
    1: MediaKind.INTRAORAL,
    2: MediaKind.PANORAMIC,
    3: MediaKind.PHOTO,
    4: MediaKind.VIDEO,
    5: MediaKind.AUDIO,
    6: MediaKind.DOCUMENT,
}
# Reason codes: stable words for the reject file and the report (explained in report.py).
PN_INVALID, PN_EMPTY, DUPLICATE = "personnummer_invalid", "personnummer_empty", "duplicate_person"
TEXT_REPAIRED, TEXT_DOUBTFUL = "text_repaired", "text_doubtful"
DATE_MISSING, DATE_INVALID = "date_missing", "date_invalid"
ORPHAN_PATIENT, ORPHAN_STATUS = "orphan_patient", "orphan_status"
FILE_MISSING, FILE_EMPTY, FILE_OUTSIDE = "file_missing", "file_empty", "file_outside"
FILE_UNREADABLE, CASE_DIFFERS, HASH_MISMATCH = "file_unreadable", "case_differs", "hash_mismatch"
ORPHAN_FILE, MD5_PASSWORD, BAD_USERNAME = "orphan_file", "md5_password", "username_invalid"
WRONG_TYPE, TEETH_INVALID, WRITE_FAILED = "type_invalid", "teeth_invalid", "write_failed"
DELETED, SIGNER_MISSING, USER_EXISTS = "deleted", "signer_missing", "user_exists"
TARGET_BLOCKED, PATIENT_DIFFERS = "target_blocked", "patient_differs"
CONVERT_FAILED, RESERVE_TAKEN = "convert_failed", "reserve_number_taken"
TEXT_CONTROL = "text_control_removed"
# The control characters no 2.1 text holds (NUL among them: the same row must not convert on
# SQLite alone), dropped from 1.2 text and written out as \xNN in the report.
_CONTROLS = dict.fromkeys(sorted(map(ord, limits.CONTROL_CHARACTERS)))
_SHOWN = {c: f"\\x{c:02x}" for c in _CONTROLS}
# ftfy's steps that mean "UTF-8 bytes were decoded as Windows-1252 (or Latin-1)".
_CERTAIN = {
    (("encode", "sloppy-windows-1252"), ("decode", "utf-8")),
    (("encode", "windows-1252"), ("decode", "utf-8")),
    (("encode", "latin-1"), ("decode", "utf-8")),
}
_SUSPECT = ("Ã", "Â", "â€", "\ufffd", "Ã¥")


@dataclass(frozen=True)
class Number:
    """A 1.2 personnummer read as 2.1 reads it: the normalised number, or why not."""

    number: str | None
    kind: PatientKind | None
    problem: str | None  # PN_INVALID, PN_EMPTY or None
    message: str = ""


def read_personnummer(typed: str | None, *, today: dt.date | None = None) -> Number:
    """Read a typed personnummer; an invalid one is never guessed at."""
    if typed is None or not typed.strip():
        return Number(None, None, PN_EMPTY)
    try:
        identity = personnummer.parse(typed, today=today)
    except personnummer.PersonnummerError as error:
        return Number(None, None, PN_INVALID, str(error))
    return Number(identity.number, identity.kind, None)


def reserve_number(patient_id: int, attempt: int = 0) -> str:
    """Return a reserve number a patient without a usable personnummer may be filed under.

    The first is made from the 1.2 PatientId; when that one is taken (a 1.2 row typed it, or
    a 2.1 patient has it), the next attempts count down from the top of the reserve range.
    """
    if attempt == 0 and 0 <= patient_id < 10**10:
        return f"99{patient_id:010d}"
    return f"99{10**10 - max(attempt, 1):010d}"


def read_kind(typ: object) -> MediaKind | None:
    """Return the 2.1 media kind of a 1.2 ``Typ`` value, or None for one that is no type."""
    try:
        return KINDS.get(int(str(typ).strip()))
    except (TypeError, ValueError):
        return None


def as_int(value: object) -> int | None:
    """Return a 1.2 key as a number, or None where a row holds something else."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Text:
    """A 1.2 text value and what became of it."""

    value: str
    problem: str | None  # TEXT_CONTROL, TEXT_REPAIRED, TEXT_DOUBTFUL or None


def without_controls(raw: str) -> str:
    """Return text without the control characters a 2.1 text never holds (see _CONTROLS)."""
    return raw.translate(_CONTROLS)


def shown(raw: str) -> str:
    """Return a raw value as the report keeps it: each control character written as \\xNN."""
    return raw.translate(_SHOWN)


def repair_text(raw: str | None) -> Text:
    """Drop control characters; repair mojibake only when ftfy is certain; flag doubtful text."""
    if not raw:
        return Text("", None)
    cleaned = without_controls(raw)
    if cleaned != raw:
        return Text(_repaired(cleaned).value, TEXT_CONTROL)
    return _repaired(raw)


def _repaired(raw: str) -> Text:
    if raw.isascii():
        return Text(raw, None)
    fixed = ftfy.fix_encoding_and_explain(raw)
    steps = tuple(tuple(step) for step in (fixed.explanation or ()))
    if fixed.text != raw and steps in _CERTAIN and not any(s in fixed.text for s in _SUSPECT):
        return Text(fixed.text, TEXT_REPAIRED)
    if any(s in raw for s in _SUSPECT):
        return Text(raw, TEXT_DOUBTFUL)
    return Text(raw, None)


def read_time(raw: str | None) -> tuple[dt.datetime | None, str | None]:
    """Read a 1.2 local date or time as aware UTC; say DATE_MISSING or DATE_INVALID if not."""
    text = (raw or "").strip()
    if not text:
        return None, DATE_MISSING
    if len(text) == 19 and text[4] + text[7] + text[10] + text[13] + text[16] == "-- ::":
        # The usual shape, read without strptime (the same digits strptime would accept).
        try:
            if text.replace("-", "").replace(":", "").replace(" ", "").isdigit():
                local = dt.datetime.fromisoformat(text)
                return local.replace(tzinfo=LOCAL).astimezone(dt.UTC), None
        except ValueError:
            pass
    for shape in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            local = dt.datetime.strptime(text, shape)
        except ValueError:
            continue
        return local.replace(tzinfo=LOCAL).astimezone(dt.UTC), None
    return None, DATE_INVALID


def read_teeth(raw: str | None) -> tuple[str, bool]:
    """Return the FDI teeth as 2.1 stores them, and whether anything had to be left out."""
    names = [t.strip() for t in (raw or "").replace(";", ",").split(",") if t.strip()]
    good = sorted({t for t in names if t in VALID_TEETH}, key=int)
    return ",".join(good), len(good) != len(set(names))


@dataclass(frozen=True)
class Found:
    """Where a 1.2 file row's file is: its real relative path, or the problem."""

    relative: str | None  # with the real case, "/" separated
    problem: str | None  # FILE_MISSING, FILE_OUTSIDE, FILE_UNREADABLE or None
    case_differs: bool = False
    message: str = ""


class _Listing:
    """One folder's names: as they are, by lower case, and which of them are links."""

    def __init__(self, folder: str) -> None:
        """List the folder once (an unreadable folder lists nothing)."""
        self.exact: set[str] = set()
        self.by_lower: dict[str, str] = {}
        self.links: set[str] = set()
        try:
            with os.scandir(folder) as found:
                entries = sorted(found, key=lambda entry: entry.name)
        except OSError:
            return
        for entry in entries:
            self.exact.add(entry.name)
            # Two names alike but for case: the first in order answers, on every run.
            self.by_lower.setdefault(entry.name.lower(), entry.name)
            if entry.is_symlink():  # from the listing itself: no stat per name
                self.links.add(entry.name)

    def get(self, name: str) -> str | None:
        """Return the real name for a name, exactly or differing only in case."""
        return name if name in self.exact else self.by_lower.get(name.lower())


class FolderIndex:
    """Case-insensitive lookup of names in the 1.2 image folder, one listing per folder."""

    def __init__(self, root: Path) -> None:
        """Index folders of ``root`` lazily, never following a link."""
        self.root = root
        self._root = os.fspath(root)
        self._listings: dict[str, _Listing] = {}

    def _listing(self, relative_dir: str) -> _Listing:
        found = self._listings.get(relative_dir)
        if found is None:
            if len(self._listings) > 4096:  # keep memory flat over a big folder
                self._listings.clear()
            folder = os.path.join(self._root, relative_dir) if relative_dir else self._root
            found = self._listings[relative_dir] = _Listing(folder)
        return found

    def find(self, filnamn: str) -> Found:
        """Find the file a row names, exactly or differing only in case."""
        try:
            names = safefiles.parts(filnamn)
        except safefiles.FileProblem as problem:
            return Found(None, FILE_OUTSIDE, message=str(problem))
        real: list[str] = []
        for name in names:
            listing = self._listing("/".join(real))
            actual = listing.get(name)
            if actual is None:
                return Found(None, FILE_MISSING)
            if actual in listing.links:
                return Found(None, FILE_OUTSIDE, message="a symbolic link")
            real.append(actual)
        return Found("/".join(real), None, case_differs=real != names)
