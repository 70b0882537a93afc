"""Which user-facing messages the code has, and which of them the Swedish catalogue lacks.

Shared by tests/test_i18n.py and scripts/i18n.py: extraction runs babel's own extractors
over ibdesk/ with the mapping of babel.cfg and the keywords below.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parent.parent
SV_PO = REPO / "ibdesk" / "translations" / "sv" / "LC_MESSAGES" / "messages.po"
SV_MO = SV_PO.with_suffix(".mo")
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "lazy_gettext": None,
    "_l": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}


def scanned(folder: str) -> bool:
    """Return whether extraction looks into a folder (babel alone skips "_macros" too)."""
    name = os.path.basename(folder)
    return not name.startswith(".") and name != "__pycache__"


def extracted() -> dict[tuple[str, str | None], str]:
    """Return every message of ibdesk/ as (msgid, context) -> the place it was found."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    if str(REPO) not in sys.path:  # babel.cfg names scripts/clihelp.py's extractor
        sys.path.insert(0, str(REPO))
    found: dict[tuple[str, str | None], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(REPO), method_map, options_map, keywords=KEYWORDS, directory_filter=scanned
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((msgid, context), f"{filename}:{lineno}")
    return found


def swedish() -> Catalog:
    """Read the Swedish catalogue."""
    with SV_PO.open("rb") as fh:
        return read_po(fh, locale="sv")


def untranslated() -> list[str]:
    """List every extracted message without a finished Swedish translation."""
    catalog = swedish()
    missing = []
    for (msgid, context), where in sorted(extracted().items(), key=lambda item: item[1]):
        entry = catalog.get(msgid, context=context)
        strings = entry.string if entry is not None else ""
        done = all(strings) if isinstance(strings, tuple) else bool(strings)
        if entry is None or not done or entry.fuzzy:
            missing.append(f"{where}: {msgid}")
    return missing
