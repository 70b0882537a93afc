"""The frame at 1280x800 in real Chromium: no empty scroll under the status bar, readable
header texts, and a status bar whose short values read whole.

The body once had the window's height (``height: 100%``): a page taller than the window
overflowed it, and the sticky status bar stopped at the body's end, in mid-page, with the
rest of the page (and an empty band) scrolling on below it. Now the body grows with its
content: a short page does not scroll at all, and on a long one the status bar is the last
thing on the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from test_screens_e2e import snapshot

from webfixtures import Served, open_window

pytestmark = pytest.mark.browser
WAIT_MS = 60_000
MEASURE = """() => {
  const bar = document.getElementById('status-bar').getBoundingClientRect();
  const main = document.getElementById('main').getBoundingClientRect();
  return {
    scroll: document.scrollingElement.scrollHeight,
    body: document.body.getBoundingClientRect().height,
    inner: window.innerHeight,
    y: window.scrollY,
    barTop: bar.top,
    barBottom: bar.bottom,
    mainBottom: main.bottom,
  };
}"""


def measure(page: Page) -> dict[str, Any]:
    """Return the page's scroll height and where the status bar and content end."""
    page.wait_for_load_state("networkidle")
    return dict(page.evaluate(MEASURE))


def at_foot(found: dict[str, Any]) -> bool:
    """Say whether the status bar ends at the window's foot (within a fraction of a pixel)."""
    return abs(found["barBottom"] - found["inner"]) < 1


def use_language(page: Page, language: str) -> None:
    """Switch the window to this language (the choice outlives a test: the server keeps it)."""
    if page.locator("html").get_attribute("lang") != language:
        page.click(f"#language-{language}")
    expect(page.locator("html")).to_have_attribute("lang", language, timeout=WAIT_MS)
    # The switch reloads the page: its lang shows while it is still parsed, before the
    # style sheets have arrived, so wait for the load event before measuring anything.
    page.wait_for_load_state("load", timeout=WAIT_MS)


def open_tab(page: Page, served: Served, path: str, heading: str) -> None:
    page.goto(served.origin + path)
    expect(page.locator("h1")).to_have_text(heading, timeout=WAIT_MS)


def test_short_pages_do_not_scroll_and_long_ones_end_with_the_status_bar(
    page: Page, served: Served, artifacts: Path
) -> None:
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    assert page.viewport_size == {"width": 1280, "height": 800}

    # Whatever a page's height at 1280x800 (two rows of tabs, the signed-in person, the demo
    # box, the seat lists): the status bar stays in view, a page shorter than the window does
    # not scroll at all, and at the end of a longer one nothing lies below the bar.
    for path, heading in (
        ("/statistics/", "Statistics"),
        ("/wizard/", "Quick-start wizard"),
        ("/licensing/", "Licensing"),
        ("/logs/", "Logs"),
    ):
        open_tab(page, served, path, heading)
        top = measure(page)
        assert top["scroll"] >= 800 and at_foot(top), (path, top)
        if top["mainBottom"] + (top["barBottom"] - top["barTop"]) < 800:
            assert top["scroll"] == 800 and abs(top["body"] - 800) < 1, (path, top)
        page.evaluate("() => window.scrollTo(0, document.scrollingElement.scrollHeight)")
        end = measure(page)
        assert end["y"] + end["inner"] == end["scroll"], (path, end)
        # The body holds the whole page: nothing overflows it to scroll on past the bar.
        assert abs(end["body"] - end["scroll"]) < 1, (path, end)
        assert at_foot(end) and end["mainBottom"] <= end["barTop"] + 0.5, (path, end)
        snapshot(page, artifacts, f"layout-end-of-{path.strip('/')}.png")


# Every text drawn over the header, against the colour behind it: what lies inside the
# header's box (the signed-in name is placed there from outside the header) has the header's
# colour behind it, anything else its nearest ancestor's background.
CONTRAST = """() => {
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const header = document.querySelector('.app-header');
  const box = header.getBoundingClientRect();
  const headerBg = rgb(getComputedStyle(header).backgroundColor);
  const behind = (el) => {
    const r = el.getBoundingClientRect();
    if (r.top >= box.top && r.bottom <= box.bottom) {
      for (let at = el; at; at = at.parentElement) {
        if (at === header || at === document.body) break;
        const bg = getComputedStyle(at).backgroundColor;
        if (rgb(bg).length === 3 || rgb(bg)[3] > 0) return rgb(bg).slice(0, 3);
      }
      return headerBg;
    }
    return null;
  };
  const found = [];
  const texts = document.querySelectorAll(
    '.app-header a, .app-header button, .app-header span, #signed-in-name, #sign-out');
  for (const el of texts) {
    if (!el.textContent.trim() || !el.getClientRects().length) continue;
    const bg = behind(el);
    if (bg === null) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    found.push({text: el.textContent.trim(), ratio});
  }
  return found;
}"""


def test_every_text_over_the_header_is_readable(page: Page, served: Served) -> None:
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    expect(page.locator("#signed-in-name")).to_be_visible(timeout=WAIT_MS)
    found = page.evaluate(CONTRAST)
    texts = {item["text"] for item in found}
    assert {"Test Admin", "Sign out", "Overview", "Svenska"} <= texts, texts
    # WCAG AA for normal text: a contrast of at least 4.5 to 1.
    unreadable = [item for item in found if item["ratio"] < 4.5]
    assert unreadable == [], unreadable


# Each status-bar value: its text, whether it is cut short, and whether its full text is in
# a tooltip.
STATUS_VALUES = """() => [...document.querySelectorAll('#status-bar .sb-value')].map((el) => ({
  field: el.dataset.field,
  text: el.textContent.trim(),
  cut: el.scrollWidth > el.clientWidth + 0.5,
  width: el.getBoundingClientRect().width,
  title: el.closest('[title]') ? el.closest('[title]').title : '',
}))"""


def test_the_status_bar_cuts_only_the_paths_in_both_languages(
    page: Page, served: Served, artifacts: Path
) -> None:
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    for language in ("en", "sv"):
        use_language(page, language)
        expect(page.locator("#status-bar [data-field=schema]")).not_to_have_class(
            "sb-value sb-pending", timeout=WAIT_MS
        )
        found = {value["field"]: value for value in page.evaluate(STATUS_VALUES)}
        assert {"database", "schema", "image-folder"} <= set(found), found
        # The version and the last backup are short and read whole; only a long path gives
        # way, and the whole path is in its tooltip.
        whole = [v for f, v in found.items() if f not in ("database", "image-folder") and v["cut"]]
        assert whole == [], (language, whole)
        for field in ("database", "image-folder"):
            assert found[field]["width"] > 100, (language, found[field])
            if found[field]["cut"]:
                assert found[field]["title"] == found[field]["text"], (language, found[field])
        snapshot(page, artifacts, f"layout-status-bar-{language}.png")


HEADER = """() => {
  const box = (el) => el.getBoundingClientRect();
  const header = box(document.querySelector('.app-header'));
  const rows = new Set([...document.querySelectorAll('.tabs a')].map((a) => box(a).top));
  const languages = box(document.querySelector('.language-switch'));
  const person = box(document.querySelector('.signed-in'));
  return {
    height: header.height,
    tabRows: rows.size,
    apart: languages.right <= person.left || person.bottom <= languages.top,
    personInside: person.top >= header.top && person.bottom <= header.bottom,
  };
}"""


def test_the_tabs_have_the_headers_whole_width(page: Page, served: Served) -> None:
    # The tabs once shared a row with the name and the languages: in Swedish at 1280 px
    # they wrapped into four rows, nearly a quarter of the window.
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    rows = {}
    for language in ("en", "sv"):
        use_language(page, language)
        found = page.evaluate(HEADER)
        assert found["apart"] and found["personInside"], (language, found)
        rows[language] = found["tabRows"]
    assert rows == {"en": 1, "sv": 2}, rows
