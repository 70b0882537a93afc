"""The media kinds of a demo clinic: how often each is drawn, its sizes, file ending, pixels."""

from __future__ import annotations

from dataclasses import dataclass

from ibdesk.models import MediaKind

KIND_WEIGHTS = {
    MediaKind.INTRAORAL: 55,
    MediaKind.PANORAMIC: 10,
    MediaKind.PHOTO: 25,
    MediaKind.VIDEO: 3,
    MediaKind.AUDIO: 3,
    MediaKind.DOCUMENT: 4,
}
# Kinds the demo can make real files for (it has no video encoder).
FILE_KINDS = (
    MediaKind.INTRAORAL,
    MediaKind.PANORAMIC,
    MediaKind.PHOTO,
    MediaKind.AUDIO,
    MediaKind.DOCUMENT,
)
SIZES = {
    MediaKind.INTRAORAL: (2_000_000, 4_000_000),
    MediaKind.PANORAMIC: (5_000_000, 9_000_000),
    MediaKind.PHOTO: (1_500_000, 5_000_000),
    MediaKind.VIDEO: (20_000_000, 90_000_000),
    MediaKind.AUDIO: (100_000, 900_000),
    MediaKind.DOCUMENT: (50_000, 400_000),
}
EXT = {
    MediaKind.INTRAORAL: "png",
    MediaKind.PANORAMIC: "png",
    MediaKind.PHOTO: "jpg",
    MediaKind.VIDEO: "mp4",
    MediaKind.AUDIO: "wav",
    MediaKind.DOCUMENT: "pdf",
}

PIXELS = {
    MediaKind.INTRAORAL: (1600, 1200, 16),
    MediaKind.PANORAMIC: (2900, 1400, 16),
    MediaKind.PHOTO: (4000, 3000, 8),
}


@dataclass(frozen=True)
class KindRow:
    """What a media row of one kind takes from its kind, looked up once per chunk."""

    kind: MediaKind
    value: str
    ext: str
    low: int
    span: int
    span_bits: int
    width: int | None
    height: int | None
    bits: int | None
    intraoral: bool

    @classmethod
    def of(cls, kind: MediaKind) -> KindRow:
        """Return the row parts of ``kind``."""
        low, high = SIZES[kind]
        width, height, bits = PIXELS.get(kind, (None, None, None))
        intraoral = kind is MediaKind.INTRAORAL
        span = high - low + 1
        ext = EXT[kind]
        return cls(
            kind, kind.value, ext, low, span, span.bit_length(), width, height, bits, intraoral
        )
