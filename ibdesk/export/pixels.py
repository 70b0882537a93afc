"""Pixels in and out: originals decoded with Pillow, JPEG 2000 written and read with glymur.

Lossless means bit-exact: 8- and 16-bit grayscale and 8-bit colour (with or without alpha)
are kept exactly (reversible 5/3 wavelet). An original that cannot be converted so (16-bit
colour or grey with alpha, floating point, CMYK and other colour models, several pages or
frames, a format Pillow cannot read) raises ``KeepOriginal``, so it is copied unchanged
instead of being converted with loss or left out.
"""

from __future__ import annotations

import errno
import io
import warnings
from pathlib import Path

import glymur
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ibdesk.i18n import gettext as _

JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
J2K_SIGNATURE = b"\xff\x4f\xff\x51"
# Target PSNR of "visually lossless" photos: about 45 dB is reached, well above the ~40 dB
# where differences start to be visible.
VISUALLY_LOSSLESS_PSNR = 47
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
# Colour models whose conversion to RGB changes the stored values (premultiplied alpha too).
_OTHER_COLOUR_SPACES = frozenset({"CMYK", "YCbCr", "LAB", "HSV", "RGBa", "La"})


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


class KeepOriginal(Exception):
    """An original that cannot become JPEG 2000 without loss: it is copied unchanged.

    The message is the administrator's warning, one sentence naming the file.
    """


def decode(data: bytes, kind: str, source: Path) -> np.ndarray:
    """Return an original's pixels; raise ``KeepOriginal`` when they cannot be kept exactly.

    Photos are turned upright by their EXIF orientation first; X-rays are kept as stored.
    """
    name = source.name
    try:
        with Image.open(io.BytesIO(data)) as opened:
            frames = getattr(opened, "n_frames", 1)
            if frames > 1:
                # Only the first page or frame would be converted: the others would be lost.
                raise KeepOriginal(
                    _(
                        "%(name)s has %(count)d pages or frames, so it was copied unchanged",
                        name=name,
                        count=frames,
                    )
                )
            opened.load()
            if opened.mode in _OTHER_COLOUR_SPACES:
                raise KeepOriginal(
                    _(
                        "%(name)s is stored in the %(mode)s colour model, which converting "
                        "to JPEG 2000 would change, so it was copied unchanged",
                        name=name,
                        mode=opened.mode,
                    )
                )
            values = None
            if not _deep_colour(opened, data):
                image = ImageOps.exif_transpose(opened) if kind == "photo" else opened
                values = _pixels(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        # The file matches its record: it is the clinic's original, in a format (HEIC, say)
        # or a state Pillow cannot read. Copied as it is, it is still there for the clinic.
        raise KeepOriginal(
            _("%(name)s cannot be read as an image, so it was copied unchanged", name=name)
        ) from error
    if values is None:
        raise KeepOriginal(
            _(
                "%(name)s has pixels that JPEG 2000 cannot keep exactly, so it was copied "
                "unchanged",
                name=name,
            )
        )
    return values


def _deep_colour(image: Image.Image, data: bytes) -> bool:
    # Pillow reads 16-bit colour and 16-bit grey with alpha as 8 bits: converting would lose
    # bits. In a PNG, IHDR (always first) holds the bit depth, then the colour type.
    if image.format == "PNG" and len(data) > 26:
        return data[24] == 16 and data[25] != 0
    if image.format == "TIFF" and image.mode not in _SIXTEEN_BIT and image.mode != "I":
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
    # Each palette entry is an exact colour, so a palette image converts without loss.
    if mode in ("RGBA", "PA") or (mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))
    if mode == "P":
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
