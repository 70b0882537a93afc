"""Patient export: folders, patient.xml, JPEG 2000 media, manifest, audit, reruns, bad input."""

from __future__ import annotations

import errno
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import glymur
import numpy as np
import pytest
from lxml import etree
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from exportclinic import (
    Clinic,
    c,
    jp2,
    jpeg,
    out,
    photo,
    png,
    standard_patient,
    xray8,
    xray16,
)
from ibdesk import clinic_settings
from ibdesk.audit import Actor
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.export import (
    ExportOptions,
    ExportSummary,
    Selection,
    VerifyReport,
    export_patients,
    pixels,
    records,
    verify_export,
)
from ibdesk.export.manifest import LOCK_FILE, MANIFEST, lock, read
from ibdesk.export.patient_xml import NAMESPACE, SCHEMA_FILE, SCHEMA_PATH, schema
from ibdesk.filelock import still_there as _still_there
from ibdesk.models import AuditEvent, ImageSet, MediaItem, Patient, SystemEvent
from ibdesk.progress import LogLine, Progress, run_to_end

ADMIN = Actor(user="admin.export", machine="SERVER-1")
NS = {"ib": NAMESPACE}

__all__ = ["c", "out"]  # fixtures, imported for pytest to find


def export(
    engine: Engine, to: Path, selection: Selection | None = None, **options: Any
) -> tuple[ExportSummary, list[LogLine]]:
    options.setdefault("jobs", 0)
    job = export_patients(
        engine, selection or Selection.all_patients(), ExportOptions(to=to, **options), ADMIN
    )
    return run_to_end(job)


def verify(folder: Path) -> VerifyReport:
    return run_to_end(verify_export(folder))[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse(path: Path) -> etree._ElementTree:
    document = etree.parse(str(path))
    assert schema().validate(document), schema().error_log
    return document


def media_element(document: etree._ElementTree, item: MediaItem) -> etree._Element:
    found = document.xpath(f"//ib:mediaItem[@id='{item.id}']", namespaces=NS)
    assert len(found) == 1
    return found[0]


def test_export_writes_folder_xml_media_manifest_and_audit(
    engine: Engine, session: Session, c: Clinic, out: Path
) -> None:
    patient, items = standard_patient(c, note="Allergi: latex")
    signed = session.get(ImageSet, items["intraoral"].image_set_id)
    assert signed is not None
    signed.signed_at = signed.created_at
    signed.signed_by, signed.signature_digest = "erik.tandlakare", "ab" * 32
    session.commit()
    c.patient()  # a second patient, exported too

    summary, log = export(engine, out, jobs=1)

    assert summary.ok and summary.patients == 2 and summary.files_failed == 0
    assert (summary.files_encoded, summary.files_copied, summary.images) == (3, 2, 3)
    folder = out / patient.personnummer
    document = parse(folder / "patient.xml")
    root = document.getroot()
    assert root.get("schemaVersion") == "1.0"
    assert root.findtext("ib:identity/ib:number", namespaces=NS) == patient.personnummer
    assert root.findtext("ib:identity/ib:lastName", namespaces=NS) == "Öberg"
    assert root.findtext("ib:contact/ib:city", namespaces=NS) == "Göteborg"
    assert root.findtext("ib:note", namespaces=NS) == "Allergi: latex"
    signatures = root.findall("ib:imageSets/ib:imageSet/ib:signature", namespaces=NS)
    assert [s.get("status") for s in signatures] == ["signed", "unsigned"]
    assert signatures[0].get("digest") == "ab" * 32
    assert signatures[0].get("by") == "erik.tandlakare"

    xray = media_element(document, items["intraoral"])
    assert xray.get("kind") == "intraoral" and xray.get("status") == "exported"
    assert [t.text for t in xray.findall("ib:teeth/ib:tooth", namespaces=NS)] == ["11", "21"]
    assert xray.findtext("ib:taken", namespaces=NS) == "2026-03-04T09:30:00Z"
    file = xray.find("ib:file", namespaces=NS)
    assert file is not None and file.get("conversion") == "lossless"
    assert file.get("sha256") == sha(folder / file.get("name", ""))
    assert file.get("name", "").endswith(".jp2") and file.get("mediaType") == "image/jp2"
    original = xray.find("ib:original", namespaces=NS)
    assert original is not None
    assert original.get("sha256") == original.get("recordedSha256") == items["intraoral"].sha256
    image = xray.find("ib:image", namespaces=NS)
    assert image is not None and (image.get("width"), image.get("bitDepth")) == ("53", "16")
    comment = media_element(document, items["photo"]).findtext("ib:comment", namespaces=NS)
    assert comment == "Före behandling"
    for kind in ("audio", "document"):
        copy = media_element(document, items[kind]).find("ib:file", namespaces=NS)
        assert copy is not None and copy.get("conversion") == "unchanged"
        assert (folder / copy.get("name", "")).read_bytes() == c.files[items[kind].id]
    actions = [e.get("action") for e in root.iterfind("ib:auditHistory/ib:event", NS)]
    assert actions[:3] == ["patient.create", "image_set.create", "image_set.create"]
    assert actions.count("media.add") == 5

    # The patient's manifest lists every file in its folder, with the right SHA-256.
    journal = read(folder / MANIFEST)
    on_disk = {p.name for p in folder.iterdir() if p.name != MANIFEST}
    assert set(journal) == on_disk and len(on_disk) == 6
    assert all(sha(folder / name) == digest for name, digest in journal.items())
    assert (out / SCHEMA_FILE).read_bytes() == SCHEMA_PATH.read_bytes()
    assert verify(out).ok

    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "patient.export").order_by(AuditEvent.id)
    ).all()
    assert len(events) == 2
    assert {e.personnummer for e in events} >= {patient.personnummer}
    mine = next(e for e in events if e.patient_id == patient.id)
    assert (mine.user_name, mine.machine) == ("admin.export", "SERVER-1")
    assert json.loads(mine.changes) == {"to": [None, str(folder)]}
    system = session.scalars(select(SystemEvent.action).order_by(SystemEvent.id)).all()
    assert system[-2:] == ["export.start", "export.finish"]
    assert sum(1 for line in log if "exported" in line.text and "files" in line.text) == 2
    # The live log names each file as it is written.
    per_file = [line.text for line in log if " → " in line.text]
    assert len(per_file) == summary.files_encoded + summary.files_copied
    assert any(line.endswith("(encoded).") and ".jp2" in line for line in per_file)


@pytest.mark.backends("sqlite")
def test_images_round_trip_bit_exact_and_lossy_photos_stay_close(
    engine: Engine, c: Clinic, out: Path
) -> None:
    patient = c.patient()
    image_set = c.image_set(patient)
    sixteen, eight, colour = xray16(61, 47), xray8(33, 70), photo()
    items = [
        c.add(image_set, "intraoral", png(sixteen), "x16.png", bit_depth=16),
        c.add(image_set, "panoramic", png(eight), "x8.png"),
        c.add(image_set, "photo", jpeg(colour), "p.jpg"),
        c.add(image_set, "photo", png(colour), "p.png"),
    ]
    summary, _ = export(engine, out)
    assert summary.ok and summary.files_encoded == 4
    folder = out / patient.personnummer
    back = [glymur.Jp2k(folder / f"{image_set.id}-{i.id}-{i.kind}.jp2")[:] for i in items]
    assert back[0].dtype == np.uint16 and np.array_equal(back[0], sixteen)
    assert back[1].dtype == np.uint8 and np.array_equal(back[1], eight)
    decoded_jpeg = np.asarray(Image.open(c.source(items[2])))
    assert np.array_equal(back[2], decoded_jpeg)
    assert np.array_equal(back[3], colour)

    lossy_out = out.parent / "lossy"
    lossy_out.mkdir()
    summary, _ = export(engine, lossy_out, lossy_photos=True)
    assert summary.ok
    lossy_folder = lossy_out / patient.personnummer
    lossy = lossy_folder / f"{image_set.id}-{items[3].id}-photo-lossy.jp2"
    error = glymur.Jp2k(lossy)[:].astype(float) - colour
    psnr = 10 * np.log10(255**2 / np.mean(error**2))
    assert 40 < psnr < 80
    # X-rays stay lossless whatever the photo option says.
    xray = glymur.Jp2k(lossy_folder / f"{image_set.id}-{items[0].id}-intraoral.jp2")[:]
    assert np.array_equal(xray, sixteen)
    document = parse(lossy_folder / "patient.xml")
    conversions = [f.get("conversion") for f in document.iterfind(".//ib:file", NS)]
    assert conversions == ["lossless", "lossless", "visually-lossless", "visually-lossless"]


@pytest.mark.backends("sqlite")
def test_jpeg2000_originals_are_copied_and_damaged_ones_refused(
    engine: Engine, c: Clinic, out: Path, tmp_path: Path
) -> None:
    patient = c.patient()
    image_set = c.image_set(patient)
    data = jp2(tmp_path / "made.jp2", xray16())
    good = c.add(image_set, "intraoral", data, "stored.jp2", bit_depth=16)
    bad = c.add(image_set, "intraoral", data[: len(data) // 2], "broken.jp2", bit_depth=16)
    summary, log = export(engine, out)
    folder = out / patient.personnummer
    copied = folder / f"{image_set.id}-{good.id}-intraoral-original.jp2"
    assert copied.read_bytes() == data  # copied byte for byte, not encoded again
    assert summary.files_copied == 1 and summary.files_encoded == 0
    assert [(f.media_id, "damaged JPEG 2000" in f.problem) for f in summary.failed] == [
        (bad.id, True)
    ]
    assert not any(p.name.startswith(".part-") for p in folder.iterdir())
    element = media_element(parse(folder / "patient.xml"), good)
    file = element.find("ib:file", namespaces=NS)
    assert file is not None and file.get("conversion") == "unchanged"
    assert any(line.level == "error" and str(bad.id) in line.text for line in log)


@pytest.mark.backends("sqlite")
def test_bad_sources_are_listed_and_the_rest_is_exported(
    engine: Engine, c: Clinic, out: Path
) -> None:
    patient, items = standard_patient(c)
    image_set = c.image_set(patient)
    missing = c.add(image_set, "intraoral", png(xray8()), "gone.png")
    c.source(missing).unlink()
    unreadable = c.add(image_set, "panoramic", png(xray8()), "dir.png")
    c.source(unreadable).unlink()
    c.source(unreadable).mkdir()  # reading a folder fails, as an unreadable file does
    not_image = c.add(image_set, "photo", b"this is a text file, not a JPEG", "fake.jpg")
    summary, log = export(engine, out)

    assert not summary.ok and summary.patients == 1
    problems = {f.media_id: f.problem for f in summary.failed}
    assert set(problems) == {missing.id, unreadable.id}
    assert "is missing" in problems[missing.id]
    assert "is a folder" in problems[unreadable.id]
    assert summary.files_failed == 2 and summary.files_encoded + summary.files_copied == 6
    assert sum(1 for line in log if line.level == "error") == 2
    document = parse(out / patient.personnummer / "patient.xml")
    failed = media_element(document, missing)
    assert failed.get("status") == "failed" and failed.find("ib:file", NS) is None
    assert "is missing" in (failed.findtext("ib:problem", namespaces=NS) or "")
    # A file that matches its record but is no image is the clinic's original all the same.
    kept = media_element(document, not_image).find("ib:file", NS)
    assert kept is not None and kept.get("conversion") == "unchanged"
    warned = [line.text for line in log if line.level == "warning"]
    assert any("fake.jpg cannot be read as an image" in text for text in warned)
    assert media_element(document, items["photo"]).get("status") == "exported"
    assert verify(out).ok  # what was exported is complete and listed


@pytest.mark.backends("sqlite")
def test_a_full_disk_fails_that_file_only_and_leaves_no_partial_file(
    engine: Engine, c: Clinic, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient, items = standard_patient(c)
    real = pixels.encode_jp2
    calls: list[Path] = []

    def full_disk_once(path: Path, data: np.ndarray, *, lossy: bool) -> None:
        calls.append(path)
        if len(calls) == 1:
            path.write_bytes(b"half a file")  # what a disk that fills up leaves behind
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data, lossy=lossy)

    monkeypatch.setattr(pixels, "encode_jp2", full_disk_once)
    summary, _ = export(engine, out)
    assert [f.media_id for f in summary.failed] == [items["intraoral"].id]
    assert "disk" in summary.failed[0].problem and "full" in summary.failed[0].problem
    folder = out / patient.personnummer
    # Written under a temporary name, and that removed: nothing half-written looks complete.
    assert calls[0].name.startswith(".part-") and calls[0].parent == folder
    assert not calls[0].exists() and not any(p.name.startswith(".part-") for p in folder.iterdir())
    assert not (folder / calls[0].name.removeprefix(".part-")).exists()
    assert summary.files_encoded == 2 and summary.files_copied == 2

    monkeypatch.setattr(pixels, "encode_jp2", real)
    again, _ = export(engine, out)
    assert again.ok and again.files_encoded == 1 and again.files_skipped == 4
    assert verify(out).ok


@pytest.mark.backends("sqlite")
def test_rerun_skips_intact_files_and_redoes_damaged_ones(
    engine: Engine, session: Session, c: Clinic, out: Path
) -> None:
    patient, items = standard_patient(c)
    export(engine, out)
    folder = out / patient.personnummer
    journal = read(folder / MANIFEST)
    xray_name = f"{items['intraoral'].image_set_id}-{items['intraoral'].id}-intraoral.jp2"
    photo_name = f"{items['photo'].image_set_id}-{items['photo'].id}-photo.jp2"
    (folder / xray_name).write_bytes(b"damaged")
    (folder / photo_name).unlink()

    second, _ = export(engine, out)
    assert second.ok and second.files_skipped == 3 and second.files_encoded == 2
    now = read(folder / MANIFEST)
    # The media are the same files again, bit for bit; patient.xml is new (new history).
    assert now.pop("patient.xml") != journal.pop("patient.xml") and now == journal
    assert verify(out).ok
    exports = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "patient.export", AuditEvent.patient_id == patient.id
        )
    ).all()
    assert len(exports) == 2
    # The second patient.xml carries the first export in its audit history.
    history = parse(folder / "patient.xml").getroot().iterfind("ib:auditHistory/ib:event", NS)
    assert [e.get("action") for e in history].count("patient.export") == 1


@pytest.mark.backends("sqlite")
def test_switching_photo_quality_replaces_the_old_file(
    engine: Engine, c: Clinic, out: Path
) -> None:
    patient, items = standard_patient(c)
    export(engine, out)
    summary, _ = export(engine, out, lossy_photos=True)
    assert summary.ok and summary.files_encoded == 1
    names = {p.name for p in (out / patient.personnummer).iterdir()}
    stem = f"{items['photo'].image_set_id}-{items['photo'].id}-photo"
    assert f"{stem}-lossy.jp2" in names and f"{stem}.jp2" not in names
    assert verify(out).ok


def test_selection_by_number_and_id_exports_only_those(
    engine: Engine, c: Clinic, out: Path
) -> None:
    one, two, three = c.patient(), c.patient(), c.patient()
    typed = f"{one.personnummer[2:8]}-{one.personnummer[8:]}"  # as staff type it
    summary, _ = export(engine, out, Selection.of_numbers([typed]))
    assert summary.patients == 1
    summary, _ = export(engine, out, Selection.of_ids([three.id]))
    assert summary.patients == 1
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == sorted([one.personnummer, three.personnummer])
    assert two.personnummer not in folders
    assert verify(out).ok and verify(out).patients == 2


def test_refusals_before_anything_is_written(
    engine: Engine, session: Session, c: Clinic, out: Path, tmp_path: Path
) -> None:
    c.patient()
    with pytest.raises(Refused, match="inside the image folder"):
        export(engine, c.images / "export")
    (c.images / "inside").mkdir()
    with pytest.raises(Refused, match="inside the image folder"):
        export(engine, c.images / "inside")
    with pytest.raises(Refused, match="contains the image folder"):
        export(engine, tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        export(engine, out / "missing")
    (out / "file").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        export(engine, out / "file")
    with pytest.raises(NotFound, match="19121212-1212"):
        export(engine, out, Selection.of_numbers(["19121212-1212"]))
    with pytest.raises(NotFound, match="does not exist"):
        export(engine, out, Selection.of_ids([999_999]))
    with pytest.raises(UserError, match="Choose the patients"):
        export(engine, out, Selection())
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path / "not-mounted"))
    session.commit()
    with pytest.raises(UserError, match="cannot be reached"):
        export(engine, out)
    assert list(out.iterdir()) == [out / "file"]


@pytest.mark.backends("sqlite")
def test_an_unwritable_export_folder_is_refused(
    engine: Engine, c: Clinic, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c.patient()
    import tempfile

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    # Tests run as root, which may write anywhere: make creating a file fail instead.
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(UserError, match="not writable"):
        export(engine, out)


@pytest.mark.backends("sqlite")
def test_a_second_export_into_the_same_folder_waits_its_turn(
    engine: Engine, c: Clinic, out: Path
) -> None:
    c.patient()
    with lock(out), pytest.raises(Refused, match="Another export"):
        export(engine, out)
    assert export(engine, out)[0].ok


@pytest.mark.backends("sqlite")
def test_the_lock_file_does_not_stay_behind(engine: Engine, c: Clinic, out: Path) -> None:
    c.patient()
    assert export(engine, out)[0].ok
    assert not (out / LOCK_FILE).exists()
    with lock(out):
        assert (out / LOCK_FILE).exists()
    assert not (out / LOCK_FILE).exists()


def test_a_rival_that_opened_the_removed_lock_file_does_not_take_the_folder(
    tmp_path: Path,
) -> None:
    # The rival opened the file before the owner removed it: what it would lock is gone.
    with lock(tmp_path), (tmp_path / LOCK_FILE).open("a+b") as rival:
        pass_before = _still_there(tmp_path / LOCK_FILE, rival)
        rival_handle = (tmp_path / LOCK_FILE).open("a+b")
    with rival_handle:
        assert pass_before
        assert not _still_there(tmp_path / LOCK_FILE, rival_handle)


@pytest.mark.backends("sqlite")
def test_cancel_stops_between_files_and_a_rerun_completes(
    engine: Engine, c: Clinic, out: Path
) -> None:
    for _ in range(3):
        standard_patient(c)
    cancel = threading.Event()
    job = export_patients(
        engine, Selection.all_patients(), ExportOptions(to=out, jobs=0), ADMIN, cancel=cancel
    )
    files_seen = 0
    summary: ExportSummary | None = None
    while summary is None:
        try:
            event = next(job)
        except StopIteration as stop:
            summary = stop.value
            break
        if isinstance(event, Progress) and event.done:
            files_seen += 1
            if files_seen == 7:
                cancel.set()
    assert summary.cancelled and not summary.ok and 1 <= summary.patients < 3
    again, _ = export(engine, out)
    assert again.ok and again.files_skipped >= 5 and verify(out).ok


@pytest.mark.backends("sqlite")
def test_pages_are_read_as_the_export_goes(
    engine: Engine, c: Clinic, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        c.patient()
    monkeypatch.setattr(records, "PAGE_SIZE", 2)
    loaded: list[int] = []
    real = records.load_patients

    def spy(session: Session, ids: Any) -> Any:
        loaded.append(len(ids))
        return real(session, ids)

    monkeypatch.setattr(records, "load_patients", spy)
    job = export_patients(engine, Selection.all_patients(), ExportOptions(to=out, jobs=0), ADMIN)
    first_patient = next(e for e in job if isinstance(e, LogLine) and "exported" in e.text)
    assert first_patient and loaded == [2]  # one page read, not the whole clinic
    rest = list(job)
    assert loaded == [2, 2, 1] and rest


def test_deleted_patients_and_media_are_not_exported(
    engine: Engine, session: Session, c: Clinic, out: Path
) -> None:
    kept, items = standard_patient(c)
    gone = c.patient()
    row = session.get(Patient, gone.id)
    media = session.get(MediaItem, items["audio"].id)
    assert row is not None and media is not None
    row.deleted_at = media.deleted_at = row.created_at
    session.commit()
    summary, _ = export(engine, out)
    assert summary.patients == 1 and summary.files_copied == 1
    assert not (out / gone.personnummer).exists()
    document = parse(out / kept.personnummer / "patient.xml")
    ids = {int(e.get("id", 0)) for e in document.iterfind(".//ib:mediaItem", NS)}
    assert items["audio"].id not in ids and len(ids) == 4


@pytest.mark.backends("sqlite")
def test_a_patient_whose_folder_cannot_be_made_is_listed_and_the_rest_exported(
    engine: Engine, session: Session, c: Clinic, out: Path
) -> None:
    blocked, _ = standard_patient(c)
    fine = c.patient()
    (out / blocked.personnummer).write_text("a file where the folder should go")
    summary, log = export(engine, out)
    assert summary.patients == 1 and summary.patients_failed == 1 and not summary.ok
    assert [(f.personnummer, f.media_id) for f in summary.failed] == [(blocked.personnummer, None)]
    assert (out / fine.personnummer / "patient.xml").is_file()
    assert any(line.level == "error" and blocked.personnummer[:8] in line.text for line in log)
    exported = session.scalars(
        select(AuditEvent.patient_id).where(AuditEvent.action == "patient.export")
    ).all()
    assert exported == [fine.id]  # no audit event for a patient that was not exported
