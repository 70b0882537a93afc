"""Conversion from ImageBank 1.2 to 2.1: four steps, resumable, the source never modified.

1. ``analyse``: a read-only dry run (``ibdesk.conversion.analyse``).
2. Patients, users and settings (``people``), into an empty 2.1 database.
3. Image sets and media with their files (``media``, ``placing``).
4. Logs, then reconciliation (``history``); the final report is kept in the database.

Each step is a long job (a generator of ``ibdesk.progress`` events) that the tab runs on the
one job registry and ``ibdesk convert`` drives behind a progress bar. Every batch of rows is
committed with its source-key map, so a step killed at any point is simply run again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ibdesk import audit, clinic_settings
from ibdesk.conversion import analyse as analysing
from ibdesk.conversion import history, media, people
from ibdesk.conversion.source import Source, open_source
from ibdesk.errors import Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import (
    ConversionMap,
    ConversionReport,
    ImageSet,
    MediaItem,
    Patient,
    utcnow,
)
from ibdesk.progress import Job, LogLine

__all__ = ["STEPS", "Source", "open_source", "passed_steps", "run_step", "saved_report"]

STEPS = {
    1: _l("Analyse"),
    2: _l("Patients, users and settings"),
    3: _l("Image sets and media"),
    4: _l("Logs, then reconciliation"),
}
SOURCE_SETTING = "legacy12.source"
ACTOR = audit.Actor("ibdesk conversion")


@dataclass(frozen=True)
class Options:
    """How a step runs: batch size, and whether files may be hard-linked."""

    batch: int = 500
    link: bool = True


def passed_steps(session: Session) -> set[int]:
    """Return the steps that have passed on this 2.1 database."""
    return set(session.scalars(select(ConversionReport.step).where(ConversionReport.passed)))


def saved_report(session: Session, step: int) -> dict[str, Any] | None:
    """Return the newest kept report of a step, or None."""
    row = session.scalar(
        select(ConversionReport)
        .where(ConversionReport.step == step)
        .order_by(ConversionReport.id.desc())
        .limit(1)
    )
    return json.loads(row.report) if row is not None else None


def check_target(session: Session, source: Source, step: int) -> None:
    """Refuse a step the 2.1 database is not ready for, in one sentence."""
    if step == 1:
        return
    started = session.scalar(select(func.count()).select_from(ConversionMap)) or 0
    recorded = clinic_settings.get(session, SOURCE_SETTING)
    if started and recorded and recorded != source.label:
        raise Refused(
            _(
                "This 2.1 database is being converted from another 1.2 installation (%(other)s).",
                other=recorded,
            )
        )
    if not started:
        for model in (Patient, ImageSet, MediaItem):
            if session.scalar(select(func.count()).select_from(model)):
                raise Refused(
                    _(
                        "The 2.1 database already holds patients or images; "
                        "the conversion needs an empty 2.1 database."
                    )
                )
    # Each step is unlocked by the one before, as recorded in this database (so a step can
    # run in a new process, or on another day, after the one before passed).
    if step - 1 not in passed_steps(session):
        raise Refused(
            _("Step %(before)s must pass before step %(step)s can run.", before=step - 1, step=step)
        )
    if step >= 3 and not clinic_settings.get(session, clinic_settings.IMAGE_FOLDER):
        raise UserError(_("Set the 2.1 image folder first: the files are placed there."))


def target_images(session: Session) -> Path | None:
    """Return the 2.1 image folder, if set."""
    folder = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    return Path(folder) if folder else None


def _keep(
    engine: Engine,
    source: Source,
    step: int,
    report: dict[str, Any],
    passed: bool,
    actor: audit.Actor,
) -> None:
    with Session(engine) as session:
        session.add(
            ConversionReport(
                step=step,
                at=utcnow(),
                source=source.label[:400],
                passed=passed,
                report=json.dumps(report, ensure_ascii=False, default=str),
            )
        )
        if step > 1:
            audit.system_event(
                session,
                actor,
                "conversion.step",
                f"step {step} from {source.label}: " + ("passed" if passed else "not passed"),
                level="info" if passed else "warning",
            )
        session.commit()


def run_step(
    engine: Engine | None,
    source: Source,
    step: int,
    options: Options = Options(),
    *,
    actor: audit.Actor | None = None,
) -> Job[dict[str, Any]]:
    """Run one step as a job; keep its report in the 2.1 database; return the report.

    The conversion's own events (start, each step) name ``actor``, who started it: the
    signed-in person in the window, this machine's account on the command line.
    """
    who = actor or audit.local_admin()
    if step == 1:
        folder = None
        if engine is not None:
            with Session(engine) as session:
                folder = target_images(session)
        analysed = yield from analysing.analyse(source, folder)
        if engine is not None:
            _keep(engine, source, 1, analysed, True, who)
        return analysed
    if engine is None:
        raise UserError(_("Steps 2 to 4 need the 2.1 database."))
    with Session(engine) as session:
        check_target(session, source, step)
        if not clinic_settings.get(session, SOURCE_SETTING):
            clinic_settings.put(session, SOURCE_SETTING, source.label, by=ACTOR.user)
        if step == 2:
            audit.system_event(session, who, "conversion.start", source.label)
        folder = target_images(session)
        session.commit()
    yield LogLine(_("Step %(step)s: %(name)s.", step=step, name=STEPS[step]))
    report: dict[str, Any] = {"step": step, "source": source.label}
    if step == 2:
        report["tables"] = yield from people.run(engine, source, batch=options.batch)
        passed = True
    elif step == 3:
        assert folder is not None
        report["tables"] = yield from media.run(
            engine, source, folder, batch=options.batch, link=options.link
        )
        passed = True
    else:
        report["tables"] = yield from history.run(engine, source, batch=options.batch * 2)
        report["reconciliation"] = yield from history.reconcile(engine, source)
        passed = bool(report["reconciliation"]["passed"])
    _keep(engine, source, step, report, passed, who)
    return report
