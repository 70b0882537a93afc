"""What a conversion from ImageBank 1.2 keeps: the key map, the issues, the step reports."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    String,
    Unicode,
    UnicodeText,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ibdesk.models.base import (
    Base,
    BigId,
    UTCDateTime,
    utcnow,
)


class ConversionMap(Base):
    """Where one row of an ImageBank 1.2 database went: its 2.1 id and how it was carried over.

    Written in the same transaction as the rows it maps, so a conversion killed at any point
    resumes exactly where its last committed batch ended.
    """

    __tablename__ = "conversion_map"
    __table_args__ = (UniqueConstraint("source_table", "source_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_table: Mapped[str] = mapped_column(String(20))
    source_key: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # "converted", "merged" or "rejected"
    outcome: Mapped[str] = mapped_column(String(10))
    # How a file was placed ("linked", "copied"), or which row a merged one joined.
    detail: Mapped[str] = mapped_column(String(40), default="")


class ConversionIssue(Base):
    """Something the conversion reports about one source row or file: a reject or a flag."""

    __tablename__ = "conversion_issue"
    __table_args__ = (Index("ix_conversion_issue_reason", "reason", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    step: Mapped[int] = mapped_column(Integer)
    source_table: Mapped[str] = mapped_column(String(20))
    source_key: Mapped[str] = mapped_column(Unicode(400))
    column_name: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(String(40))
    # True: the row or file was not carried over; False: carried over and flagged.
    rejected: Mapped[bool] = mapped_column(Boolean, default=False)
    raw_value: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)
    new_value: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)


class ConversionReport(Base):
    """The report of one conversion step (JSON), kept for the tab and for download."""

    __tablename__ = "conversion_report"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    step: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(Unicode(400), default="")
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    report: Mapped[str] = mapped_column(UnicodeText, default="{}")
