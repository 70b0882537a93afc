"""The ImageBank 2.1 data model shared by ibdesk and every workstation.

Column types are chosen for SQL Server too: codes that are plain ASCII (personnummer,
hashes, MAC addresses, kinds) are ``String`` (VARCHAR, sent by the pyodbc dialect as
VARCHAR parameters so lookups stay index seeks); text people write is ``Unicode``
(NVARCHAR) so Swedish characters survive on every backend.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    Unicode,
    UnicodeText,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always returned timezone-aware."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[dt.datetime]:
        """Use DATETIME2 on SQL Server (DATETIME rounds to 3.33 ms)."""
        if dialect.name == "mssql":
            return dialect.type_descriptor(mssql.DATETIME2())
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        """Store naive UTC (SQLite and SQL Server DATETIME2 keep no zone)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: object
    ) -> dt.datetime | None:
        """Return an aware UTC timestamp."""
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention Alembic can migrate on SQLite too."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PatientKind(enum.StrEnum):
    """What kind of identity number a patient is filed under."""

    PERSONNUMMER = "personnummer"
    SAMORDNINGSNUMMER = "samordningsnummer"
    RESERVE = "reserve"


class MediaKind(enum.StrEnum):
    """What a media item is; the statistics tab counts by this."""

    INTRAORAL = "intraoral"
    PANORAMIC = "panoramic"
    PHOTO = "photo"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"

    @property
    def is_image(self) -> bool:
        """Return whether items of this kind carry pixel size and bit depth."""
        return self in (MediaKind.INTRAORAL, MediaKind.PANORAMIC, MediaKind.PHOTO)

    @property
    def is_xray(self) -> bool:
        """Return whether this kind is a radiograph."""
        return self in (MediaKind.INTRAORAL, MediaKind.PANORAMIC)


class AccountSource(enum.StrEnum):
    """Where a user account is managed."""

    LOCAL = "local"
    AD = "ad"


def _kind_check(column: str, kinds: type[enum.StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{k.value}'" for k in kinds)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


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


class Right(enum.StrEnum):
    """One thing a user group lets its members do (the fixed catalogue)."""

    VIEW_PATIENTS = "view_patients"
    EDIT_IDENTITY = "edit_identity"
    ADD_IMAGES = "add_images"
    DELETE_MEDIA = "delete_media"
    SIGN = "sign"
    EXPORT = "export"
    ADMINISTER = "administer"


user_group_member = Table(
    "user_group_member",
    Base.metadata,
    Column("user_id", BigId, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", BigId, ForeignKey("user_group.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_user_group_member_group_id", "group_id"),
)


class UserGroup(Base):
    """A group of users sharing rights, optionally mapped from Active Directory groups."""

    __tablename__ = "user_group"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(Unicode(100), unique=True)
    description: Mapped[str] = mapped_column(Unicode(400), default="")
    ad_dn: Mapped[str | None] = mapped_column(Unicode(400), nullable=True)

    rights: Mapped[list[GroupRight]] = relationship(
        back_populates="group", cascade="all, delete-orphan", passive_deletes=True
    )
    members: Mapped[list[UserAccount]] = relationship(
        secondary=user_group_member, back_populates="groups"
    )

    @property
    def right_names(self) -> frozenset[str]:
        """Return the names of the rights this group gives."""
        return frozenset(r.right_name for r in self.rights)


class GroupRight(Base):
    """One right a group gives its members (a value of ``Right``)."""

    __tablename__ = "group_right"
    __table_args__ = (
        UniqueConstraint("group_id", "right_name"),
        _kind_check("right_name", Right),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("user_group.id", ondelete="CASCADE"))
    right_name: Mapped[str] = mapped_column(String(20))

    group: Mapped[UserGroup] = relationship(back_populates="rights")


class UserAccount(Base):
    """Someone who logs in to a workstation or to ibdesk."""

    __tablename__ = "user_account"
    __table_args__ = (
        _kind_check("source", AccountSource),
        # Stored lower-cased, so the unique constraint ignores case on every backend.
        CheckConstraint("username = LOWER(username)", name="username_lower"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(Unicode(100), unique=True)
    display_name: Mapped[str] = mapped_column(Unicode(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # A converted 1.2 account's unsalted MD5: never a password by itself; checked once at
    # the first sign-in, then replaced by an Argon2id hash (ibdesk.users.passwords.upgrade_legacy).
    legacy_md5: Mapped[str | None] = mapped_column(String(32), nullable=True)
    source: Mapped[str] = mapped_column(String(8), default="local")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Lockout: failures since first_failed_at (a 15-minute window), locked until locked_until.
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Active Directory accounts are pinned by objectGUID, not by their (reusable) name.
    # (Unique in code: SQL Server's unique constraints allow one NULL only.)
    ad_guid: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)

    groups: Mapped[list[UserGroup]] = relationship(
        secondary=user_group_member, back_populates="members"
    )

    @property
    def rights(self) -> frozenset[str]:
        """Return the union of the rights of the user's groups."""
        return frozenset().union(*(g.right_names for g in self.groups))

    @property
    def is_admin(self) -> bool:
        """Return whether one of the user's groups gives the administer right."""
        return Right.ADMINISTER.value in self.rights


class Setting(Base):
    """A setting common to every workstation (for example the image-folder path)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(UnicodeText, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(Unicode(100), default="")


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
