"""Settings common to every workstation of the clinic, stored in the database (key, value)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk.models import Setting, utcnow

IMAGE_FOLDER = "image_folder"
CLINIC_NAME = "clinic_name"


def get(session: Session, key: str, default: str | None = None) -> str | None:
    """Return a setting's value, or the default when it was never set."""
    row = session.get(Setting, key)
    return row.value if row is not None else default


def put(session: Session, key: str, value: str, *, by: str = "") -> None:
    """Set a setting's value (committed with the caller's transaction)."""
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value, updated_at=utcnow(), updated_by=by))
    else:
        row.value, row.updated_at, row.updated_by = value, utcnow(), by


def all_settings(session: Session) -> dict[str, str]:
    """Return every stored setting."""
    return {row.key: row.value for row in session.scalars(select(Setting))}
