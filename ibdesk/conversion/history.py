"""Step 4: the 1.2 log becomes the 2.1 patients' history, then everything is reconciled.

A 1.2 log row about a patient becomes an ``AuditEvent`` of the 2.1 patient it went to
(action ``legacy.<event>``, who and when as 1.2 knew, marked converted); a log-in row without
a patient becomes a ``LoginEvent``. Then the audit chain is sealed and verified, the
statistics counters are folded and compared with a fresh count, every signed set is
verified, and every source row and file is accounted for.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ibdesk import statistics
from ibdesk.conversion import batches, checks, media
from ibdesk.conversion.batches import (
    CONVERTED,
    MERGED,
    REJECTED,
    Issue,
    Outcome,
    rejected,
)
from ibdesk.conversion.names import NameIndex
from ibdesk.conversion.people import CONVERTER
from ibdesk.conversion.source import ITEMS, LOG, TABLES, Source
from ibdesk.i18n import gettext as _
from ibdesk.logs import auditchain
from ibdesk.models import (
    AuditEvent,
    ConversionIssue,
    ConversionMap,
    ImageSet,
    LoginEvent,
    Patient,
    utcnow,
)
from ibdesk.patients import signing
from ibdesk.progress import Job, LogLine, Progress

LOGINS = ("INLOGGNING",)


class LogConverter(batches.Converter):
    """The 1.2 log, as the history of the 2.1 patients (and log-ins)."""

    def __init__(self) -> None:
        """Start with no patients looked up."""
        self.patients: dict[str, Any] = {}

    def prepare(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Look up the batch's patients."""
        keys = [str(r["PatientId"]) for r in rows if r["PatientId"] is not None]
        self.patients = batches.lookup(session, "Patienter", keys, Patient.id, Patient.personnummer)

    @staticmethod
    def _plain(issues: list[Issue], column: str, raw: object) -> str:
        """Return a name or event word without control characters, flagging any removed."""
        text = str(raw or "")
        plain = checks.without_controls(text).strip()
        if plain != text.strip():
            issues.append(Issue(checks.TEXT_CONTROL, column, text, plain))
        return plain

    def convert(self, batch: batches.Batch, row: dict[str, Any]) -> Outcome:
        """Carry one 1.2 log row over as patient history (or as a log-in)."""
        issues: list[Issue] = []
        when, problem = checks.read_time(row["Tid"])
        if problem:
            issues.append(Issue(problem, "Tid", row["Tid"]))
        user, event = (
            self._plain(issues, column, row[column]) for column in ("Anvandare", "Handelse")
        )
        user = user[:100]
        if row["PatientId"] is None:
            if event not in LOGINS:
                return rejected(checks.ORPHAN_PATIENT, "PatientId", None)
            login = batch.add(
                LoginEvent,
                {
                    "at": when or utcnow(),
                    "user_name": user,
                    "machine": CONVERTER,
                    "success": True,
                    "reason": "converted from 1.2",
                },
            )
            return Outcome(CONVERTED, login, "login", issues)
        patient = self.patients.get(str(row["PatientId"]))
        if patient is None:
            return rejected(checks.ORPHAN_PATIENT, "PatientId", row["PatientId"])
        changes = {
            "converted": [None, "1.2"],
            "event": [None, event],
            "details": [None, row["Detaljer"]],
            "source_time": [None, row["Tid"]],
            "source_patient": [None, row["PatientId"]],
        }
        audit_event = batch.add(
            AuditEvent,
            {
                "at": when or utcnow(),
                "user_name": user or CONVERTER,
                "machine": CONVERTER,
                "patient_id": patient.id,
                "personnummer": patient.personnummer,
                "action": f"legacy.{event.lower()}"[:32],
                "entity": "legacy12",
                "entity_id": int(row["LoggId"]),
                "changes": json.dumps(changes, ensure_ascii=False, sort_keys=True, default=str),
            },
        )
        return Outcome(CONVERTED, audit_event, issues=issues)


def run(engine: Engine, source: Source, *, batch: int = 1000) -> Job[dict[str, Any]]:
    """Convert the 1.2 log; yield progress; return its counts."""
    counts, _done = yield from batches.write_table(
        engine, 4, source, LOG, LogConverter(), batch=batch, total=source.count(LOG)
    )
    return {LOG.name: counts}


def _outcomes(session: Session) -> dict[str, dict[str, int]]:
    rows = session.execute(
        select(ConversionMap.source_table, ConversionMap.outcome, func.count()).group_by(
            ConversionMap.source_table, ConversionMap.outcome
        )
    )
    result: dict[str, dict[str, int]] = {}
    for table, outcome, count in rows:
        result.setdefault(table, {})[outcome] = int(count)
    return result


def reconcile(engine: Engine, source: Source) -> Job[dict[str, Any]]:
    """Account for every source row and file; check counters, chain and signatures."""
    yield Progress(0, None, _("sealing the audit log"))
    auditchain.seal(engine)
    with Session(engine) as session:
        outcomes = _outcomes(session)
        tables: dict[str, Any] = {}
        balanced = True
        for table in TABLES:
            read = source.count(table)
            got = outcomes.get(table.name, {})
            entry = {
                "read": read,
                CONVERTED: got.get(CONVERTED, 0),
                MERGED: got.get(MERGED, 0),
                REJECTED: got.get(REJECTED, 0),
            }
            entry["balanced"] = read == entry[CONVERTED] + entry[MERGED] + entry[REJECTED]
            balanced = balanced and bool(entry["balanced"])
            tables[table.name] = entry
        folder = _folder(session, source, outcomes)
        reasons = {
            reason: int(n)
            for reason, n in session.execute(
                select(ConversionIssue.reason, func.count()).group_by(ConversionIssue.reason)
            )
        }
        yield Progress(0, None, _("checking the statistics counters"))
        statistics.fold(session)
        session.commit()
        counters = statistics.counters(session)
        fresh = statistics.recount(session)
        counters_ok = all(counters.get(k) == v for k, v in fresh.items())
        chain = auditchain.verify(session)
        yield Progress(0, None, _("verifying the signed sets"))
        signed_sets, bad_sets = _verify_signed(session)
    accounted = balanced and folder["balanced"]
    report = {
        "tables": tables,
        "folder": folder,
        "issues": dict(sorted(reasons.items())),
        "counters_match": counters_ok,
        "audit_chain": {"ok": chain.ok, "checked": chain.checked, "problem": chain.problem},
        "signed_sets": {"count": signed_sets, "failed": bad_sets},
        "accounted": accounted,
        "passed": accounted and counters_ok and chain.ok and not bad_sets,
    }
    yield LogLine(
        _("Every row and file is accounted for.")
        if accounted
        else _("Some rows or files are not accounted for."),
        "info" if accounted else "error",
    )
    return report


def _verify_signed(session: Session, batch: int = 500) -> tuple[int, list[int]]:
    """Check every signed set as ``signing.verify`` does (files aside), a batch at a time.

    The signed manifest is the newest ``image_set.sign`` event of the set; it must still
    hash to the stored digest, and so must the set's content now.
    """
    checked = 0
    bad: list[int] = []
    after = 0
    while True:
        sets = session.execute(
            select(
                ImageSet.id,
                ImageSet.patient_id,
                ImageSet.taken_on,
                ImageSet.description,
                ImageSet.signature_digest,
            )
            .where(ImageSet.signed_at.is_not(None), ImageSet.id > after)
            .order_by(ImageSet.id)
            .limit(batch)
        ).all()
        if not sets:
            return checked, bad
        after = sets[-1].id
        now = media.set_manifests(session, list(sets))
        signed: dict[int, Any] = {}
        for entity_id, changes in session.execute(
            select(AuditEvent.entity_id, AuditEvent.changes)
            .where(
                AuditEvent.action == "image_set.sign",
                AuditEvent.entity == "image_set",
                AuditEvent.entity_id.in_([s.id for s in sets]),
            )
            .order_by(AuditEvent.id)
        ):
            signed[int(entity_id or 0)] = json.loads(changes).get("manifest", [None, None])[1]
        for image_set in sets:
            checked += 1
            content = signed.get(image_set.id)
            if (
                not isinstance(content, dict)
                or signing.digest(content) != image_set.signature_digest
                or signing.digest(now[image_set.id]) != image_set.signature_digest
            ):
                bad.append(image_set.id)


def _folder(
    session: Session, source: Source, outcomes: dict[str, dict[str, int]]
) -> dict[str, Any]:
    how = dict(
        session.execute(
            select(ConversionMap.detail, func.count())
            .where(ConversionMap.source_table == "Bilder", ConversionMap.outcome == CONVERTED)
            .group_by(ConversionMap.detail)
        ).all()
    )
    reasons = dict(
        session.execute(
            select(ConversionIssue.reason, func.count())
            .where(ConversionIssue.source_table.in_(("Bilder", "file")))
            .group_by(ConversionIssue.reason)
        ).all()
    )
    streamed = {"yield_per": 5000}  # read in batches, never the whole table at once
    with NameIndex() as names:
        names.add_disk(source.images)
        names.add_named(row for rows in source.rows(ITEMS, 5000) for row in rows)
        names.add_outcomes(
            session.execute(
                select(ConversionMap.source_key, ConversionMap.outcome).where(
                    ConversionMap.source_table == "Bilder"
                ),
                execution_options=streamed,
            )
        )
        names.add_orphans(
            session.scalars(
                select(ConversionIssue.source_key).where(
                    ConversionIssue.reason == checks.ORPHAN_FILE
                ),
                execution_options=streamed,
            )
        )
        found, orphans = names.distinct_files(), names.orphans()
        named_by_rejected, names_balance = names.reconcile(CONVERTED, REJECTED)
    # Exact: every file found is placed, named only by rejected rows, or named by no row;
    # every converted row's file was found; no orphan is named by a row.
    placed = int(how.get("linked", 0)) + int(how.get("copied", 0))
    balanced = names_balance and placed == outcomes.get("Bilder", {}).get(CONVERTED, 0)
    return {
        "found": found,
        "placed": placed,
        "linked": int(how.get("linked", 0)),
        "copied": int(how.get("copied", 0)),
        "missing": int(reasons.get(checks.FILE_MISSING, 0)),
        "orphans": orphans,
        "zero_byte": int(reasons.get(checks.FILE_EMPTY, 0)),
        "case_differs": int(reasons.get(checks.CASE_DIFFERS, 0)),
        "sha256_mismatch": int(reasons.get(checks.HASH_MISMATCH, 0)),
        "outside": int(reasons.get(checks.FILE_OUTSIDE, 0)),
        "named_by_rejected_rows": named_by_rejected,
        "balanced": balanced,
    }
