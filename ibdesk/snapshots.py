"""Frozen copies of live objects (database rows, a job's record) for code that must not hold them.

A snapshot dataclass names the attributes it copies: ``snapshot(MediaRecord, item)`` copies
every field of ``MediaRecord`` from the same-named attribute of ``item``, so adding a field
to the dataclass is the whole change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Snapshot = TypeVar("Snapshot", bound="DataclassInstance")


def snapshot(kind: type[Snapshot], source: object, **given: object) -> Snapshot:
    """Return a ``kind`` filled from ``source``'s attributes of the same names, and ``given``."""
    taken = {f.name: getattr(source, f.name) for f in fields(kind) if f.name not in given}
    return kind(**taken, **given)


@dataclass(frozen=True)
class MediaFacts:
    """What every frozen copy of a media item holds: its file, its picture and its notes."""

    id: int
    kind: str
    path: str
    byte_size: int
    sha256: str
    width: int | None
    height: int | None
    bit_depth: int | None
    teeth: str
    taken_at: dt.datetime | None
    comment: str
