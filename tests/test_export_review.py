"""Export review: exported files are this account's only, and no original is lost or mislabelled."""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from lxml import etree
from PIL import Image
from sqlalchemy import Engine
from test_export import ADMIN, NS, export, media_element, parse, verify

from exportclinic import Clinic, c, out, photo, standard_patient, xray8
from ibdesk.export import ExportOptions, Selection, export_patients
from ibdesk.export.job import display
from ibdesk.export.manifest import LOCK_FILE
from ibdesk.models import MediaItem
from ibdesk.progress import LogLine


@contextmanager
def umask(mask: int) -> Iterator[None]:
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


__all__ = ["c", "out"]  # fixtures, imported for pytest to find


def modes(folder: Path) -> dict[str, int]:
    """Return {path relative to folder: permission bits} of everything under folder."""
    return {
        str(path.relative_to(folder)): stat.S_IMODE(path.lstat().st_mode)
        for path in folder.rglob("*")
    }


def assert_private(folder: Path) -> None:
    found = modes(folder)
    assert found
    wrong = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (folder / name).is_dir() else 0o600)
    }
    assert not wrong, f"readable by others: {wrong}"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_an_export_under_umask_022_is_readable_by_this_account_only(
    engine: Engine, c: Clinic, out: Path
) -> None:
    patient, items = standard_patient(c)
    image_set = c.image_set(patient)
    c.add(image_set, "photo", b"not an image at all", "kept.heic")  # copied unchanged
    c.patient()
    lock_modes: list[int] = []
    with umask(0o022):
        job = export_patients(
            engine, Selection.all_patients(), ExportOptions(to=out, jobs=1), ADMIN
        )
        for event in job:
            if not lock_modes and isinstance(event, LogLine):
                lock_modes.append(stat.S_IMODE((out / LOCK_FILE).stat().st_mode))
        assert lock_modes == [0o600]
        assert_private(out)
        folder = out / patient.personnummer
        names = {p.name for p in folder.iterdir()}
        assert {"patient.xml", "manifest.sha256"} <= names
        assert sum(name.endswith(".jp2") for name in names) == 3  # written by glymur
        assert any(name.endswith("-original.heic") for name in names)

        # A folder an earlier export left open to everyone is made private by a rerun,
        # also the files that are skipped because they are already there.
        for path in [*out.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        summary, _ = export(engine, out)
        assert summary.ok and summary.files_skipped == len(items) + 1
        assert_private(out)
    assert verify(out).ok


def png16_grey_alpha(values: np.ndarray) -> bytes:
    """Return 16-bit grey + alpha pixels (height, width, 2) as a PNG (colour type 4)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    height, width, _ = values.shape
    rows = b"".join(b"\0" + values[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def saved(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def three_page_tiff() -> bytes:
    pages = [Image.fromarray(xray8(seed=seed)) for seed in (1, 2, 3)]
    return saved(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def exported_file(document: etree._ElementTree, item: MediaItem) -> tuple[str, str]:
    """Return the exported file's name and conversion of an item patient.xml lists."""
    element = media_element(document, item)
    assert element.get("status") == "exported"
    file = element.find("ib:file", namespaces=NS)
    assert file is not None
    return file.get("name", ""), file.get("conversion", "")


@pytest.mark.backends("sqlite")
def test_originals_that_cannot_be_converted_exactly_are_copied_unchanged(
    engine: Engine, c: Clinic, out: Path
) -> None:
    grey_alpha = np.random.default_rng(5).integers(0, 65536, (9, 11, 2), dtype=np.uint16)
    grey_alpha[0, 0, 0] = 65535 - 1  # a value 8 bits cannot hold
    rgb = Image.fromarray(photo())
    originals = {
        "grey16-alpha.png": png16_grey_alpha(grey_alpha),
        "pages.tif": three_page_tiff(),
        "cmyk.jpg": saved(rgb.convert("CMYK"), "JPEG", quality=95),
        "cmyk.tif": saved(rgb.convert("CMYK"), "TIFF"),
        "lab.tif": saved(rgb.convert("LAB"), "TIFF"),
    }
    # What the review found Pillow makes of them (so the files test what they should).
    with Image.open(io.BytesIO(originals["grey16-alpha.png"])) as opened:
        assert opened.mode == "RGBA"  # 8 bits: converting it would lose the low byte
    with Image.open(io.BytesIO(originals["pages.tif"])) as opened:
        assert opened.n_frames == 3
    patient = c.patient()
    image_set = c.image_set(patient)
    items = {
        name: c.add(image_set, "photo" if "cmyk" in name else "intraoral", data, name)
        for name, data in originals.items()
    }
    control = c.add(image_set, "panoramic", saved(Image.fromarray(xray8()), "PNG"), "p.png")

    summary, log = export(engine, out)

    assert summary.ok and summary.files_copied == len(items) and summary.files_encoded == 1
    folder = out / patient.personnummer
    document = parse(folder / "patient.xml")
    for name, item in items.items():
        file_name, conversion = exported_file(document, item)
        stem = f"{image_set.id}-{item.id}-{item.kind}-original."
        assert file_name == stem + name.rsplit(".", 1)[1], name
        assert conversion == "unchanged", name
        assert (folder / file_name).read_bytes() == originals[name], name
    assert exported_file(document, control)[1] == "lossless"
    warnings = [line.text for line in log if line.level == "warning"]
    assert len(warnings) == len(items)
    assert any("pages.tif has 3 pages or frames" in text for text in warnings)
    assert any("cmyk.jpg is stored in the CMYK colour model" in text for text in warnings)
    assert any("lab.tif is stored in the LAB colour model" in text for text in warnings)
    assert any("grey16-alpha.png has pixels that JPEG 2000 cannot" in text for text in warnings)
    assert [p.suffix for p in folder.iterdir()].count(".jp2") == 1  # the control only
    assert verify(out).ok


@pytest.mark.backends("sqlite")
def test_an_original_pillow_cannot_read_is_copied_unchanged_with_a_plain_warning(
    engine: Engine, c: Clinic, out: Path
) -> None:
    patient = c.patient()
    image_set = c.image_set(patient)
    data = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    item = c.add(image_set, "photo", data, "IMG_0001.HEIC")  # right size and SHA-256

    summary, log = export(engine, out)

    assert summary.ok and summary.files_copied == 1 and not summary.failed
    folder = out / patient.personnummer
    file_name, conversion = exported_file(parse(folder / "patient.xml"), item)
    assert file_name == f"{image_set.id}-{item.id}-photo-original.heic"
    assert conversion == "unchanged"
    assert (folder / file_name).read_bytes() == data
    warnings = [line.text for line in log if line.level == "warning"]
    assert warnings == [
        f"{display(patient.personnummer)}: media {item.id}: "
        "IMG_0001.HEIC cannot be read as an image, so it was copied unchanged."
    ]
    assert not any("BytesIO" in line.text or " at 0x" in line.text for line in log)
    assert verify(out).ok
