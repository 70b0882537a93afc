"""The three logs: every change to a patient, system events, log-ins."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    String,
    Unicode,
    UnicodeText,
)
from sqlalchemy.orm import Mapped, mapped_column

from ibdesk.models.base import (
    Base,
    BigId,
    UTCDateTime,
    utcnow,
)


class AuditEvent(Base):
    """One entry of a patient's history: who did what, from where, before and after.

    Deliberately no foreign key: the trail outlives a purge of the patient.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_patient", "patient_id", "id"),
        Index("ix_audit_event_personnummer", "personnummer", "id"),
        Index("ix_audit_event_at", "at", "id"),
        Index("ix_audit_event_user", "user_name", "id"),
        Index("ix_audit_event_action", "action", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_name: Mapped[str] = mapped_column(Unicode(100))
    machine: Mapped[str] = mapped_column(Unicode(100), default="")
    patient_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    personnummer: Mapped[str | None] = mapped_column(String(12), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # JSON object {field: [before, after]} (or free detail for non-change events).
    changes: Mapped[str] = mapped_column(UnicodeText, default="{}")
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SystemEvent(Base):
    """Something that happened to the installation rather than to one patient."""

    __tablename__ = "system_event"
    __table_args__ = (Index("ix_system_event_at", "at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")
    user_name: Mapped[str] = mapped_column(Unicode(100), default="")
    machine: Mapped[str] = mapped_column(Unicode(100), default="")
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(UnicodeText, default="")


class LoginEvent(Base):
    """One log-in attempt at a workstation or in ibdesk, successful or not."""

    __tablename__ = "login_event"
    __table_args__ = (
        Index("ix_login_event_at", "at", "id"),
        Index("ix_login_event_user", "user_name", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_name: Mapped[str] = mapped_column(Unicode(100))
    machine: Mapped[str] = mapped_column(Unicode(100), default="")
    success: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Unicode(200), default="")
