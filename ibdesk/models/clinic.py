"""Patients, their image sets and media, the statistics counters, clinic-wide settings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Unicode,
    UnicodeText,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ibdesk.models.base import (
    Base,
    BigId,
    MediaKind,
    PatientKind,
    UTCDateTime,
    _kind_check,
    utcnow,
)


class Patient(Base):
    """A patient, filed under a normalised 12-digit identity number."""

    __tablename__ = "patient"
    __table_args__ = (
        _kind_check("kind", PatientKind),
        # Name search is a prefix match on the lower-cased "last first" key.
        Index("ix_patient_name_key", "name_key", "id"),
        Index("ix_patient_deleted_at", "deleted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Unique index doubles as the prefix-search index (range scan on 12 ASCII digits).
    personnummer: Mapped[str] = mapped_column(String(12), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default=PatientKind.PERSONNUMMER.value)
    first_name: Mapped[str] = mapped_column(Unicode(100), default="")
    last_name: Mapped[str] = mapped_column(Unicode(100), default="")
    name_key: Mapped[str] = mapped_column(Unicode(201), default="")
    address: Mapped[str] = mapped_column(Unicode(200), default="")
    postal_code: Mapped[str] = mapped_column(Unicode(10), default="")
    city: Mapped[str] = mapped_column(Unicode(100), default="")
    phone: Mapped[str] = mapped_column(Unicode(40), default="")
    note: Mapped[str] = mapped_column(UnicodeText, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(Unicode(100), default="")
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(Unicode(100), default="")
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(Unicode(100), nullable=True)

    image_sets: Mapped[list[ImageSet]] = relationship(
        back_populates="patient", order_by="ImageSet.id", passive_deletes=True
    )


class ImageSet(Base):
    """One examination ("status"): a dated set of media, signable by an administrator."""

    __tablename__ = "image_set"
    __table_args__ = (Index("ix_image_set_patient", "patient_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    taken_on: Mapped[dt.date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Unicode(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(Unicode(100), default="")
    signed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    signed_by: Mapped[str | None] = mapped_column(Unicode(100), nullable=True)
    signature_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)

    patient: Mapped[Patient] = relationship(back_populates="image_sets")
    media: Mapped[list[MediaItem]] = relationship(
        back_populates="image_set", order_by="MediaItem.id", passive_deletes=True
    )

    @property
    def is_signed(self) -> bool:
        """Return whether the set is signed (read-only for workstations)."""
        return self.signed_at is not None


class MediaItem(Base):
    """One file of an image set: an X-ray, photo, video, sound or document."""

    __tablename__ = "media_item"
    __table_args__ = (
        _kind_check("kind", MediaKind),
        Index("ix_media_item_set", "image_set_id", "id"),
        Index("ix_media_item_patient", "patient_id", "id"),
        Index("ix_media_item_kind_created", "kind", "created_at"),
        Index("ix_media_item_sha256", "sha256"),
        Index("ix_media_item_created", "created_at"),
        Index("ix_media_item_path", "path"),
        CheckConstraint("byte_size >= 0", name="byte_size_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    image_set_id: Mapped[int] = mapped_column(ForeignKey("image_set.id", ondelete="CASCADE"))
    # Denormalised from the set so per-patient lists and exports need no join.
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(Unicode(400))
    byte_size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bit_depth: Mapped[int | None] = mapped_column(Integer, nullable=True)
    teeth: Mapped[str] = mapped_column(String(200), default="")
    taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    comment: Mapped[str] = mapped_column(UnicodeText, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(Unicode(100), default="")
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(Unicode(100), nullable=True)

    image_set: Mapped[ImageSet] = relationship(back_populates="media")


class StatCounter(Base):
    """Counts kept by database triggers as rows change, so statistics never count rows.

    One row per subject: ``patient``, ``image_set``, ``signed_set`` and each media kind.
    The true count is this row plus the sum of its not yet folded ``StatDelta`` rows.
    """

    __tablename__ = "stat_counter"

    subject: Mapped[str] = mapped_column(String(20), primary_key=True)
    live_count: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted_count: Mapped[int] = mapped_column(BigInteger, default=0)
    live_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class StatDelta(Base):
    """A change to the counters written by a trigger; folded into StatCounter now and then.

    Writers only ever insert here, so concurrent workstations never wait on a hot counter
    row and cannot deadlock on it.
    """

    __tablename__ = "stat_delta"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(20))
    live_count: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted_count: Mapped[int] = mapped_column(BigInteger, default=0)
    live_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class Setting(Base):
    """A setting common to every workstation (for example the image-folder path)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(UnicodeText, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(Unicode(100), default="")
