"""The installed licenses and the seats workstations hold."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Index,
    Integer,
    String,
    Unicode,
    UnicodeText,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ibdesk.models.base import (
    Base,
    BigId,
    UTCDateTime,
    utcnow,
)


class License(Base):
    """An installed license file; the newest valid one is current, older ones are history."""

    __tablename__ = "license"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    license_id: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    licensee: Mapped[str] = mapped_column(Unicode(200))
    org_number: Mapped[str] = mapped_column(String(20))
    seats: Mapped[int] = mapped_column(Integer)
    created_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    # The whole signed file, so workstations can verify it themselves.
    document: Mapped[str] = mapped_column(UnicodeText)
    installed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    installed_by: Mapped[str] = mapped_column(Unicode(100), default="")
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)


class SeatActivation(Base):
    """One seat slot of the current license, free or held by one workstation.

    Slots are rows numbered 1..seats; a claim takes a free row. The unique slot number and
    the filtered unique index on the machine make oversubscription impossible in the
    database itself, on every backend.
    """

    __tablename__ = "seat_activation"
    __table_args__ = (
        Index(
            "uq_seat_activation_machine",
            "mac",
            "machine_id",
            unique=True,
            sqlite_where=text("mac IS NOT NULL"),
            postgresql_where=text("mac IS NOT NULL"),
            mssql_where=text("mac IS NOT NULL"),
        ),
        CheckConstraint("slot >= 1", name="slot_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, unique=True)
    mac: Mapped[str | None] = mapped_column(String(17), nullable=True)
    # The folded key (lower case) keeps one machine to one seat; the Licensing tab shows the
    # machine ID as the workstation reported it.
    machine_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    machine_id_reported: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hostname: Mapped[str | None] = mapped_column(Unicode(100), nullable=True)
    first_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
