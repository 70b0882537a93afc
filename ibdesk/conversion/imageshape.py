"""An image's width, height and bit depth, as step 3 records them for each placed file.

An ordinary BMP is read from its header, in the bytes already read for its hash;
anything else is opened with Pillow.
"""

from __future__ import annotations

import struct
from pathlib import Path

from PIL import Image

from ibdesk import safefiles

# What Pillow can raise reading an image's header (as the thumbnails catch it): a damaged
# file, one it does not know, or one that claims more pixels than is sane (a "bomb").
SHAPE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    Image.DecompressionBombError,
    safefiles.FileProblem,
)
_BITS = {"1": 1, "L": 8, "P": 8, "RGB": 8, "RGBA": 8, "I;16": 16, "I;16B": 16, "I": 32}


def _bmp_shape(head: bytes) -> tuple[int, int, int] | None:
    """Read an ordinary BMP's size from its header (what PIL reads), or None to ask PIL."""
    if len(head) < 54 or head[:2] != b"BM":
        return None
    offset, header = struct.unpack_from("<II", head, 10)
    width, height, planes, depth, compression = struct.unpack_from("<iiHHI", head, 18)
    colors = struct.unpack_from("<I", head, 46)[0] or (1 << depth if depth <= 8 else 0)
    if (
        header not in (40, 52, 56, 64, 108, 124)
        or planes != 1
        or depth not in (4, 8, 24, 32)
        or compression != 0
        or width <= 0
        or height in (0, -(2**31))
        or (depth <= 8 and not 0 < colors <= 65536)
        or len(head) < max(offset, 14 + header + 4 * colors)
    ):
        return None
    return width, abs(height), 8  # 4- and 8-bit are P or L, 24 and 32 RGB(A): 8 bits


def image_shape(head: bytes, folder: Path, path: str) -> tuple[int, int, int]:
    """Return width, height and bit depth, from the bytes already read where possible."""
    shape = _bmp_shape(head)
    if shape is not None:
        return shape
    # The placed file, opened as any media file is: never through a link planted since.
    with safefiles.open_file(folder, path) as handle, Image.open(handle) as img:
        width, height = img.size
        return width, height, _BITS.get(img.mode, 8)
