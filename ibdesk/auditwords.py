"""Log events in words: "Signed the status of 2025-09-12", "Comment: 'Kontroll' → 'Karies distalt'".

One wording for the Logs tab, the patient's log extract and the CSV, in the language of
whoever reads it. An event names its image set (a "status") by the date it was taken:
``status_dates`` looks those dates up for a page of events in one query.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import display
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.i18n import ngettext
from ibdesk.models import ImageSet, MediaItem

EVENT_NAMES = {
    "patient.view": _l("Record opened"),
    "patient.create": _l("Patient registered"),
    "patient.update": _l("Patient details changed"),
    "patient.delete": _l("Patient deleted"),
    "patient.restore": _l("Patient restored"),
    "patient.purge": _l("Patient purged"),
    "image_set.create": _l("Status created"),
    "image_set.sign": _l("Status signed"),
    "image_set.unsign": _l("Signature removed"),
    "media.add": _l("Image added"),
    "media.update": _l("Image changed"),
    "media.delete": _l("Image deleted"),
    "media.undelete": _l("Image restored"),
    "export.start": _l("Export started"),
    "export.finish": _l("Export finished"),
    "license.install": _l("License installed"),
    "seat.claim": _l("Seat granted"),
    "seat.release": _l("Seat freed"),
    "user.create": _l("Account created"),
    "demo.generate": _l("Demo data made"),
    "db.backup": _l("Database backed up"),
    "db.create_login": _l("Database user created"),
    "db.attach": _l("Database attached from a dump"),
}
FIELD_NAMES = {
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "address": _l("Address"),
    "postal_code": _l("Postal code"),
    "city": _l("City"),
    "phone": _l("Phone"),
    "note": _l("Note"),
    "kind": _l("Kind"),
    "teeth": _l("Teeth"),
    "taken_at": _l("Taken"),
    "taken_on": _l("Date"),
    "comment": _l("Comment"),
    "description": _l("Description"),
    "width": _l("Width"),
    "height": _l("Height"),
    "bit_depth": _l("Bit depth"),
    "path": _l("File"),
    "sha256": _l("SHA-256"),
    "deleted": _l("Deleted"),
    "digest": _l("Signature digest"),
    "signed_by": _l("Signed by"),
    "reason": _l("Reason"),
    "image_sets": _l("Image sets"),
    "media": _l("Media"),
    "personnummer": _l("Personnummer"),
}
LEVEL_NAMES = {"info": _l("Information"), "warning": _l("Warning"), "error": _l("Error")}


def event_name(action: str) -> str:
    """Name an event's action in a few words ("Status signed"); unknown codes as they are."""
    name = EVENT_NAMES.get(action)
    return str(name) if name is not None else action


def _changes(changes: str | None) -> dict[str, Any]:
    try:
        data = json.loads(changes or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _value(key: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if key == "kind" and isinstance(value, str):
        return display.media_kind(value)
    if key == "taken_at" and isinstance(value, str):
        try:
            return display.date_time(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, str):
        return f"'{value}'"
    return display.number(value) if isinstance(value, int) else str(value)


def describe_changes(changes: str | None) -> str:
    """Say what an event changed: "Comment: 'Kontroll' → 'Karies distalt'; Teeth: — → '16'"."""
    data = _changes(changes)
    if not data and changes and changes.strip() not in ("", "{}"):
        return changes
    parts = []
    for key, value in data.items():
        if key in ("manifest", "sha256"):
            continue
        label = str(FIELD_NAMES.get(key, key))
        if isinstance(value, list) and len(value) == 2:
            before, after = value
            if before is None:
                parts.append(f"{label}: {_value(key, after)}")
            else:
                parts.append(f"{label}: {_value(key, before)} → {_value(key, after)}")
        else:
            parts.append(f"{label}: {_value(key, value)}")
    return "; ".join(parts)


def status_dates(session: Session, events: Iterable[Any]) -> dict[tuple[str, int], dt.date]:
    """Look up the date of the status each event is about (image sets and media), in one query."""
    set_ids = {e.entity_id for e in events if e.entity == "image_set" and e.entity_id}
    media_ids = {e.entity_id for e in events if e.entity == "media" and e.entity_id}
    found: dict[tuple[str, int], dt.date] = {}
    if set_ids:
        rows = session.execute(
            select(ImageSet.id, ImageSet.taken_on).where(ImageSet.id.in_(set_ids))
        )
        found.update((("image_set", i), day) for i, day in rows)
    if media_ids:
        rows = session.execute(
            select(MediaItem.id, ImageSet.taken_on)
            .join(ImageSet, ImageSet.id == MediaItem.image_set_id)
            .where(MediaItem.id.in_(media_ids))
        )
        found.update((("media", i), day) for i, day in rows)
    return found


# Events on a patient, said as a sentence.
_PATIENT_SENTENCES = {
    "patient.view": _l("Opened the patient's record"),
    "patient.create": _l("Registered the patient"),
    "patient.update": _l("Changed the patient's details"),
    "patient.delete": _l("Deleted the patient (hidden from the workstations)"),
    "patient.restore": _l("Restored the patient"),
    "patient.purge": _l("Purged the patient and every image for good"),
}
# Events on a status or its images, said with the status's date (when it is known) or without.
_STATUS_SENTENCES = {
    "image_set.create": (_l("Created the status of %(date)s"), _l("Created a status")),
    "image_set.sign": (_l("Signed the status of %(date)s"), _l("Signed a status")),
    "image_set.unsign": (
        _l("Removed the signature of the status of %(date)s"),
        _l("Removed the signature of a status"),
    ),
    "media.add": (_l("Added an image to the status of %(date)s"), _l("Added an image")),
    "media.update": (_l("Changed an image of the status of %(date)s"), _l("Changed an image")),
    "media.delete": (_l("Deleted an image of the status of %(date)s"), _l("Deleted an image")),
    "media.undelete": (
        _l("Restored an image of the status of %(date)s"),
        _l("Restored an image"),
    ),
}


def describe_event(event: Any, dates: dict[tuple[str, int], dt.date] | None = None) -> str:
    """Say an event as a sentence: "Signed the status of 2025-09-12"."""
    data = _changes(getattr(event, "changes", None))
    day = (dates or {}).get((event.entity, event.entity_id or 0))
    if day is None and event.action == "image_set.create":
        taken = data.get("taken_on")
        if isinstance(taken, list) and len(taken) == 2 and isinstance(taken[1], str):
            day = dt.date.fromisoformat(taken[1])
    status = display.date(day) if day else None
    kind = data.get("kind")
    kind_name = display.media_kind(kind[1]) if isinstance(kind, list) and kind[1] else None
    if event.action in _PATIENT_SENTENCES:
        return str(_PATIENT_SENTENCES[event.action])
    if event.action == "media.add" and status and kind_name:
        return _("Added an image (%(kind)s) to the status of %(date)s", kind=kind_name, date=status)
    sentences = _STATUS_SENTENCES.get(event.action)
    if sentences is not None:
        with_date, without = sentences
        return with_date % {"date": status} if status else str(without)
    return event_name(event.action)


class EventGroup:
    """Consecutive events said as one sentence ("Added 3 images to the status of 2025-09-12").

    It reads like its first (newest) event; a group of one is just that event.
    """

    def __init__(self, first: Any) -> None:
        """Start a group with its newest event."""
        self.events = [first]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.events[0], name)

    @property
    def changes(self) -> str | None:
        """Return the event's changes; a group of several says them in its sentence."""
        return self.events[0].changes if len(self.events) == 1 else None

    @property
    def change_texts(self) -> list[str]:
        """Return what each event of the group changed, in words."""
        return [describe_changes(e.changes) for e in self.events]


# Events said together: the same person adding images to one status within one minute.
GROUPED_ACTIONS = frozenset({"media.add"})


class Describer:
    """Say events as sentences for one page, looking each status date up once."""

    def __init__(self, session: Session, events: Iterable[Any] = ()) -> None:
        """Start with the dates of these events (one query); others are looked up as met."""
        self.session = session
        events = list(events)
        self.dates = status_dates(session, events)
        self.sets: dict[int, int] = {}
        self._look_up_sets(events)

    def _look_up_sets(self, events: Iterable[Any]) -> None:
        wanted = {
            e.entity_id
            for e in events
            if e.entity == "media" and e.entity_id and e.entity_id not in self.sets
        }
        if wanted:
            rows = self.session.execute(
                select(MediaItem.id, MediaItem.image_set_id).where(MediaItem.id.in_(wanted))
            )
            self.sets.update((media_id, set_id) for media_id, set_id in rows)

    def _date(self, event: Any) -> dt.date | None:
        key = (event.entity, event.entity_id or 0)
        if key not in self.dates and event.entity in ("image_set", "media") and event.entity_id:
            self.dates.update(status_dates(self.session, [event]))
        return self.dates.get(key)

    def __call__(self, event: Any) -> str:
        """Describe one event, or a group of events in one sentence."""
        if isinstance(event, EventGroup):
            if len(event.events) > 1:
                return self._group_sentence(event)
            event = event.events[0]
        self._date(event)
        return describe_event(event, self.dates)

    def _group_sentence(self, group: EventGroup) -> str:
        count = len(group.events)
        day = self._date(group.events[0])
        if day is None:
            return ngettext("Added %(num)s image", "Added %(num)s images", count)
        return ngettext(
            "Added %(num)s image to the status of %(date)s",
            "Added %(num)s images to the status of %(date)s",
            count,
            date=display.date(day),
        )

    def _group_key(self, event: Any) -> tuple[Any, ...] | None:
        if event.action not in GROUPED_ACTIONS or event.entity != "media" or not event.entity_id:
            return None
        if event.entity_id not in self.sets:
            self._look_up_sets([event])
        image_set = self.sets.get(event.entity_id)
        if image_set is None or event.at is None:
            return None
        minute = event.at.replace(second=0, microsecond=0)
        return (event.action, event.user_name, event.machine, image_set, minute)

    def grouped(self, events: Iterable[Any]) -> Iterator[EventGroup]:
        """Yield the events in their order, consecutive ones of one group together."""
        current: EventGroup | None = None
        current_key: tuple[Any, ...] | None = None
        for event in events:
            key = self._group_key(event)
            if current is not None and key is not None and key == current_key:
                current.events.append(event)
                continue
            if current is not None:
                yield current
            current, current_key = EventGroup(event), key
        if current is not None:
            yield current


# The login log keeps stable English words (scripts and the CSV read them); the page shows
# them in the reader's language. Each reason the program writes, as a pattern.
_LOGIN_PATTERNS = (
    (re.compile("unknown user"), _l("unknown user")),
    (re.compile("wrong password"), _l("wrong password")),
    (re.compile("account locked"), _l("account locked")),
    (re.compile("account disabled"), _l("account disabled")),
    (
        re.compile("account is managed in Active Directory"),
        _l("account is managed in Active Directory"),
    ),
    (re.compile("Active Directory"), _l("Active Directory")),
    (re.compile("signed out"), _l("signed out")),
    (re.compile("password confirmed"), _l("password confirmed")),
    (re.compile("wrong password when confirming"), _l("wrong password when confirming")),
    (re.compile(r"converted from 1\.2"), _l("converted from 1.2")),
    (re.compile(r"unlocked by (?P<who>.+)"), _l("unlocked by %(who)s")),
    (
        re.compile(r"locked after (?P<count>\d+) failed attempts"),
        _l("locked after %(count)s failed attempts"),
    ),
    (re.compile(r"no (?P<right>[a-z_]+) right"), _l("without the right “%(right)s”")),
)


def login_reason(reason: str) -> str:
    """Return a login log reason in the reader's language (unknown ones as they are)."""
    if reason.startswith("AD: "):  # what Active Directory answered ("AD: wrong password")
        return "AD: " + login_reason(reason[4:])
    for pattern, words in _LOGIN_PATTERNS:
        found = pattern.fullmatch(reason)
        if found:
            values = found.groupdict()
            if "right" in values:
                from ibdesk.users.groups import RIGHT_LABELS

                label = next(
                    (v for k, v in RIGHT_LABELS.items() if k.value == values["right"]), None
                )
                values["right"] = str(label or values["right"])
            return str(words) % values
    return reason
