"""Step 2: the 1.2 settings, users and patients into an empty 2.1 database.

A personnummer that 2.1 cannot read is never guessed at: the patient is filed under a
reserve number made from the 1.2 PatientId and the number as typed is kept in the report and
in the patient's history. The same person entered twice becomes one patient (both
histories follow the map to it). MD5 passwords are never usable as they are: the hash is
kept only for a one-time upgrade at the user's first sign-in (checked once, then replaced by
Argon2id) and every such account is reported. Soft-deleted patients stay deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, users
from ibdesk.conversion import checks
from ibdesk.conversion.batches import (
    CONVERTED,
    MERGED,
    Batch,
    Converter,
    Issue,
    Outcome,
    rejected,
    write_table,
)
from ibdesk.conversion.source import PATIENTS, SETTINGS, USERS, Source
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.models import (
    AuditEvent,
    ConversionIssue,
    Patient,
    Setting,
    UserAccount,
    UserGroup,
    utcnow,
)
from ibdesk.progress import Job, LogLine
from ibdesk.users import accounts, passwords
from ibdesk.users.accounts import CLINICIANS

CONVERTER = "ImageBank 1.2"  # the machine of converted history and of the conversion's rows
SETTING_KEYS = {
    "Klinik": clinic_settings.CLINIC_NAME,
    "Version": "legacy12.version",
    "Bildmapp": "legacy12.image_folder",
}
_FIELDS = (
    ("Fornamn", "first_name", 100),
    ("Efternamn", "last_name", 100),
    ("Adress", "address", 200),
    ("Postnr", "postal_code", 10),
    ("Ort", "city", 100),
    ("Telefon", "phone", 40),
    ("Anteckning", "note", 100_000),
)


def _audit(patient_id: int, number: str, action: str, changes: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": utcnow(),
        "user_name": CONVERTER,
        "machine": CONVERTER,
        "patient_id": patient_id,
        "personnummer": number,
        "action": action,
        "entity": "patient",
        "entity_id": patient_id,
        "changes": json.dumps(changes, ensure_ascii=False, sort_keys=True, default=str),
    }


@dataclass
class _Filed:
    """A 2.1 patient a number is filed under: in the database, or new in this batch (``row``)."""

    id: int
    personnummer: str
    deleted: bool
    row: dict[str, Any] | None = None


class SettingConverter(Converter):
    """The 1.2 settings: the clinic name, and the version and old folder for reference."""

    def convert(self, batch: Batch, row: dict[str, Any]) -> Outcome:
        """Carry one 1.2 setting over (the clinic name; the rest kept for reference)."""
        session = batch.session
        key = SETTING_KEYS.get(row["Nyckel"])
        if key is None:
            key = f"legacy12.{checks.without_controls(str(row['Nyckel']))[:50]}"
        value = checks.repair_text(row["Varde"])
        issues = [Issue(value.problem, "Varde", row["Varde"], value.value)] if value.problem else []
        existing = session.get(Setting, key)
        if existing is not None and existing.value:
            return Outcome(MERGED, detail="kept the 2.1 value", issues=issues)
        clinic_settings.put(session, key, value.value, by=CONVERTER)
        return Outcome(CONVERTED, issues=issues)


class UserConverter(Converter):
    """The 1.2 accounts, without their MD5 passwords."""

    def convert(self, batch: Batch, row: dict[str, Any]) -> Outcome:
        """Carry one 1.2 account over, with no usable password (MD5 is never kept)."""
        session = batch.session
        try:
            name = users.normalize_username(str(row["Namn"] or ""))
        except UserError:
            return rejected(checks.BAD_USERNAME, "Namn", row["Namn"])
        existing = session.scalar(select(UserAccount).where(UserAccount.username == name))
        if existing is not None:
            return Outcome(
                MERGED,
                existing.id,
                "existing 2.1 account",
                [Issue(checks.USER_EXISTS, "Namn", row["Namn"])],
            )
        account = UserAccount(
            username=name,
            display_name=str(row["Namn"]),
            password_hash=None,  # an MD5 hash is never a usable password by itself:
            # it is checked once at the first sign-in and replaced by Argon2id (ibdesk.users).
            legacy_md5=passwords.legacy_md5(row["LosenordMD5"]),
            source="local",
            active=True,
            created_at=utcnow(),
        )
        account.groups = _groups_for(session, admin=bool(row["Admin"]))
        session.add(account)
        issues = (
            [Issue(checks.MD5_PASSWORD, "LosenordMD5", "(MD5 hash, not shown)")]
            if row["LosenordMD5"]
            else []
        )
        return Outcome(CONVERTED, account, issues=issues)


def _groups_for(session: Session, *, admin: bool) -> list[UserGroup]:
    """Return a 1.2 account's groups: administrators stay so, the others are clinicians."""
    if admin:
        return [accounts.administrators_group(session)]
    clinicians = session.scalar(select(UserGroup).where(UserGroup.name == CLINICIANS))
    return [clinicians] if clinicians is not None else []


def typed_reserve_numbers(source: Source) -> set[str]:
    """Return every reserve number (``99…``) a 1.2 patient row typed: never to be made up."""
    typed: set[str] = set()
    for rows in source.rows(PATIENTS, 5000, columns=("PersonNr",)):
        for row in rows:
            raw = row["PersonNr"]
            if raw and "".join(ch for ch in str(raw) if ch.isdigit()).startswith("99"):
                read = checks.read_personnummer(str(raw))
                if read.kind == checks.PatientKind.RESERVE and read.number:
                    typed.add(read.number)
    return typed


class PatientConverter(Converter):
    """The 1.2 patients, the same person twice merged into one.

    A number the converter makes up (for a patient without a usable personnummer) is never
    one a 1.2 row typed nor one a 2.1 patient has, and no row is ever merged into a patient
    whose number was made up: two people without numbers are not one person.
    """

    def __init__(self, source: Source) -> None:
        """Start with no numbers looked up; the typed reserve numbers are read at first use."""
        self.source = source
        self.typed: set[str] | None = None
        self.by_number: dict[str, _Filed] = {}
        self.made_up: set[str] = set()  # numbers the converter made up, in 2.1 or this batch
        self.taken: set[str] = set()  # numbers 2.1 patients have, of those looked up
        self.looked_up: set[str] = set()

    def prepare(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Look up the patients already filed under the batch's numbers or reserve numbers."""
        if self.typed is None:
            self.typed = typed_reserve_numbers(self.source)
        read = (checks.read_personnummer(r["PersonNr"]).number for r in rows)
        numbers = {number for number in read if number is not None}
        reserves = {checks.reserve_number(int(r["PatientId"])) for r in rows}
        self.looked_up = numbers | reserves
        found = _filed(session, sorted(self.looked_up))
        self.taken = {p.personnummer for p in found}
        self.made_up = _made_up(session, sorted(p.personnummer for p in found if p.reserve))
        self.by_number = {
            p.personnummer: _Filed(p.id, p.personnummer, p.deleted_at is not None)
            for p in found
            if p.personnummer in numbers and p.personnummer not in self.made_up
        }

    def _make_up(self, session: Session, source_id: int) -> str:
        """Return a reserve number that no 1.2 row typed and no 2.1 patient has."""
        attempt = 0
        while True:
            number = checks.reserve_number(source_id, attempt)
            if number not in (self.typed or ()) and number not in self.made_up:
                if number not in self.looked_up:
                    self.looked_up.add(number)
                    if _filed(session, [number]):
                        self.taken.add(number)
                if number not in self.taken:
                    self.made_up.add(number)
                    return number
            attempt += 1

    def convert(self, batch: Batch, row: dict[str, Any]) -> Outcome:
        """Carry one 1.2 patient over, or merge it into the same person already carried over."""
        source_id = int(row["PatientId"])
        issues: list[Issue] = []
        read = checks.read_personnummer(row["PersonNr"])
        values: dict[str, Any] = {}
        for column, field, limit in _FIELDS:
            text = checks.repair_text(row[column])
            value = text.value[:limit]
            if text.problem:
                issues.append(Issue(text.problem, column, row[column], value))
            values[field] = value
        created, date_problem = checks.read_time(row["Skapad"])
        if date_problem:
            issues.append(Issue(date_problem, "Skapad", row["Skapad"]))
        deleted = bool(row["Raderad"])
        if deleted:
            issues.append(Issue(checks.DELETED, "Raderad", row["Raderad"]))
        if read.number is not None and read.number not in self.made_up:
            survivor = self.by_number.get(read.number)
            if survivor is not None:
                return _merge(batch, survivor, row, deleted, issues)
            number, kind = read.number, read.kind
        else:
            # No usable number, or (the source changed meanwhile) a typed reserve number the
            # converter already gave someone else: this patient gets a number of its own.
            number, kind = self._make_up(batch.session, source_id), checks.PatientKind.RESERVE
            reason = checks.RESERVE_TAKEN if read.number else read.problem or checks.PN_INVALID
            issues.append(Issue(reason, "PersonNr", row["PersonNr"], number))
        now = utcnow()
        values.update(
            personnummer=number,
            kind=kind.value if kind else "reserve",
            name_key=" ".join(f"{values['last_name']} {values['first_name']}".lower().split()),
            created_at=created or now,
            created_by=CONVERTER,
            modified_at=now,
            modified_by=CONVERTER,
            deleted_at=now if deleted else None,
            deleted_by=CONVERTER if deleted else None,
        )
        patient_id = batch.add(Patient, values)
        if number == read.number:
            self.by_number[number] = _Filed(patient_id, number, deleted, values)
        changes: dict[str, Any] = {
            "converted_from": [None, f"1.2 PatientId {source_id}"],
            "personnummer": [None, number],
        }
        if number != read.number:
            changes["personnummer_as_typed"] = [None, row["PersonNr"]]
        repaired = (checks.TEXT_CONTROL, checks.TEXT_REPAIRED, checks.TEXT_DOUBTFUL)
        changes.update({i.column: [i.raw, i.new] for i in issues if i.reason in repaired})
        batch.add(AuditEvent, _audit(patient_id, number, "patient.convert", changes))
        return Outcome(CONVERTED, patient_id, issues=issues)


@dataclass(frozen=True)
class _Found:
    """A 2.1 patient filed under one of the numbers looked up."""

    id: int
    personnummer: str
    deleted_at: Any
    reserve: bool


def _filed(session: Session, numbers: list[str]) -> list[_Found]:
    """Return the 2.1 patients filed under these numbers."""
    if not numbers:
        return []
    rows = session.execute(
        select(Patient.id, Patient.personnummer, Patient.deleted_at, Patient.kind).where(
            Patient.personnummer.in_(numbers)
        )
    )
    return [_Found(r.id, r.personnummer, r.deleted_at, r.kind == "reserve") for r in rows]


_MADE_UP_REASONS = (checks.PN_INVALID, checks.PN_EMPTY, checks.RESERVE_TAKEN)


def _made_up(session: Session, numbers: list[str]) -> set[str]:
    """Return which of these reserve numbers the conversion made up (its issues name them)."""
    if not numbers:
        return set()
    rows = session.scalars(
        select(ConversionIssue.new_value).where(
            ConversionIssue.source_table == "Patienter",
            ConversionIssue.reason.in_(_MADE_UP_REASONS),
            ConversionIssue.new_value.in_(numbers),
        )
    )
    return {n for n in rows if n}


def _merge(
    batch: Batch, survivor: _Filed, row: dict[str, Any], deleted: bool, issues: list[Issue]
) -> Outcome:
    # The same person twice: one patient, both histories; live if either record was.
    if survivor.deleted and not deleted:
        survivor.deleted = False
        if survivor.row is not None:
            survivor.row["deleted_at"] = survivor.row["deleted_by"] = None
        else:
            batch.update(Patient, survivor.id, deleted_at=None, deleted_by=None)
    source_id = int(row["PatientId"])
    issues.append(Issue(checks.DUPLICATE, "PersonNr", row["PersonNr"], survivor.personnummer))
    changes = {"merged_from": [None, f"1.2 PatientId {source_id}"]}
    batch.add(
        AuditEvent,
        _audit(survivor.id, survivor.personnummer, "patient.convert_merge", changes),
    )
    return Outcome(MERGED, survivor.id, f"into 2.1 patient {survivor.id}", issues)


def run(engine: Engine, source: Source, *, batch: int = 500) -> Job[dict[str, Any]]:
    """Convert settings, users and patients; yield progress; return the counts by table."""
    tables: tuple[tuple[Table, Converter], ...] = (
        (SETTINGS, SettingConverter()),
        (USERS, UserConverter()),
        (PATIENTS, PatientConverter(source)),
    )
    total = sum(source.count(t) for t, _c in tables)
    done = 0
    result: dict[str, Any] = {}
    for table, convert in tables:
        counts, done = yield from write_table(
            engine, 2, source, table, convert, batch=batch, done=done, total=total
        )
        result[table.name] = counts
        yield LogLine(
            _(
                "%(table)s: %(converted)s converted, %(merged)s merged, %(rejected)s rejected.",
                table=table.name,
                converted=counts.get(CONVERTED, 0),
                merged=counts.get(MERGED, 0),
                rejected=counts.get("rejected", 0),
            )
        )
    return result
