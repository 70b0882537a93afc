"""Keep the catalogue in step with the code: extract, update the Swedish .po, compile the .mo.

    .venv/bin/python scripts/i18n.py           # extract + update + compile
    .venv/bin/python scripts/i18n.py --check   # only report what is untranslated (exit 1)

New messages arrive in ibdesk/translations/sv/LC_MESSAGES/messages.po with an empty
translation; write the Swedish there, then run this again to compile.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRANSLATIONS = REPO / "ibdesk" / "translations"
POT = TRANSLATIONS / "messages.pot"
KEYWORDS = ["-k", "lazy_gettext", "-k", "_l", "-k", "lazy_ngettext:1,2", "-k", "lazy_pgettext:1c,2"]
# Babel skips folders whose names start with "_" unless told which to skip: the macros in
# ibdesk/templates/_macros/ hold messages too.
IGNORE_DIRS = ["--ignore-dirs", ".* __pycache__"]


def pybabel(*args: str) -> None:
    """Run pybabel from this Python's environment."""
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], check=True, cwd=REPO)


def main() -> int:
    """Extract, update and compile; with --check, only list untranslated messages."""
    if "--check" not in sys.argv:
        pybabel(
            "extract",
            "-F",
            "babel.cfg",
            *KEYWORDS,
            *IGNORE_DIRS,
            "--no-location",
            "--sort-output",
            "-o",
            str(POT),
            ".",
        )
        if not (TRANSLATIONS / "sv" / "LC_MESSAGES" / "messages.po").exists():
            pybabel("init", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", "sv")
        pybabel(
            "update",
            "-i",
            str(POT),
            "-d",
            str(TRANSLATIONS),
            "-l",
            "sv",
            "--no-fuzzy-matching",
            "--ignore-obsolete",
        )
        pybabel("compile", "-d", str(TRANSLATIONS), "-l", "sv", "--statistics")
    sys.path.insert(0, str(REPO / "tests"))
    from i18ncheck import untranslated

    missing = untranslated()
    for message in missing:
        print(f"untranslated: {message!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
