"""User accounts, user groups and the rights a group gives."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ibdesk.models.base import (
    AccountSource,
    Base,
    BigId,
    UTCDateTime,
    _kind_check,
    utcnow,
)


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
