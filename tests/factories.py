"""Test data with sensible defaults, made through the client contract as workstations do."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import random
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from ibdesk import clients, personnummer, users, vendor
from ibdesk.audit import Actor
from ibdesk.models import ImageSet, MediaItem, Patient, UserAccount

ACTOR = Actor(user="anna.tandlakare", machine="RUM-3")
USER_PASSWORD = "blå tandborste i glaset"  # passes the password rule
_rng = random.Random(1912)
_serial = itertools.count(1)


def new_personnummer(birth: dt.date | None = None, *, female: bool = True) -> str:
    """Return an unused valid personnummer."""
    day = birth or dt.date(1950, 1, 1) + dt.timedelta(days=next(_serial) * 7)
    return personnummer.generate(_rng, birth_date=day, female=female)


def make_patient(session: Session, **overrides: Any) -> Patient:
    """Create and commit a patient with Swedish defaults."""
    number = overrides.pop("personnummer", None) or new_personnummer()
    fields = {
        "first_name": "Åsa",
        "last_name": "Öberg",
        "address": "Storgatan 1",
        "postal_code": "11122",
        "city": "Göteborg",
        "phone": "031-123456",
    }
    fields.update(overrides)
    actor = fields.pop("actor", ACTOR)
    patient = clients.create_patient(session, actor, number, **fields)
    session.commit()
    return patient


def make_image_set(session: Session, patient: Patient | None = None, **overrides: Any) -> ImageSet:
    """Create and commit an image set (making a patient when none is given)."""
    patient = patient or make_patient(session)
    image_set = clients.create_image_set(
        session,
        overrides.pop("actor", ACTOR),
        patient.id,
        overrides.pop("taken_on", dt.date(2026, 3, 4)),
        overrides.pop("description", "Årskontroll"),
    )
    session.commit()
    return image_set


def make_media(session: Session, image_set: ImageSet | None = None, **overrides: Any) -> MediaItem:
    """Add and commit a media item (an intraoral X-ray unless told otherwise)."""
    image_set = image_set or make_image_set(session)
    n = next(_serial)
    values: dict[str, Any] = {
        "kind": "intraoral",
        "path": f"p{image_set.patient_id}/s{image_set.id}/{n}.png",
        "byte_size": 1000 + n,
        "sha256": hashlib.sha256(str(n).encode()).hexdigest(),
        "width": 1600,
        "height": 1200,
        "bit_depth": 16,
        "teeth": "11,21",
    }
    values.update(overrides)
    item = clients.add_media(session, values.pop("actor", ACTOR), image_set.id, **values)
    session.commit()
    return item


_CREATE_USER = ("username", "password", "actor", "display_name", "is_admin", "groups")


def make_user(session: Session, **overrides: Any) -> UserAccount:
    """Create and commit a local account with a unique name and the password USER_PASSWORD.

    ``username``, ``password``, ``actor``, ``display_name``, ``is_admin`` and ``groups``
    (default: the seeded Clinicians) go to ``users.create_user``; any other override
    (``active=False``...) is set on the account.
    """
    unknown = [
        name for name in overrides if name not in _CREATE_USER and not hasattr(UserAccount, name)
    ]
    if unknown:
        raise TypeError(f"UserAccount has no field {', '.join(unknown)}")
    n = next(_serial)
    username = overrides.pop("username", f"tandlakare{n}")
    password = overrides.pop("password", USER_PASSWORD)
    user = users.create_user(
        session,
        username,
        password,
        actor=overrides.pop("actor", ACTOR),
        display_name=overrides.pop("display_name", f"Tandläkare {n}"),
        is_admin=overrides.pop("is_admin", False),
        groups=overrides.pop("groups", ("Clinicians",)),
    )
    for name, value in overrides.items():
        setattr(user, name, value)
    session.commit()
    return user


LICENSEE = "Folktandvården Exempelstad AB"


def make_license(key: Ed25519PrivateKey, **overrides: Any) -> bytes:
    """Return a signed license file (10 seats, created a month ago) with any field changed."""
    fields: dict[str, Any] = {
        "licensee": LICENSEE,
        "org_number": "556012-5790",
        "seats": 10,
        "created": dt.date.today() - dt.timedelta(days=30),
    }
    fields.update(overrides)
    return vendor.issue_license(key, **fields).encode("utf-8")
