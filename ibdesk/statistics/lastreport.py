"""The last generated statistics, kept so the tab shows them (with their time) on return.

Stored as JSON in the clinic's settings (``statistics_last_report``): a report is a few
hundred bytes, and every workstation's administrator then sees the same last report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from sqlalchemy.orm import Session

from ibdesk import clinic_settings
from ibdesk.statistics import Count, DiskSpace, Gathered, MonthCount, StatsReport

KEY = "statistics_last_report"


def save(session: Session, gathered: Gathered, *, by: str = "") -> None:
    """Keep a generated report (committed with the caller's transaction); skip a failed one."""
    if gathered.report is None:
        return
    data = dataclasses.asdict(gathered)
    data["report"]["generated_at"] = gathered.report.generated_at.isoformat()
    clinic_settings.put(session, KEY, json.dumps(data, ensure_ascii=False), by=by)


def load(session: Session) -> Gathered | None:
    """Return the last kept report, or None (never kept, or written by another version)."""
    text = clinic_settings.get(session, KEY)
    if not text:
        return None
    try:
        return _gathered(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # a report kept by another version of the program: generate anew


def _disk(value: dict[str, Any] | None) -> DiskSpace | None:
    return DiskSpace(**value) if value else None


def _gathered(data: dict[str, Any]) -> Gathered:
    r = data["report"]
    report = StatsReport(
        generated_at=dt.datetime.fromisoformat(r["generated_at"]),
        patients=Count(**r["patients"]),
        image_sets=int(r["image_sets"]),
        signed_sets=int(r["signed_sets"]),
        media={str(k): Count(**v) for k, v in r["media"].items()},
        months=[MonthCount(**m) for m in r["months"]],
        disk=_disk(r["disk"]),
        disk_message=str(r["disk_message"]),
        milliseconds=float(r["milliseconds"]),
    )
    return Gathered(
        clinic=str(data["clinic"]),
        image_folder=data["image_folder"],
        report=report,
        disk=_disk(data["disk"]),
        disk_message=str(data["disk_message"]),
        problem=data["problem"],
    )
