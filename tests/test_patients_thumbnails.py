"""Thumbnails from real files: windowed 16-bit X-rays, colour photos, icons, placeholders,
the disk cache, the bounded wait, and paths that try to leave the image folder."""

from __future__ import annotations

import hashlib
import io
import random
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy.orm import Session

from ibdesk.demo import content as demo_content
from ibdesk.patients import thumbnails
from ibdesk.patients.thumbnails import MediaSource, Thumbnailer

SHA = "ab" * 32


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _source(folder: Path, name: str, kind: str = "intraoral", sha: str = "") -> MediaSource:
    # The row records the file as it is (thumbnails are made only of files that match it).
    file = folder / name
    if not sha:
        sha = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else SHA
    return MediaSource(1, kind, name, sha, str(folder))


def _pixels(thumb: thumbnails.Thumbnail) -> np.ndarray:
    assert thumb.state == "ready" and thumb.path is not None, thumb
    with Image.open(thumb.path) as image:
        assert image.format == "JPEG" and max(image.size) == thumbnails.SIZE
        return np.asarray(image)


def test_a_16_bit_xray_is_windowed_to_its_own_range(tmp_path: Path) -> None:
    made = demo_content.xray_png(random.Random(3), panoramic=False)
    assert made.bit_depth == 16  # 12 bits used in a 16-bit PNG, as X-ray sensors write them
    _write(tmp_path, "x/röntgen 1.png", made.data)
    with Image.open(tmp_path / "x/röntgen 1.png") as original:
        assert original.mode == "I;16"
        naive = np.asarray(original.convert("L"))
    pixels = _pixels(Thumbnailer().thumbnail(_source(tmp_path, "x/röntgen 1.png")))
    assert pixels.ndim == 2  # stays grayscale
    # A plain conversion clips most of the picture to white; windowed, the full 8-bit
    # range is used and the picture is mostly not white.
    assert np.median(naive) == 255
    assert pixels.min() <= 10 and pixels.max() >= 245
    assert np.median(pixels) < 160


def test_a_colour_photo_keeps_its_colours(tmp_path: Path) -> None:
    _write(tmp_path, "foto.jpg", demo_content.photo_jpeg(random.Random(4)).data)
    pixels = _pixels(Thumbnailer().thumbnail(_source(tmp_path, "foto.jpg", "photo")))
    assert pixels.shape == (144, 192, 3)
    red, green = pixels[..., 0].mean(), pixels[..., 1].mean()
    assert red > green + 40  # gums are red, as in the file


def test_the_cache_is_keyed_by_hash_and_size_and_reused(tmp_path: Path) -> None:
    _write(tmp_path, "a.png", demo_content.xray_png(random.Random(5), panoramic=True).data)
    calls: list[Path] = []

    def counting(source: Path, target: Path, size: int) -> None:
        calls.append(source)
        thumbnails.make(source, target, size)

    maker = Thumbnailer(maker=counting)
    first = maker.thumbnail(_source(tmp_path, "a.png", "panoramic"))
    sha = _source(tmp_path, "a.png").sha256
    assert first.path == thumbnails.cache_dir() / sha[:2] / f"{sha}-{thumbnails.SIZE}.jpg"
    assert first.path.is_file()
    again = maker.thumbnail(_source(tmp_path, "a.png", "panoramic"))
    assert again.path == first.path and len(calls) == 1
    smaller = maker.thumbnail(_source(tmp_path, "a.png", "panoramic"), size=64)
    assert smaller.path is not None and smaller.path.name.endswith("-64.jpg") and len(calls) == 2
    # A hash that is not 64 hex digits still gives a file inside the cache, never a path.
    odd = thumbnails.cache_path("../../etc/passwd")
    assert odd.parent.parent == thumbnails.cache_dir() and ".." not in odd.name


@pytest.mark.parametrize(
    ("kind", "label"), [("document", b"Document"), ("audio", b"Sound"), ("video", b"Video")]
)
def test_media_without_pixels_get_their_kind_icon(tmp_path: Path, kind: str, label: bytes) -> None:
    _write(tmp_path, "remiss.pdf", demo_content.pdf_document(random.Random(6), "Remiss").data)
    thumb = Thumbnailer().thumbnail(_source(tmp_path, "remiss.pdf", kind))
    assert (thumb.state, thumb.mimetype) == ("icon", "image/svg+xml")
    assert label in thumb.body and b"<svg" in thumb.body
    assert not thumbnails.cache_dir().exists()  # nothing decoded, nothing cached


def test_missing_and_unreadable_files_get_placeholders(tmp_path: Path) -> None:
    maker = Thumbnailer()
    missing = maker.thumbnail(_source(tmp_path, "borta.png"))
    assert missing.state == "missing" and b"File missing" in missing.body
    _write(tmp_path, "trasig.png", b"\x89PNG\r\n\x1a\n not really a picture")
    broken = maker.thumbnail(_source(tmp_path, "trasig.png"))
    assert broken.state == "unreadable" and b"Cannot be shown" in broken.body
    no_folder = maker.thumbnail(MediaSource(1, "photo", "a.jpg", SHA, None))
    assert no_folder.state == "unreadable"


def test_paths_outside_the_image_folder_are_never_read(tmp_path: Path) -> None:
    folder = tmp_path / "bilder"
    folder.mkdir()
    secret = _write(tmp_path, "hemlig.png", _png_bytes())
    (folder / "länk.png").symlink_to(secret)
    read: list[Path] = []
    maker = Thumbnailer(maker=lambda source, target, size: read.append(source))
    for path in ("../hemlig.png", str(secret), "länk.png", "a/../../hemlig.png", "", "."):
        assert thumbnails.resolve_in_folder(str(folder), path) is None, path
        assert maker.thumbnail(_source(folder, path)).state == "unreadable", path
    assert read == []
    inside = _write(folder, "a/b.png", _png_bytes())
    assert thumbnails.resolve_in_folder(str(folder), "a/../a/b.png") == inside.resolve()


def test_a_slow_thumbnail_answers_pending_and_is_ready_later(tmp_path: Path) -> None:
    _write(tmp_path, "stor.png", _png_bytes())
    release = threading.Event()
    started = threading.Event()

    def slow(source: Path, target: Path, size: int) -> None:
        started.set()
        release.wait(120)
        thumbnails.make(source, target, size)

    maker = Thumbnailer(maker=slow)
    pending = maker.thumbnail(_source(tmp_path, "stor.png"), timeout=0.05)
    assert pending.state == "pending" and b"Preparing" in pending.body
    assert started.wait(120)
    release.set()
    assert maker.thumbnail(_source(tmp_path, "stor.png"), timeout=120).state == "ready"


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (40, 30), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_row_s_size_is_checked_before_a_file_is_read(session: Session, tmp_path: Path) -> None:
    from factories import make_media
    from ibdesk import clinic_settings

    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path))
    data = _png_bytes()
    _write(tmp_path, "p/1.png", data + b"\0" * 4096)  # grown past what its row records
    item = make_media(
        session, path="p/1.png", byte_size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    source = thumbnails.media_source(session, item.id)
    assert source.byte_size == len(data)
    decoded: list[object] = []
    maker = Thumbnailer(maker=lambda source, target, size: decoded.append(source))
    assert maker.thumbnail(source).state == "unreadable" and decoded == []
