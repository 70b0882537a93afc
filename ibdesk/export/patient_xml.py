"""``patient.xml``: one exported patient, built with lxml and valid against the shipped schema.

The schema is ``ibdesk/schemas/ibdesk-export-1.0.xsd`` (namespace ``urn:ibdesk:export:1.0``),
documented in ``docs/export-format.md``. Text is made XML-safe without losing anything: a
character XML 1.0 cannot carry becomes U+FFFD and the element then also carries the exact
original as UTF-8 in base64 (``originalBase64``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lxml import etree

from ibdesk import personnummer
from ibdesk.export.media import FileResult
from ibdesk.export.records import AuditRecord, MediaRecord, PatientRecord
from ibdesk.i18n import gettext as _

NAMESPACE = "urn:ibdesk:export:1.0"
SCHEMA_VERSION = "1.0"
SCHEMA_FILE = "ibdesk-export-1.0.xsd"
XML_NAME = "patient.xml"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_FILE
_NS = f"{{{NAMESPACE}}}"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_per_thread = threading.local()
# Everything XML 1.0 allows (the "Char" production); the rest is replaced.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MEDIA_TYPES = {
    "jp2": "image/jp2",
    "j2k": "image/x-jp2-codestream",
    "dcm": "application/dicom",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
    "pdf": "application/pdf",
    "txt": "text/plain",
}


class InvalidExport(ValueError):
    """A built patient.xml does not validate (a bug, never the data's fault)."""


@dataclass(frozen=True)
class ExportStamp:
    """Who exports, when, and with which program (written into every patient.xml)."""

    at: dt.datetime
    by: str
    machine: str
    software: str


def software() -> str:
    """Return the program and version that write the export."""
    try:
        return f"ibdesk {metadata.version('ibdesk')}"
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "ibdesk"


def schema_bytes() -> bytes:
    """Return the XML Schema that every exported patient.xml is valid against."""
    return SCHEMA_PATH.read_bytes()


def schema() -> etree.XMLSchema:
    """Return the parsed export schema (one per thread: lxml validators are not shared)."""
    cached: etree.XMLSchema | None = getattr(_per_thread, "schema", None)
    if cached is None:
        cached = _per_thread.schema = etree.XMLSchema(etree.fromstring(schema_bytes()))
    return cached


def xml_safe(value: str) -> str:
    """Return the text with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", value)


def _text(parent: etree._Element, tag: str, value: str | None) -> etree._Element:
    element = etree.SubElement(parent, _NS + tag)
    value = value or ""
    safe = xml_safe(value)
    element.text = safe
    if safe != value:
        raw = value.encode("utf-8", "surrogatepass")
        element.set("originalBase64", base64.b64encode(raw).decode("ascii"))
    return element


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _stamp(parent: etree._Element, tag: str, at: dt.datetime, by: str | None, **more: str) -> None:
    """Add an element saying when and by whom (and ``more`` attributes, made XML-safe)."""
    safe = {name: xml_safe(value) for name, value in more.items()}
    etree.SubElement(parent, _NS + tag, at=_when(at), by=xml_safe(by or ""), **safe)


def media_type(name: str) -> str:
    """Return the media (MIME) type of an exported file, from its extension."""
    return MEDIA_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def build(
    patient: PatientRecord,
    results: Mapping[int, FileResult],
    history: Iterable[AuditRecord],
    stamp: ExportStamp,
) -> etree._Element:
    """Build a patient's XML element tree (media results keyed by media id)."""
    root = etree.Element(_NS + "patient", nsmap={None: NAMESPACE, "xsi": _XSI})
    root.set("schemaVersion", SCHEMA_VERSION)
    # The schema sits in the export folder, one level up from each patient folder.
    root.set(f"{{{_XSI}}}schemaLocation", f"{NAMESPACE} ../{SCHEMA_FILE}")
    _stamp(root, "exported", stamp.at, stamp.by, machine=stamp.machine, software=stamp.software)
    identity = etree.SubElement(root, _NS + "identity", kind=patient.kind)
    etree.SubElement(identity, _NS + "number").text = patient.personnummer
    _text(identity, "firstName", patient.first_name)
    _text(identity, "lastName", patient.last_name)
    birth = _birth_date(patient.personnummer)
    if birth is not None:
        etree.SubElement(identity, _NS + "birthDate").text = birth.isoformat()
    contact = etree.SubElement(root, _NS + "contact")
    _text(contact, "address", patient.address)
    _text(contact, "postalCode", patient.postal_code)
    _text(contact, "city", patient.city)
    _text(contact, "phone", patient.phone)
    _text(root, "note", patient.note)
    _stamp(root, "registered", patient.created_at, patient.created_by)
    _stamp(root, "modified", patient.modified_at, patient.modified_by)
    sets = etree.SubElement(root, _NS + "imageSets")
    for image_set in patient.image_sets:
        element = etree.SubElement(
            sets, _NS + "imageSet", id=str(image_set.id), takenOn=image_set.taken_on.isoformat()
        )
        _text(element, "description", image_set.description)
        _stamp(element, "created", image_set.created_at, image_set.created_by)
        signature = etree.SubElement(element, _NS + "signature")
        if image_set.signed_at is not None:
            signature.set("status", "signed")
            signature.set("at", _when(image_set.signed_at))
            signature.set("by", xml_safe(image_set.signed_by or ""))
            if image_set.signature_digest:
                signature.set("digest", xml_safe(image_set.signature_digest))
        else:
            signature.set("status", "unsigned")
        items = etree.SubElement(element, _NS + "mediaItems")
        for item in image_set.media:
            _media(items, item, results.get(item.id))
    audit = etree.SubElement(root, _NS + "auditHistory")
    for event in history:
        _event(audit, event)
    return root


def _birth_date(number: str) -> dt.date | None:
    try:
        return personnummer.parse(number).birth_date
    except personnummer.PersonnummerError:
        return None


def _media(parent: etree._Element, item: MediaRecord, result: FileResult | None) -> None:
    ok = result is not None and result.ok
    element = etree.SubElement(
        parent,
        _NS + "mediaItem",
        id=str(item.id),
        kind=item.kind,
        status="exported" if ok else "failed",
    )
    if item.taken_at is not None:
        etree.SubElement(element, _NS + "taken").text = _when(item.taken_at)
    teeth = etree.SubElement(element, _NS + "teeth")
    for tooth in (t.strip() for t in item.teeth.split(",")):
        if tooth:
            etree.SubElement(teeth, _NS + "tooth").text = xml_safe(tooth)
    _text(element, "comment", item.comment)
    _stamp(element, "registered", item.created_at, item.created_by)
    original = etree.SubElement(
        element,
        _NS + "original",
        recordedBytes=str(max(0, item.byte_size)),
        recordedSha256=xml_safe(item.sha256),
    )
    if result is not None and result.original_size is not None:
        original.set("bytes", str(result.original_size))
        original.set("sha256", result.original_sha256)
    _text(original, "path", item.path)
    if result is None or not result.ok:
        _text(element, "problem", result.problem if result else "not exported")
        return
    etree.SubElement(
        element,
        _NS + "file",
        name=result.name,
        mediaType=media_type(result.name),
        bytes=str(result.size),
        sha256=result.sha256,
        conversion=result.conversion,
    )
    if result.width and result.height and result.components and result.bit_depth:
        etree.SubElement(
            element,
            _NS + "image",
            width=str(result.width),
            height=str(result.height),
            components=str(result.components),
            bitDepth=str(result.bit_depth),
        )


def _event(parent: etree._Element, event: AuditRecord) -> None:
    element = etree.SubElement(
        parent,
        _NS + "event",
        id=str(event.id),
        at=_when(event.at),
        by=xml_safe(event.user_name),
        machine=xml_safe(event.machine),
        action=xml_safe(event.action),
        entity=xml_safe(event.entity),
    )
    if event.seq is not None and event.seq > 0:
        element.set("seq", str(event.seq))
    if event.entity_id is not None and event.entity_id >= 0:
        element.set("entityId", str(event.entity_id))
    if event.chain_hash:
        element.set("chainHash", xml_safe(event.chain_hash))
    changes = _changes(event.changes)
    if changes is None:
        if event.changes and event.changes != "{}":
            _text(element, "detail", event.changes)
        return
    for field, (before, after) in changes.items():
        change = etree.SubElement(element, _NS + "change", field=xml_safe(field))
        if before is not None:
            _text(change, "before", _value(before))
        if after is not None:
            _text(change, "after", _value(after))


def _changes(raw: str) -> dict[str, tuple[Any, Any]] | None:
    """Return {field: (before, after)} when the event's detail is a list of changes."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if not all(isinstance(v, list) and len(v) == 2 for v in data.values()):
        return None
    return {str(k): (v[0], v[1]) for k, v in data.items()}


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def serialize(root: etree._Element) -> bytes:
    """Validate the tree against the schema and return it as UTF-8 XML."""
    xsd = schema()
    if not xsd.validate(root):
        raise InvalidExport(
            _("patient.xml does not validate: %(last_error)s", last_error=xsd.error_log.last_error)
        )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
