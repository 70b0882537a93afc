"""Every tab in both languages in real Chromium: a screenshot each, and no English left over.

The Swedish page may show no English message of the catalogue whose Swedish differs (one-
and two-word strings that read the same in both languages are not differences; names and
the clinic's data are not in the catalogue). Each screenshot must hold more than one colour.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import i18ncheck
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from ibdesk import tabs
from webfixtures import Served

pytestmark = pytest.mark.browser
WAIT_MS = 30_000
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def english_pieces() -> list[str]:
    """Return the English texts of the catalogue that Swedish words differently.

    A message with placeholders contributes each of its fixed pieces of three words or more
    (the filled-in values are data); a plain message counts from two words on.
    """
    pieces: set[str] = set()
    for message in i18ncheck.swedish():
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue
            parts = _PLACEHOLDER.split(english)
            least = 2 if len(parts) == 1 else 3
            for part in parts:
                part = " ".join(part.split()).strip(" ,.;:()·")
                if len(_WORDS.findall(part)) >= least and part not in strings:
                    pieces.add(part)
    return sorted(pieces, key=len, reverse=True)


def english_left(text: str, pieces: list[str]) -> list[str]:
    """Return the catalogue's English pieces found as whole words in a page's text."""
    flat = " ".join(text.split())
    return [p for p in pieces if re.search(rf"(?<![\w]){re.escape(p)}(?![\w])", flat)]


def colours(png: bytes) -> int:
    """Count the distinct colours of a screenshot (up to 2: more than one is enough)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    found = image.getcolors(maxcolors=image.width * image.height) or []
    return len(found)


def test_the_english_check_finds_english_and_passes_swedish() -> None:
    pieces = english_pieces()
    assert "Verify export" in pieces and "Database type" in pieces
    assert english_left("Knappen Verify export syns", pieces) == ["Verify export"]
    assert english_left("Databastyp: SQLite · Kontrollera export", pieces) == []


def open_app(page: Page, served: Served) -> None:
    """Open the launch address and wait for the overview, as the window does."""
    page.goto(served.url)
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)


def test_every_tab_in_english_and_swedish(page: Page, served: Served, artifacts: Path) -> None:
    open_app(page, served)
    pieces = english_pieces()
    shown = [("overview", "/"), *((t.id, f"/{t.id}/") for t in tabs.TABS)]
    for language in ("en", "sv"):
        if language == "sv":
            page.click("#language-sv")
            expect(page.locator("html")).to_have_attribute("lang", "sv", timeout=WAIT_MS)
        for name, path in shown:
            page.goto(served.origin + path)
            expect(page.locator("html")).to_have_attribute("lang", language)
            expect(page.locator("h1").first).to_be_visible(timeout=WAIT_MS)
            page.wait_for_load_state("networkidle")
            png = page.screenshot(path=str(artifacts / f"i18n-{name}-{language}.png"))
            assert colours(png) > 1, f"{name} in {language} is blank"
            if language == "sv":
                left = english_left(page.inner_text("body"), pieces)
                assert not left, f"English on the Swedish {name} page: {left}"
