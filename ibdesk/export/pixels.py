"""Pixels in and out: originals decoded with Pillow, JPEG 2000 written and read with glymur.

Lossless means bit-exact: 8- and 16-bit grayscale and 8-bit colour (with or without alpha)
are kept exactly (reversible 5/3 wavelet). An image whose pixels Pillow cannot hand over
exactly (16-bit colour, floating point) is reported as such, so it can be copied unchanged
instead of being converted with loss.
"""

from __future__ import annotations

import errno
import io
import warnings
from pathlib import Path

import glymur
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ibdesk.export.files import ItemProblem
from ibdesk.i18n import gettext as _

JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
J2K_SIGNATURE = b"\xff\x4f\xff\x51"
# Target PSNR of "visually lossless" photos: about 45 dB is reached, well above the ~40 dB
# where differences start to be visible.
VISUALLY_LOSSLESS_PSNR = 47
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_COLOUR_ALPHA = frozenset({"RGBA", "RGBa", "PA"})


def set_threads(count: int) -> None:
    """Let OpenJPEG use ``count`` threads for each image it encodes."""
    glymur.set_option("lib.num_threads", max(1, count))


def is_jpeg2000(data: bytes) -> str:
    """Return "jp2" or "j2k" when the bytes are a JPEG 2000 file or codestream, else ""."""
    if data.startswith(JP2_SIGNATURE):
        return "jp2"
    if data.startswith(J2K_SIGNATURE):
        return "j2k"
    return ""


def is_dicom(data: bytes) -> bool:
    """Return whether the bytes are a DICOM file (preamble, then "DICM")."""
    return len(data) > 132 and data[128:132] == b"DICM"


def decode(data: bytes, kind: str, source: Path) -> np.ndarray | None:
    """Return an original's pixels, or None when they cannot be kept exactly in JPEG 2000.

    Photos are turned upright by their EXIF orientation first; X-rays are kept as stored.
    """
    what = "a photo" if kind == "photo" else "an X-ray"
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            if _deep_colour(opened, data):
                return None
            image = ImageOps.exif_transpose(opened) if kind == "photo" else opened
            return _pixels(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ItemProblem(
            _(
                "%(name)s is filed as %(what)s but is not an image that can be read (%(error)s)",
                name=source.name,
                what=what,
                error=error,
            )
        ) from error


def _deep_colour(image: Image.Image, data: bytes) -> bool:
    # Pillow reads 16-bit colour as 8-bit RGB: converting that would lose bits.
    if image.format == "PNG" and len(data) > 26:
        return data[24] == 16 and data[25] in (2, 6)
    if image.format == "TIFF" and image.mode in ("RGB", "RGBA"):
        bits = getattr(image, "tag_v2", {}).get(258, (8,))
        return any(int(b) > 8 for b in (bits if isinstance(bits, tuple) else (bits,)))
    return False


def _pixels(image: Image.Image) -> np.ndarray | None:
    mode = image.mode
    if mode in ("L", "RGB", "LA"):
        return np.asarray(image)
    if mode in _SIXTEEN_BIT:
        return np.asarray(image).astype(np.uint16)
    if mode == "I":
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 0xFFFF):
            return None
        return values.astype(np.uint16)
    if mode == "1":
        return np.asarray(image.convert("L"))
    if mode in _COLOUR_ALPHA or (mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))
    if mode in ("P", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(image.convert("RGB"))
    return None


def encode_jp2(path: Path, pixels: np.ndarray, *, lossy: bool) -> None:
    """Write pixels as a JP2 file: lossless, or visually lossless when ``lossy``."""
    height, width = pixels.shape[:2]
    # OpenJPEG needs 2^(levels-1) <= the smaller side: tiny images get fewer levels.
    options: dict[str, object] = {"numres": max(1, min(6, min(height, width).bit_length()))}
    if lossy:
        options.update(irreversible=True, psnr=(VISUALLY_LOSSLESS_PSNR,))
    try:
        glymur.Jp2k(path, data=pixels, **options)
    except OSError:
        raise
    except Exception as error:
        # OpenJPEG reports a failed write (a full disk, a vanished share) as a library error.
        raise OSError(
            errno.EIO, _("OpenJPEG could not write the file (%(error)s)", error=error)
        ) from error


def jpeg2000_problem(path: Path) -> str:
    """Decode a JPEG 2000 file completely; return what is wrong with it, or ''."""
    with warnings.catch_warnings(record=True) as caught:
        # glymur warns (rather than raises) about damaged boxes; here that means damage.
        warnings.simplefilter("always")
        try:
            glymur.Jp2k(path)[:]
        except Exception as error:
            return str(error) or type(error).__name__
    return str(caught[0].message) if caught else ""


def jp2_geometry(path: Path) -> tuple[int, int, int, int] | None:
    """Return (width, height, components, bit depth) from a JPEG 2000 file's header."""
    with warnings.catch_warnings(record=True):
        # Only the header is wanted; a damaged file simply has no geometry.
        warnings.simplefilter("always")
        try:
            jp2 = glymur.Jp2k(path)
            shape = jp2.shape
            bits = jp2.codestream.segment[1].bitdepth[0]
        except Exception:
            return None
    components = shape[2] if len(shape) == 3 else 1
    return int(shape[1]), int(shape[0]), int(components), int(bits)
