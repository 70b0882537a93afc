"""The client contract: what ImageBank workstations do to the shared database.

Log in, claim a licence seat (locked to the machine), keep it alive with a heartbeat,
register and edit patients, open image sets and add, edit, delete and undelete media.

Workstations, the demo generator, the tests and ibdesk's own tabs change patients and media
only through these functions. Each one works inside the caller's session and transaction and
adds its ``AuditEvent`` (with before and after values) to that same transaction, so a change
and its audit entry are committed together or not at all. Any change to a signed image set
is refused; the set's row is locked first, so a change cannot slip in while it is signed.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import audit, display, limits, mediacheck, personnummer, users
from ibdesk.audit import Actor
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l

# Seats are part of the contract: a workstation claims one at start and beats a heartbeat.
from ibdesk.licensing.seats import claim_seat, heartbeat
from ibdesk.models import ImageSet, MediaItem, Patient, Right, utcnow
from ibdesk.users import require

__all__ = [
    "actor_for",
    "add_media",
    "claim_seat",
    "create_image_set",
    "create_patient",
    "delete_media",
    "find_patient",
    "get_patient",
    "heartbeat",
    "login",
    "sign",
    "undelete_media",
    "unsign",
    "update_media",
    "update_patient",
]

PATIENT_FIELDS = ("first_name", "last_name", "address", "postal_code", "city", "phone", "note")
MEDIA_FIELDS = ("kind", "teeth", "taken_at", "comment", "width", "height", "bit_depth")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The fields as a sentence names them ("The first name may be at most 100 characters.").
_FIELD_NAMES = {
    "first_name": _l("first name"),
    "last_name": _l("last name"),
    "address": _l("address"),
    "postal_code": _l("postal code"),
    "city": _l("city"),
    "phone": _l("phone"),
}
_FIELD_LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "address": 200,
    "postal_code": 10,
    "city": 100,
    "phone": 40,
}


def login(session: Session, username: str, password: str, machine: str) -> users.UserAccount:
    """Log a user in at a workstation; the attempt is recorded and committed either way.

    Pass ``actor_for(user, machine)`` to every later call: it carries the union of the
    rights of the user's groups, and each call checks the right it needs.
    """
    outcome = users.authenticate(session, username, password, machine, need=Right.VIEW_PATIENTS)
    # A failed attempt must stay in the login log although the log-in fails.
    session.commit()
    if outcome.user is None:
        raise Refused(outcome.message)
    return outcome.user


actor_for = users.actor_for


def sign(session: Session, actor: Actor, set_id: int) -> ImageSet:
    """Sign an image set (needs the sign right)."""
    from ibdesk.patients import signing

    return signing.sign(session, actor, set_id)


def unsign(session: Session, actor: Actor, set_id: int, reason: str) -> ImageSet:
    """Unsign an image set, giving a reason: a signed set stays read-only until an
    administrator unsigns it (needs the administer right; the sign right alone signs)."""
    from ibdesk.patients import signing

    return signing.unsign(session, actor, set_id, reason)


def _name_key(last: str, first: str) -> str:
    return f"{last} {first}".strip().lower()[:201]


def _clean_fields(values: dict[str, Any]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in values.items():
        if key not in PATIENT_FIELDS:
            raise UserError(_("'%(key)s' is not a patient field that can be changed.", key=key))
        text = "" if value is None else str(value)
        limits.check_plain(text, str(_FIELD_NAMES.get(key, _("note"))))
        if key != "note":
            text = " ".join(text.split())
        limit = _FIELD_LIMITS.get(key)
        if limit and len(text) > limit:
            raise UserError(
                _(
                    "The %(field)s may be at most %(limit)s characters.",
                    field=_FIELD_NAMES[key],
                    limit=limit,
                )
            )
        clean[key] = text
    return clean


def _patient_values(patient: Patient) -> dict[str, Any]:
    return {key: getattr(patient, key) for key in PATIENT_FIELDS}


def find_patient(
    session: Session, number: str, *, include_deleted: bool = False, actor: Actor | None = None
) -> Patient:
    """Return the patient with this personnummer (any typed form), or say none exists.

    A workstation passes its ``actor``: looking patients up needs the view-patients right.
    A complete number that is not valid (a wrong check digit, serial 000) still names the
    patient stored with exactly those digits, as converted 1.2 data keeps them; when there
    is none, the answer says what is wrong with the number.
    """
    if actor is not None:
        require(actor, Right.VIEW_PATIENTS)
    try:
        normalised = personnummer.normalize(number)
    except personnummer.PersonnummerError:
        stored = personnummer.stored_form(number)  # raises when it is not a whole number
        patient = session.scalar(select(Patient).where(Patient.personnummer == stored))
        if patient is None or (patient.deleted_at is not None and not include_deleted):
            raise
        return patient
    patient = session.scalar(select(Patient).where(Patient.personnummer == normalised))
    if patient is None or (patient.deleted_at is not None and not include_deleted):
        raise NotFound(
            _("No patient has personnummer %(number)s.", number=display.personnummer(normalised))
        )
    return patient


def get_patient(session: Session, patient_id: int, *, for_update: bool = False) -> Patient:
    """Return a live patient by id, or say it does not exist."""
    query = select(Patient).where(Patient.id == patient_id)
    if for_update:
        query = query.with_for_update()
    patient = session.scalar(query)
    if patient is None or patient.deleted_at is not None:
        raise NotFound(
            _("Patient %(patient_id)s does not exist or has been deleted.", patient_id=patient_id)
        )
    return patient


def create_patient(session: Session, actor: Actor, number: str, **fields: Any) -> Patient:
    """Register a new patient under a personnummer, samordningsnummer or reserve number."""
    require(actor, Right.EDIT_IDENTITY)
    identity = personnummer.parse(number)
    values = _clean_fields(fields)
    existing = session.scalar(select(Patient.id).where(Patient.personnummer == identity.number))
    if existing is not None:
        raise Refused(
            _("A patient with number %(display)s already exists.", display=identity.display)
        )
    now = utcnow()
    patient = Patient(
        personnummer=identity.number,
        kind=identity.kind.value,
        name_key=_name_key(values.get("last_name", ""), values.get("first_name", "")),
        created_at=now,
        created_by=actor.user,
        modified_at=now,
        modified_by=actor.user,
        **{key: values.get(key, "") for key in PATIENT_FIELDS},
    )
    session.add(patient)
    session.flush()
    changes = audit.diff(
        {}, {"personnummer": identity.number, "kind": identity.kind.value, **values}
    )
    audit.record(
        session, actor, "patient.create", patient=patient, entity_id=patient.id, changes=changes
    )
    return patient


def update_patient(session: Session, actor: Actor, patient_id: int, **fields: Any) -> Patient:
    """Change a patient's names, contact details or note."""
    require(actor, Right.EDIT_IDENTITY)
    patient = get_patient(session, patient_id, for_update=True)
    values = _clean_fields(fields)
    before = _patient_values(patient)
    for key, value in values.items():
        setattr(patient, key, value)
    changes = audit.diff(before, _patient_values(patient))
    if not changes:
        return patient
    patient.name_key = _name_key(patient.last_name, patient.first_name)
    patient.modified_at, patient.modified_by = utcnow(), actor.user
    audit.record(
        session, actor, "patient.update", patient=patient, entity_id=patient.id, changes=changes
    )
    return patient


def create_image_set(
    session: Session, actor: Actor, patient_id: int, taken_on: dt.date, description: str = ""
) -> ImageSet:
    """Open a new image set ("status") for a patient."""
    require(actor, Right.ADD_IMAGES)
    patient = get_patient(session, patient_id)
    description = " ".join(limits.check_plain(str(description), _("description")).split())
    if len(description) > 200:
        raise UserError(_("An image set's description may be at most 200 characters."))
    image_set = ImageSet(
        patient_id=patient.id,
        taken_on=taken_on,
        description=description,
        created_at=utcnow(),
        created_by=actor.user,
    )
    session.add(image_set)
    session.flush()
    audit.record(
        session,
        actor,
        "image_set.create",
        patient=patient,
        entity="image_set",
        entity_id=image_set.id,
        changes=audit.diff({}, {"taken_on": taken_on, "description": description}),
    )
    return image_set


def _writable_set(session: Session, image_set_id: int) -> tuple[ImageSet, Patient]:
    # Lock the set's row: signing takes the same lock, so no change slips past a signature.
    image_set = session.scalar(
        select(ImageSet).where(ImageSet.id == image_set_id).with_for_update()
    )
    if image_set is None:
        raise NotFound(_("Image set %(image_set_id)s does not exist.", image_set_id=image_set_id))
    if image_set.signed_at is not None:
        raise Refused(
            _(
                "Image set %(image_set_id)s is signed and read-only; an "
                "administrator must unsign it before it can be changed.",
                image_set_id=image_set_id,
            )
        )
    patient = get_patient(session, image_set.patient_id)
    return image_set, patient


def add_media(
    session: Session,
    actor: Actor,
    image_set_id: int,
    *,
    kind: str,
    path: str,
    byte_size: int,
    sha256: str,
    width: int | None = None,
    height: int | None = None,
    bit_depth: int | None = None,
    teeth: str | list[str] = "",
    taken_at: dt.datetime | None = None,
    comment: str = "",
) -> MediaItem:
    """Add a media file (already stored in the image folder) to an unsigned image set."""
    require(actor, Right.ADD_IMAGES)
    image_set, patient = _writable_set(session, image_set_id)
    kind = mediacheck.kind(kind)
    if byte_size < 0:
        raise UserError(_("A file size cannot be negative."))
    digest = sha256.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise UserError(_("The SHA-256 must be 64 hexadecimal characters."))
    mediacheck.values(
        kind,
        {"width": width, "height": height, "bit_depth": bit_depth, "taken_at": taken_at},
        comment,
    )
    now = utcnow()
    item = MediaItem(
        image_set_id=image_set.id,
        patient_id=patient.id,
        kind=kind,
        path=mediacheck.relative_path(path),
        byte_size=byte_size,
        sha256=digest,
        width=width,
        height=height,
        bit_depth=bit_depth,
        teeth=mediacheck.teeth(teeth),
        taken_at=taken_at,
        comment=comment,
        created_at=now,
        created_by=actor.user,
        modified_at=now,
    )
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor,
        "media.add",
        patient=patient,
        entity="media",
        entity_id=item.id,
        changes=audit.diff({}, _media_values(item) | {"path": item.path, "sha256": item.sha256}),
    )
    return item


def _media_values(item: MediaItem) -> dict[str, Any]:
    return {key: getattr(item, key) for key in MEDIA_FIELDS}


def _media_for_change(session: Session, media_id: int) -> tuple[MediaItem, Patient]:
    item = session.get(MediaItem, media_id)
    if item is None:
        raise NotFound(_("Media item %(media_id)s does not exist.", media_id=media_id))
    _set, patient = _writable_set(session, item.image_set_id)
    session.refresh(item)
    return item, patient


def update_media(session: Session, actor: Actor, media_id: int, **fields: Any) -> MediaItem:
    """Change a media item's kind, teeth, time taken, comment or image properties."""
    require(actor, Right.ADD_IMAGES)
    item, patient = _media_for_change(session, media_id)
    if item.deleted_at is not None:
        raise Refused(
            _(
                "Media item %(media_id)s is deleted; undelete it before changing it.",
                media_id=media_id,
            )
        )
    unknown = set(fields) - set(MEDIA_FIELDS)
    if unknown:
        raise UserError(
            _("'%(value)s' is not a media field that can be changed.", value=sorted(unknown)[0])
        )
    if "kind" in fields:
        fields["kind"] = mediacheck.kind(fields["kind"])
    if "teeth" in fields:
        fields["teeth"] = mediacheck.teeth(fields["teeth"])
    after = _media_values(item) | fields
    mediacheck.values(after["kind"], after, after["comment"])
    before = _media_values(item)
    for key, value in fields.items():
        setattr(item, key, value)
    changes = audit.diff(before, _media_values(item))
    if changes:
        item.modified_at = utcnow()
        audit.record(
            session,
            actor,
            "media.update",
            patient=patient,
            entity="media",
            entity_id=item.id,
            changes=changes,
        )
    return item


def delete_media(session: Session, actor: Actor, media_id: int) -> MediaItem:
    """Hide a media item from the workstations (an administrator can undelete it)."""
    return _set_media_deleted(session, actor, media_id, deleted=True)


def undelete_media(session: Session, actor: Actor, media_id: int) -> MediaItem:
    """Bring a deleted media item back."""
    return _set_media_deleted(session, actor, media_id, deleted=False)


def _set_media_deleted(
    session: Session, actor: Actor, media_id: int, *, deleted: bool
) -> MediaItem:
    """Delete or undelete a media item, audited; one already in that state is left as it is."""
    require(actor, Right.DELETE_MEDIA)
    item, patient = _media_for_change(session, media_id)
    if (item.deleted_at is not None) == deleted:
        return item
    if deleted:
        item.deleted_at, item.deleted_by = utcnow(), actor.user
    else:
        item.deleted_at, item.deleted_by = None, None
    audit.record(
        session,
        actor,
        "media.delete" if deleted else "media.undelete",
        patient=patient,
        entity="media",
        entity_id=item.id,
        changes={"deleted": [not deleted, deleted]},
    )
    return item
