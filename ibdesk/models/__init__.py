"""The ImageBank 2.1 data model shared by ibdesk and every workstation.

Column types are chosen for SQL Server too: codes that are plain ASCII (personnummer,
hashes, MAC addresses, kinds) are ``String`` (VARCHAR, sent by the pyodbc dialect as
VARCHAR parameters so lookups stay index seeks); text people write is ``Unicode``
(NVARCHAR) so Swedish characters survive on every backend.

One module per part of the house: ``base`` (the declarative base, column types, kinds),
``clinic`` (patients, image sets, media, counters, settings), ``events`` (the three logs),
``accounts`` (users, groups, rights), ``licensing`` (licenses, seats) and ``conversion``
(what a 1.2 conversion keeps). Everything is importable from ``ibdesk.models``.
"""

from __future__ import annotations

from ibdesk.models.accounts import (
    GroupRight,
    Right,
    UserAccount,
    UserGroup,
    user_group_member,
)
from ibdesk.models.base import (
    NAMING_CONVENTION,
    AccountSource,
    Base,
    BigId,
    MediaKind,
    PatientKind,
    UTCDateTime,
    utcnow,
)
from ibdesk.models.clinic import (
    ImageSet,
    MediaItem,
    Patient,
    Setting,
    StatCounter,
    StatDelta,
)
from ibdesk.models.conversion import (
    ConversionIssue,
    ConversionMap,
    ConversionReport,
)
from ibdesk.models.events import (
    AuditEvent,
    LoginEvent,
    SystemEvent,
)
from ibdesk.models.licensing import (
    License,
    SeatActivation,
)

__all__ = [
    "NAMING_CONVENTION",
    "AccountSource",
    "AuditEvent",
    "Base",
    "BigId",
    "ConversionIssue",
    "ConversionMap",
    "ConversionReport",
    "GroupRight",
    "ImageSet",
    "License",
    "LoginEvent",
    "MediaItem",
    "MediaKind",
    "Patient",
    "PatientKind",
    "Right",
    "SeatActivation",
    "Setting",
    "StatCounter",
    "StatDelta",
    "SystemEvent",
    "UTCDateTime",
    "UserAccount",
    "UserGroup",
    "user_group_member",
    "utcnow",
]
