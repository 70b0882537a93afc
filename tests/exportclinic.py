"""A small clinic with real media files, shared by the export tests (this module has no tests)."""

from __future__ import annotations

import ctypes
import datetime as dt
import hashlib
import io
import os
import select
import struct
import threading
import wave
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import glymur
import numpy as np
import pytest
from PIL import Image
from sqlalchemy.orm import Session

from factories import make_image_set, make_media, make_patient
from ibdesk import clinic_settings
from ibdesk.models import ImageSet, MediaItem, Patient


def png(pixels: np.ndarray) -> bytes:
    """Return pixels as a PNG (8- or 16-bit grayscale, or RGB)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(pixels: np.ndarray) -> bytes:
    """Return RGB pixels as a JPEG photo."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def wav() -> bytes:
    """Return a short WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * 20)
    return buffer.getvalue()


def jp2(path: Path, pixels: np.ndarray) -> bytes:
    """Write pixels as a JPEG 2000 file with glymur and return its bytes."""
    glymur.Jp2k(path, data=pixels, numres=3)
    return path.read_bytes()


def xray16(height: int = 37, width: int = 53, seed: int = 1) -> np.ndarray:
    """Return a 16-bit X-ray-like image using the whole range (0 and 65535 included)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 65536, (height, width), dtype=np.uint16)
    pixels[0, 0], pixels[-1, -1] = 0, 65535
    return pixels


def xray8(height: int = 29, width: int = 61, seed: int = 2) -> np.ndarray:
    """Return an 8-bit panoramic-like image using the whole range."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width), dtype=np.uint8)
    pixels[0, 0], pixels[-1, -1] = 0, 255
    return pixels


def photo(height: int = 40, width: int = 48, seed: int = 3) -> np.ndarray:
    """Return a smooth colour image (compresses like a photo)."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    rgb = np.stack([120 + 60 * np.sin(x / 7), 80 + 40 * np.cos(y / 5), 90 + 0 * x], axis=-1)
    return np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)


@dataclass
class Clinic:
    """A database with an image folder and helpers to add media with real files."""

    session: Session
    images: Path
    files: dict[int, bytes] = field(default_factory=dict)

    def patient(self, **fields: Any) -> Patient:
        """Make a patient."""
        return make_patient(self.session, **fields)

    def image_set(self, patient: Patient, **fields: Any) -> ImageSet:
        """Make an image set for the patient."""
        return make_image_set(self.session, patient, **fields)

    def add(
        self, image_set: ImageSet, kind: str, data: bytes, name: str, **fields: Any
    ) -> MediaItem:
        """Store a file in the image folder and register it as a media item."""
        relative = f"{image_set.patient_id}/{image_set.id}/{name}"
        target = self.images / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        values: dict[str, Any] = {
            "kind": kind,
            "path": relative,
            "byte_size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "width": None,
            "height": None,
            "bit_depth": None,
            "teeth": "",
            "taken_at": dt.datetime(2026, 3, 4, 9, 30, tzinfo=dt.UTC),
        }
        if kind in ("intraoral", "panoramic", "photo"):
            values.update(width=10, height=10, bit_depth=8)
        values.update(fields)
        item = make_media(self.session, image_set, **values)
        self.files[item.id] = data
        return item

    def source(self, item: MediaItem) -> Path:
        """Return the media item's file in the image folder."""
        return self.images / item.path


def clinic(session: Session, tmp_path: Path) -> Clinic:
    """Return an empty clinic whose image folder setting points into tmp_path."""
    images = tmp_path / "images"
    images.mkdir()
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(images))
    session.commit()
    return Clinic(session, images)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """Return an empty export folder."""
    folder = tmp_path / "export"
    folder.mkdir()
    return folder


@pytest.fixture
def c(session: Session, tmp_path: Path) -> Clinic:
    """Return the standard test clinic with its image folder."""
    return clinic(session, tmp_path)


def standard_patient(c: Clinic, **fields: Any) -> tuple[Patient, dict[str, MediaItem]]:
    """Make a patient with one of every kind of media (16- and 8-bit X-rays, photo, ...)."""
    patient = c.patient(**fields)
    first = c.image_set(patient, description="Helstatus")
    second = c.image_set(patient, description="Kontroll", taken_on=dt.date(2026, 4, 1))
    items = {
        "intraoral": c.add(first, "intraoral", png(xray16()), "a.png", teeth="11,21", bit_depth=16),
        "panoramic": c.add(first, "panoramic", png(xray8()), "b.png"),
        "photo": c.add(second, "photo", jpeg(photo()), "c.jpg", comment="Före behandling"),
        "audio": c.add(second, "audio", wav(), "d.wav"),
        "document": c.add(second, "document", b"%PDF-1.4\n%minimal\n", "e.pdf"),
    }
    return patient, items


# Hold the next open of one regular file until the test lets it go (Linux fanotify).
#
# A ``FAN_OPEN_PERM`` mark on the file's inode makes the kernel ask this listener before any
# process opens it; the opener waits inside ``open()`` (``O_NONBLOCK`` or not) until the
# listener answers. The file stays what it is, a regular file in its folder, so code that
# refuses pipes and links reads it as it reads any other. The first open is held and its
# process id noted; later opens are allowed at once. Needs CAP_SYS_ADMIN (the tests run as
# root).
_FAN_CLOEXEC = 0x1
_FAN_NONBLOCK = 0x2
_FAN_CLASS_CONTENT = 0x4
_FAN_MARK_ADD = 0x1
_FAN_OPEN_PERM = 0x10000
_FAN_ALLOW = 0x1
_AT_FDCWD = -100
_METADATA_VERSION = 3
_EVENT = struct.Struct("IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid
_RESPONSE = struct.Struct("iI")  # fd, response


class OpenHold:
    """``with OpenHold(path) as hold:`` the first process to open ``path`` waits in open()."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.opener: int | None = None
        self._opened = threading.Event()
        self._released = threading.Event()
        self._fd = -1
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    def __enter__(self) -> OpenHold:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
        libc.fanotify_mark.argtypes = [
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint64,
            ctypes.c_int,
            ctypes.c_char_p,
        ]
        fd = libc.fanotify_init(
            _FAN_CLASS_CONTENT | _FAN_CLOEXEC | _FAN_NONBLOCK, os.O_RDONLY | os.O_CLOEXEC
        )
        if fd < 0:
            code = ctypes.get_errno()
            problem = os.strerror(code)
            raise OSError(code, f"fanotify cannot hold {self.path} (needs root): {problem}")
        self._fd = fd
        if libc.fanotify_mark(fd, _FAN_MARK_ADD, _FAN_OPEN_PERM, _AT_FDCWD, bytes(self.path)) < 0:
            code = ctypes.get_errno()
            os.close(fd)
            raise OSError(code, f"fanotify cannot mark {self.path}: {os.strerror(code)}")
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._listen, name="open-hold", daemon=True)
        self._thread.start()
        return self

    def wait_opened(self, timeout: float) -> int:
        """Wait until a process is held in open(); return its process id."""
        assert self._opened.wait(timeout), f"no process opened {self.path}"
        assert self.opener is not None
        return self.opener

    def release(self) -> None:
        """Let the held open (and every later one) go on."""
        self._released.set()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join()
        # Closing the group answers any open still waiting with "allow".
        for fd in (self._fd, self._wake_r, self._wake_w):
            os.close(fd)

    def _listen(self) -> None:
        while True:
            ready, _, _ = select.select([self._fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                buffer = os.read(self._fd, 4096)
            except BlockingIOError:
                continue
            offset = 0
            while offset + _EVENT.size <= len(buffer):
                length, version, _, _, mask, event_fd, pid = _EVENT.unpack_from(buffer, offset)
                assert version == _METADATA_VERSION, version
                offset += length
                if event_fd < 0:
                    continue
                if mask & _FAN_OPEN_PERM and not self._opened.is_set():
                    self.opener = pid
                    self._opened.set()
                    self._released.wait()
                try:
                    os.write(self._fd, _RESPONSE.pack(event_fd, _FAN_ALLOW))
                finally:
                    os.close(event_fd)
