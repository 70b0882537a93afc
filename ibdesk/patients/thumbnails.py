"""Thumbnails of media files: made from the files in the image folder, cached on disk.

A thumbnail is made once per file content and size and kept under
``<data dir>/thumbnails/<sha256[:2]>/<sha256>-<size>.jpg``, keyed by the media item's
SHA-256, so a file that moves keeps its thumbnail and one that changes gets a new one.
Making one runs on a daemon thread (at most ``WORKERS`` at a time, one per cache key); a
caller waits a bounded time and otherwise gets a "being prepared" picture, while the
thumbnail goes on being made for the next time. X-rays stored as 16-bit grayscale are
windowed to the range their pixels actually use, then scaled to 8 bits (a plain conversion
would clip them to white). Sound, video and documents get an icon of their kind; a file that
is missing, unreadable or outside the image folder gets a placeholder, never an error.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, config, display, private, safefiles
from ibdesk.errors import NotFound
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import MediaItem, MediaKind

logger = logging.getLogger(__name__)
SIZE = 192  # the longest side, in pixels
WORKERS = 2
TIMEOUT_S = 8.0
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Low and high percentiles of the pixel values that become black and white: a few
# saturated or dead pixels must not flatten the contrast of the whole picture.
WINDOW = (0.5, 99.5)


@dataclass(frozen=True)
class MediaSource:
    """What is needed to make a media item's thumbnail, read from the database."""

    media_id: int
    kind: str
    path: str
    sha256: str
    image_folder: str | None
    byte_size: int | None = None


@dataclass(frozen=True)
class Thumbnail:
    """A picture to show for a media item: a cached JPEG file or an SVG icon.

    ``state`` is ``ready`` (a thumbnail of the file), ``icon`` (a kind without pixels),
    ``pending`` (still being made), ``missing`` (no such file in the image folder) or
    ``unreadable`` (not a picture, damaged, or a path outside the image folder).
    """

    state: str
    mimetype: str
    path: Path | None = None
    body: bytes = b""


def media_source(session: Session, media_id: int) -> MediaSource:
    """Return the kind, path and hash of a media item, or say it does not exist."""
    row = session.execute(
        select(MediaItem.kind, MediaItem.path, MediaItem.sha256, MediaItem.byte_size).where(
            MediaItem.id == media_id
        )
    ).first()
    if row is None:
        raise NotFound(_("Media item %(media_id)s does not exist.", media_id=media_id))
    folder = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    return MediaSource(media_id, row[0], row[1], row[2], folder, row[3])


def cache_dir() -> Path:
    """Return the folder where thumbnails are kept."""
    return config.data_dir() / "thumbnails"


def cache_path(sha256: str, size: int = SIZE) -> Path:
    """Return where the thumbnail of a file with this SHA-256 is kept (always in cache_dir)."""
    key = sha256.lower()
    if not _HEX64.fullmatch(key):
        # A hash the program did not write: still a stable key, never a path of its own.
        key = hashlib.sha256(sha256.encode()).hexdigest()
    return cache_dir() / key[:2] / f"{key}-{size}.jpg"


def forget(hashes: set[str]) -> int:
    """Remove every kept thumbnail and view of files with these SHA-256s; return how many."""
    removed = 0
    for sha256 in hashes:
        kept = cache_path(sha256)
        for path in kept.parent.glob(kept.name.replace(f"-{SIZE}.jpg", "-*.jpg")):
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def resolve_in_folder(folder: str | None, relative: str) -> Path | None:
    """Return the file a media path names inside the image folder, or None if it is outside.

    Absolute paths, ``..`` and symbolic links that lead out of the folder all give None.
    """
    if not folder or not relative:
        return None
    root = Path(folder).resolve()
    candidate = (root / relative).resolve()
    return candidate if candidate.is_relative_to(root) and candidate != root else None


def _window_to_8bit(image: Image.Image, size: int) -> Image.Image:
    """Scale a 16-bit (or 32-bit) grayscale image down, then window it to 8 bits."""
    small = Image.fromarray(np.asarray(image, dtype=np.float32), "F")
    small.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    pixels = np.asarray(small, dtype=np.float32)
    low, high = np.percentile(pixels, WINDOW)
    if high <= low:
        return Image.new("L", small.size, 0 if high <= 0 else 255)
    scaled = np.clip((pixels - low) * (255.0 / (high - low)), 0, 255)
    return Image.fromarray(scaled.round().astype(np.uint8), "L")


def render(source: Path | BinaryIO, size: int = SIZE) -> Image.Image:
    """Make the thumbnail image of a picture file (raises OSError or ValueError if unreadable)."""
    with warnings.catch_warnings():
        # Large but sane X-rays trip Pillow's bomb warning; its hard limit (an error) stays.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(source) as opened:
            if opened.format == "JPEG":
                opened.draft("RGB", (size * 2, size * 2))  # decode at a fraction of the size
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("P", "PA"):
                image = image.convert("RGBA")  # keeps a palette's transparency right
            if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
                return _window_to_8bit(image, size)
            picture = image.convert("L" if image.mode in ("1", "L", "LA") else "RGB")
            picture.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
            return picture


def make(source: Path | BinaryIO, target: Path, size: int = SIZE) -> None:
    """Write the thumbnail of ``source`` to ``target`` atomically (readers never see half)."""
    picture = render(source, size)
    private.make_folder(target.parent)
    tmp = target.with_name(f".{target.name}.{threading.get_ident()}.part")
    try:
        picture.save(tmp, format="JPEG", quality=85, optimize=True)
        private.restrict(tmp)  # a picture of patient data
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# Line drawings centred on (96, 60): a page, a loudspeaker, a film, a warning, a clock.
_GLYPHS = {
    "document": "M80 34h24l12 12v42H80z M104 34v12h12 M86 56h24 M86 64h24 M86 72h16",
    "audio": "M78 52h10l14-12v40l-14-12H78z M108 50q6 10 0 20 M114 44q12 16 0 32",
    "video": "M74 40h44v40H74z M90 50v20l16-10z",
    "problem": "M96 36l24 44H72z M96 50v14 M96 70v3",
    "pending": "M96 38a22 22 0 1 0 .01 0z M96 46v14l9 6",
}
_ICONS = {
    MediaKind.VIDEO.value: (display.MEDIA_KINDS["video"], "video"),
    MediaKind.AUDIO.value: (display.MEDIA_KINDS["audio"], "audio"),
    MediaKind.DOCUMENT.value: (display.MEDIA_KINDS["document"], "document"),
}
_STATES = {
    "pending": (_l("Preparing…"), "pending", "#5b6b73"),
    "missing": (_l("File missing"), "problem", "#a11d1d"),
    "unreadable": (_l("Cannot be shown"), "problem", "#a11d1d"),
}


def icon(label: str, glyph: str = "document", colour: str = "#0f4c5c") -> bytes:
    """Return a small SVG tile with a drawing and a label, for media without a picture."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="192" height="144" viewBox="0 0 192 144">'
        '<rect width="192" height="144" fill="#f4f6f7"/>'
        f'<path d="{_GLYPHS[glyph]}" fill="none" stroke="{colour}" stroke-width="3" '
        'stroke-linecap="round" stroke-linejoin="round"/>'
        '<text x="96" y="114" font-family="DejaVu Sans, Segoe UI, Arial, sans-serif" '
        f'font-size="15" text-anchor="middle" fill="{colour}">{escape(label)}</text></svg>'
    ).encode()


def placeholder(state: str) -> Thumbnail:
    """Return the picture shown while a thumbnail is made or when it cannot be made."""
    label, glyph, colour = _STATES[state]
    return Thumbnail(state, "image/svg+xml", body=icon(label, glyph, colour))


class Thumbnailer:
    """Makes thumbnails on daemon threads, one per cache key, at most ``workers`` at once."""

    def __init__(
        self, *, workers: int = WORKERS, maker: Callable[[BinaryIO, Path, int], None] = make
    ) -> None:
        """Allow ``workers`` thumbnails to be made at once, each with ``maker``."""
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._in_flight: dict[Path, threading.Event] = {}
        self._maker = maker

    def thumbnail(
        self, source: MediaSource, *, size: int = SIZE, timeout: float = TIMEOUT_S
    ) -> Thumbnail:
        """Return the media item's thumbnail, making it first (waiting at most ``timeout``)."""
        kind_icon = _ICONS.get(source.kind)
        if kind_icon is not None:
            return Thumbnail("icon", "image/svg+xml", body=icon(*kind_icon))
        file = resolve_in_folder(source.image_folder, source.path)
        if file is None:
            return placeholder("unreadable")
        if not file.is_file():
            return placeholder("missing")
        target = cache_path(source.sha256, size)
        if target.is_file():
            return Thumbnail("ready", "image/jpeg", path=target)
        done = self._start(source, target, size)
        if not done.wait(timeout):
            return placeholder("pending")
        if target.is_file():
            return Thumbnail("ready", "image/jpeg", path=target)
        return placeholder("unreadable")

    def _start(self, source: MediaSource, target: Path, size: int) -> threading.Event:
        with self._lock:
            done = self._in_flight.get(target)
            if done is not None:
                return done
            done = threading.Event()
            self._in_flight[target] = done
        worker = threading.Thread(
            target=self._run, args=(source, target, size, done), name="ibdesk-thumb", daemon=True
        )
        worker.start()
        return done

    def _run(self, source: MediaSource, target: Path, size: int, done: threading.Event) -> None:
        file = source.path
        try:
            with self._slots:
                # Only the file the row records, opened without following links, is decoded.
                data = safefiles.read_verified(
                    source.image_folder or "",
                    source.path,
                    size=source.byte_size,
                    sha256=source.sha256,
                )
                self._maker(io.BytesIO(data), target, size)
        except safefiles.FileProblem as problem:
            logger.info("No thumbnail for %s: %s", file, problem)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as error:
            # Shown as "Cannot be shown"; the next request tries again.
            logger.info("No thumbnail for %s: %s", file, error)
        except Exception:  # a damaged file can trip any decoder; never kill the thread loudly
            logger.exception("Making the thumbnail of %s failed", file)
        finally:
            with self._lock:
                del self._in_flight[target]
            done.set()
