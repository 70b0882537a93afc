"""Signing image sets: a SHA-256 digest over the set's content, checked again on demand.

Signing records who and when, and a digest over a canonical manifest of the set (its
metadata and each live media item's metadata and file hash). The manifest itself goes into
the signing audit event, so [Verify] can name exactly which field or file changed behind
the program's back, and the digest proves the manifest was not edited either. A signed set
is read-only for the workstations (``ibdesk.clients`` refuses every change) until an
administrator unsigns it, giving a reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import audit, clinic_settings, safefiles
from ibdesk.audit import Actor
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import AuditEvent, ImageSet, MediaItem, Patient, Right, utcnow
from ibdesk.users.rights import require

MEDIA_KEYS = (
    "id",
    "kind",
    "path",
    "byte_size",
    "sha256",
    "width",
    "height",
    "bit_depth",
    "teeth",
    "taken_at",
    "comment",
)
_FILE_KEYS = ("sha256", "byte_size")
# What a change names, in words (the manifest's keys stay as they are: they are signed).
_LABELS = {
    "taken_on": _l("date taken"),
    "description": _l("description"),
    "personnummer": _l("personnummer"),
    "id": _l("id"),
    "kind": _l("kind"),
    "path": _l("file name"),
    "byte_size": _l("size in bytes"),
    "sha256": _l("SHA-256"),
    "width": _l("width"),
    "height": _l("height"),
    "bit_depth": _l("bit depth"),
    "teeth": _l("teeth"),
    "taken_at": _l("time taken"),
    "comment": _l("comment"),
}


def _value(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def manifest(session: Session, image_set: ImageSet) -> dict[str, Any]:
    """Return the canonical content of a set that a signature covers."""
    items = session.scalars(
        select(MediaItem)
        .where(MediaItem.image_set_id == image_set.id, MediaItem.deleted_at.is_(None))
        .order_by(MediaItem.id)
    )
    patient = session.get(Patient, image_set.patient_id)
    return {
        "image_set": image_set.id,
        "personnummer": patient.personnummer if patient else None,
        "taken_on": image_set.taken_on.isoformat(),
        "description": image_set.description,
        "media": [{key: _value(getattr(m, key)) for key in MEDIA_KEYS} for m in items],
    }


def digest(content: dict[str, Any]) -> str:
    """Return the SHA-256 of a manifest in canonical JSON."""
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _locked_set(session: Session, set_id: int) -> ImageSet:
    image_set = session.scalar(select(ImageSet).where(ImageSet.id == set_id).with_for_update())
    if image_set is None:
        raise NotFound(_("Image set %(set_id)s does not exist.", set_id=set_id))
    return image_set


def _record(
    session: Session, actor: Actor, action: str, image_set: ImageSet, changes: dict[str, Any]
) -> None:
    """Note a change of an image set's signature in its patient's log."""
    audit.record(
        session,
        actor,
        action,
        patient=session.get(Patient, image_set.patient_id),
        entity="image_set",
        entity_id=image_set.id,
        changes=changes,
    )


def sign(session: Session, actor: Actor, set_id: int) -> ImageSet:
    """Sign an image set: record who and when and the digest of its content (the sign right)."""
    require(actor, Right.SIGN)
    image_set = _locked_set(session, set_id)
    if image_set.signed_at is not None:
        raise Refused(
            _(
                "Image set %(set_id)s is already signed by %(signed_by)s.",
                set_id=set_id,
                signed_by=image_set.signed_by,
            )
        )
    content = manifest(session, image_set)
    if not content["media"]:
        raise Refused(
            _("Image set %(set_id)s holds no media; there is nothing to sign.", set_id=set_id)
        )
    image_set.signed_at, image_set.signed_by = utcnow(), actor.user
    image_set.signature_digest = digest(content)
    _record(
        session,
        actor,
        "image_set.sign",
        image_set,
        {"digest": [None, image_set.signature_digest], "manifest": [None, content]},
    )
    return image_set


def unsign(session: Session, actor: Actor, set_id: int, reason: str) -> ImageSet:
    """Remove a signature so the set can be changed again (administrators; with a reason)."""
    require(actor, Right.ADMINISTER)
    reason = " ".join(reason.split())
    if len(reason) < 3:
        raise UserError(_("Give a reason for unsigning (it is kept in the patient's log)."))
    image_set = _locked_set(session, set_id)
    if image_set.signed_at is None:
        raise Refused(_("Image set %(set_id)s is not signed.", set_id=set_id))
    before = {"signed_by": image_set.signed_by, "digest": image_set.signature_digest}
    image_set.signed_at = image_set.signed_by = image_set.signature_digest = None
    changes = {
        "signed_by": [before["signed_by"], None],
        "digest": [before["digest"], None],
        "reason": [None, reason],
    }
    _record(session, actor, "image_set.unsign", image_set, changes)
    return image_set


@dataclass(frozen=True)
class Verification:
    """The result of checking a signed set against its signature."""

    set_id: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        """Return whether the set still matches what was signed."""
        return not self.problems


def _signed_manifest(session: Session, image_set: ImageSet) -> dict[str, Any] | None:
    event = session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.entity == "image_set",
            AuditEvent.entity_id == image_set.id,
            AuditEvent.action == "image_set.sign",
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if event is None:
        return None
    changes = json.loads(event.changes)
    signed = changes.get("manifest", [None, None])[1]
    return signed if isinstance(signed, dict) else None


def _compare(signed: dict[str, Any], now: dict[str, Any]) -> list[str]:
    problems = [
        _(
            "The set's %(field)s changed from %(before)s to %(after)s.",
            field=_LABELS[key],
            before=repr(signed.get(key)),
            after=repr(now.get(key)),
        )
        for key in ("taken_on", "description", "personnummer")
        if signed.get(key) != now.get(key)
    ]
    before = {m["id"]: m for m in signed.get("media", [])}
    after = {m["id"]: m for m in now.get("media", [])}
    for media_id in sorted(before.keys() - after.keys()):
        path = before[media_id]["path"]
        problems.append(_("Media item %(id)s (%(path)s) was removed.", id=media_id, path=path))
    for media_id in sorted(after.keys() - before.keys()):
        path = after[media_id]["path"]
        problems.append(_("Media item %(id)s (%(path)s) was added.", id=media_id, path=path))
    for media_id in sorted(before.keys() & after.keys()):
        for key in MEDIA_KEYS:
            was, now_is = before[media_id].get(key), after[media_id].get(key)
            if was == now_is:
                continue
            # A file's recorded hash or size names the file, so the change can be found.
            item = (
                _("Media item %(id)s (%(path)s)", id=media_id, path=before[media_id].get("path"))
                if key in _FILE_KEYS
                else _("Media item %(id)s", id=media_id)
            )
            problems.append(
                _(
                    "%(item)s: %(field)s changed from %(before)s to %(after)s.",
                    item=item,
                    field=_LABELS[key],
                    before=repr(was),
                    after=repr(now_is),
                )
            )
    return problems


def _file_problem(path: str, problem: safefiles.FileProblem) -> str:
    if problem.kind == safefiles.MISSING:
        return _("File %(path)s is missing from the image folder.", path=path)
    if problem.kind == safefiles.HASH:
        return _("File %(path)s was changed on disk (its SHA-256 differs).", path=path)
    return _("File %(path)s cannot be checked: %(problem)s.", path=path, problem=problem)


def verify(session: Session, set_id: int, *, check_files: bool = True) -> Verification:
    """Recompute a signed set's digest and its files' hashes; name whatever changed."""
    image_set = session.get(ImageSet, set_id)
    if image_set is None:
        raise NotFound(_("Image set %(set_id)s does not exist.", set_id=set_id))
    if image_set.signed_at is None:
        raise Refused(
            _("Image set %(set_id)s is not signed; there is no signature to verify.", set_id=set_id)
        )
    now = manifest(session, image_set)
    problems: list[str] = []
    signed = _signed_manifest(session, image_set)
    if signed is None or digest(signed) != image_set.signature_digest:
        problems.append(
            _(
                "The signature record itself was changed: the signed content no longer "
                "matches the stored digest."
            )
        )
    elif digest(now) != image_set.signature_digest:
        problems += _compare(signed, now) or [_("The set's content differs from what was signed.")]
    if check_files:
        folder = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
        for item in now["media"]:
            if not folder:
                problems.append(_("The image folder is not set, so the files cannot be checked."))
                break
            try:
                # The hash covers the size: one kind of "changed" is enough to name.
                safefiles.hash_verified(folder, item["path"], size=None, sha256=item["sha256"])
            except safefiles.FileProblem as problem:
                problems.append(_file_problem(item["path"], problem))
    return Verification(set_id, problems)
