"""The declarative base, the column types and the kinds every table shares."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Integer,
    MetaData,
    TypeDecorator,
)
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
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
