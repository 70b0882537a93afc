"""What a media row may hold: its kind, its teeth, its path and its values.

Workstations (``ibdesk.clients``), the export (a path read from the database) and the
converter (teeth typed in ImageBank 1.2) check with the same rules.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from typing import Any

from ibdesk import limits
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.models import MediaKind

MEDIA_COMMENT_MAX = 4000  # a media comment: a few paragraphs at the most
# FDI two-digit notation: permanent teeth 11-48, primary teeth 51-85.
VALID_TEETH = frozenset(f"{q}{t}" for q in (1, 2, 3, 4) for t in range(1, 9)) | frozenset(
    f"{q}{t}" for q in (5, 6, 7, 8) for t in range(1, 6)
)


def teeth(given: str | list[str] | tuple[str, ...]) -> str:
    """Return teeth in FDI notation as stored ("11,21"), or say which one is not a tooth."""
    items = given.replace(";", ",").split(",") if isinstance(given, str) else list(given)
    cleaned = [t.strip() for t in items if str(t).strip()]
    wrong = [t for t in cleaned if t not in VALID_TEETH]
    if wrong:
        raise UserError(
            _(
                "%(wrong)s is not a tooth in FDI notation (11-48, primary teeth 51-85).",
                wrong=", ".join(wrong),
            )
        )
    return ",".join(sorted(set(cleaned), key=int))


def kind(given: str) -> str:
    """Return a media kind's stored value, or say which kinds there are."""
    try:
        return MediaKind(given).value
    except ValueError:
        names = ", ".join(k.value for k in MediaKind)
        raise UserError(
            _("'%(kind)s' is not a media kind; use one of %(names)s.", kind=given, names=names)
        ) from None


def relative_path(path: str) -> str:
    """Return a media path relative to the image folder, refusing one that escapes it."""
    cleaned = path.replace("\\", "/").strip()
    normal = posixpath.normpath(cleaned) if cleaned else ""
    if (
        not normal
        or normal.startswith("/")
        or normal == "."
        or normal.startswith("../")
        or normal == ".."
        or re.match(r"^[A-Za-z]:", normal)
    ):
        raise UserError(
            _(
                "'%(path)s' is not a path inside the image folder; give it "
                "relative to that folder.",
                path=path,
            )
        )
    if len(normal) > 400:
        raise UserError(_("A media path may be at most 400 characters."))
    return normal


def values(media_kind: str, fields: dict[str, Any], comment: object) -> None:
    """Refuse a media item's values that the database or the workstations cannot use."""
    for key, word in (
        ("width", _("width")),
        ("height", _("height")),
        ("bit_depth", _("bit depth")),
    ):
        value = fields.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31
        ):
            raise UserError(_("The %(field)s must be a whole number above 0.", field=word))
    taken = fields.get("taken_at")
    if taken is not None and not isinstance(taken, dt.datetime):
        raise UserError(_("The time taken must be a date and time."))
    if not isinstance(comment, str) or len(comment) > MEDIA_COMMENT_MAX:
        raise UserError(
            _("A comment is text of at most %(maximum)s characters.", maximum=MEDIA_COMMENT_MAX)
        )
    limits.check_plain(comment, _("comment"))
    if MediaKind(media_kind).is_image and not (
        fields.get("width") and fields.get("height") and fields.get("bit_depth")
    ):
        raise UserError(_("An image needs its width, height and bit depth."))
