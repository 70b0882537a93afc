"""patient.xml: valid and faithful for any text people type; the schema and its documentation."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from ibdesk.export.media import FileResult
from ibdesk.export.patient_xml import (
    NAMESPACE,
    SCHEMA_PATH,
    ExportStamp,
    build,
    schema,
    serialize,
    xml_safe,
)
from ibdesk.export.records import AuditRecord, ImageSetRecord, MediaRecord, PatientRecord

PROPERTY = settings(database=None, max_examples=150, deadline=None)
NS = {"ib": NAMESPACE}
AT = dt.datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "export-format.md"
# Anything at all, with the characters that break naive XML writers made likely.
TRICKY = st.sampled_from(
    ["\x00", "\x01", "\x0b", "\x1f", "\x7f", "\r", "\r\n", "\t", "\ud800", "\udfff", "\ufffe",
     "\uffff", "\u202e", "\u200d", "\U0001f9b7", "&", "<", "]]>", '"', "'", "Å", "é\u0301"]
)  # fmt: skip
TEXT = st.lists(st.one_of(TRICKY, st.characters(exclude_categories=())), max_size=30).map("".join)


def patient(first: str, last: str, note: str, comment: str, description: str) -> PatientRecord:
    item = MediaRecord(
        id=7,
        image_set_id=3,
        kind="intraoral",
        path="1/3/a.png",
        byte_size=10,
        sha256="a" * 64,
        width=2,
        height=2,
        bit_depth=16,
        teeth="11,21",
        taken_at=AT,
        comment=comment,
        created_at=AT,
        created_by=first,
    )
    image_set = ImageSetRecord(
        id=3,
        taken_on=AT.date(),
        description=description,
        created_at=AT,
        created_by=last,
        signed_at=None,
        signed_by=None,
        signature_digest=None,
        media=(item,),
    )
    return PatientRecord(
        id=1,
        personnummer="191212121212",
        kind="personnummer",
        first_name=first,
        last_name=last,
        address=note,
        postal_code=first,
        city=last,
        phone=comment,
        note=note,
        created_at=AT,
        created_by=note,
        modified_at=AT,
        modified_by=comment,
        image_sets=(image_set,),
    )


def result() -> FileResult:
    return FileResult(7, "encoded", "3-7-intraoral.jp2", "b" * 64, 99, "lossless", "a" * 64, 10)


def event(user: str, before: str, after: str) -> AuditRecord:
    changes = json.dumps({"note": [before, after], "first_name": [None, after]})
    return AuditRecord(1, None, AT, user, user, "patient.update", "patient", 1, changes, None)


def original_of(element: etree._Element) -> str:
    """Return what the element says was typed: its text, or the exact original if replaced."""
    raw = element.get("originalBase64")
    if raw is None:
        return element.text or ""
    return base64.b64decode(raw).decode("utf-8", "surrogatepass")


@PROPERTY
@given(first=TEXT, last=TEXT, note=TEXT, comment=TEXT, description=TEXT, user=TEXT)
def test_any_text_gives_valid_xml_that_keeps_every_character(
    first: str, last: str, note: str, comment: str, description: str, user: str
) -> None:
    record = patient(first, last, note, comment, description)
    stamp = ExportStamp(AT, user, user, "ibdesk test")
    data = serialize(build(record, {7: result()}, [event(user, note, comment)], stamp))

    document = etree.fromstring(data)  # well-formed
    assert schema().validate(document), schema().error_log
    expect = {
        "ib:identity/ib:firstName": first,
        "ib:identity/ib:lastName": last,
        "ib:note": note,
        "ib:contact/ib:address": note,
        "ib:contact/ib:phone": comment,
        ".//ib:mediaItem/ib:comment": comment,
        ".//ib:imageSet/ib:description": description,
        # Audit values come back through JSON, which joins an escaped surrogate pair.
        ".//ib:change[@field='note']/ib:before": json.loads(json.dumps(note)),
        ".//ib:change[@field='note']/ib:after": json.loads(json.dumps(comment)),
    }
    for path, typed in expect.items():
        element = document.find(path, NS)
        assert element is not None, path
        assert (element.text or "") == xml_safe(typed)
        assert original_of(element) == typed
        assert ("originalBase64" in element.attrib) == (xml_safe(typed) != typed)
    event_element = document.find(".//ib:event", NS)
    assert event_element is not None and event_element.get("by") == xml_safe(user)
    assert document.find(".//ib:change[@field='first_name']/ib:before", NS) is None


def test_xml_safe_replaces_exactly_what_xml_cannot_carry() -> None:
    assert xml_safe("a\tb\nc\rd") == "a\tb\nc\rd"
    assert xml_safe("\x00\x08\x0b\x0c\x1f") == "\ufffd" * 5
    assert xml_safe("\ud800x\udfff") == "\ufffdx\ufffd"
    assert xml_safe("\ufffe\uffff\ufffd") == "\ufffd\ufffd\ufffd"
    assert xml_safe("Åsa \U0001f9b7 \u202e\x7f\x85") == "Åsa \U0001f9b7 \u202e\x7f\x85"


def test_a_failed_item_and_free_form_audit_detail_are_valid() -> None:
    record = patient("Åsa", "Öberg", "", "", "")
    failed = FileResult(7, "failed", problem="the original /x/a.png is missing")
    detail = AuditRecord(2, 5, AT, "u", "m", "patient.export", "patient", None, "not json", "c1")
    document = etree.fromstring(
        serialize(build(record, {7: failed}, [detail], ExportStamp(AT, "a", "b", "c")))
    )
    item = document.find(".//ib:mediaItem", NS)
    assert item is not None and item.get("status") == "failed"
    assert item.findtext("ib:problem", namespaces=NS) == "the original /x/a.png is missing"
    assert item.find("ib:file", NS) is None
    element = document.find(".//ib:event", NS)
    assert element is not None and element.findtext("ib:detail", namespaces=NS) == "not json"
    assert (element.get("seq"), element.get("chainHash")) == ("5", "c1")
    assert document.findtext("ib:identity/ib:birthDate", namespaces=NS) == "1912-12-12"


def test_schema_is_versioned_namespaced_and_rejects_a_wrong_document() -> None:
    xsd = etree.parse(str(SCHEMA_PATH)).getroot()
    assert xsd.get("targetNamespace") == NAMESPACE == "urn:ibdesk:export:1.0"
    assert xsd.get("version") == "1.0" and SCHEMA_PATH.name == "ibdesk-export-1.0.xsd"
    record = patient("a", "b", "c", "d", "e")
    document = build(record, {7: result()}, [], ExportStamp(AT, "a", "b", "c"))
    assert schema().validate(document)
    number = document.find("ib:identity/ib:number", NS)
    assert number is not None
    number.text = "19121212-1212"  # not the normalised 12 digits
    assert not schema().validate(document)


def test_the_documentation_describes_every_element_of_the_schema() -> None:
    text = DOCS.read_text(encoding="utf-8")
    xsd = etree.parse(str(SCHEMA_PATH))
    names = {
        e.get("name")
        for e in xsd.iter("{http://www.w3.org/2001/XMLSchema}element")
        if e.get("name")
    }
    attributes = {
        e.get("name")
        for e in xsd.iter("{http://www.w3.org/2001/XMLSchema}attribute")
        if e.get("name")
    }
    missing = sorted(n for n in names if f"<{n}" not in text and f"`{n}`" not in text)
    assert not missing, f"elements not in docs/export-format.md: {missing}"
    undocumented = sorted(a for a in attributes if not re.search(rf"\b{a}\b", text))
    assert not undocumented, f"attributes not in docs/export-format.md: {undocumented}"
    assert NAMESPACE in text and "ibdesk-export-1.0.xsd" in text
