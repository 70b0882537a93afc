"""Whole journeys in real Chromium against a real ibdesk server, token and all."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from flask import Blueprint, render_template_string
from playwright.sync_api import Page, expect

from ibdesk import tabs
from ibdesk.app import create_app
from ibdesk.blueprints.jobs import registry
from ibdesk.desktop import AppServer
from ibdesk.progress import Event, LogLine, Progress
from webfixtures import Served, open_window

pytestmark = pytest.mark.browser
IMAGE_FOLDER = "/srv/bilder/Röntgen åäö ÅÄÖ"
WAIT_MS = 30_000


def open_app(page: Page, served: Served) -> None:
    """Open the launch address and wait for the overview, as the window does."""
    open_window(page, served.fresh_url())
    page.wait_for_url(served.origin + "/", timeout=WAIT_MS)
    expect(page.locator("h1")).to_have_text("Overview")


def test_the_token_becomes_a_strict_cookie_and_leaves_the_address_bar(
    page: Page, served: Served, artifacts: Path
) -> None:
    open_app(page, served)
    assert "token" not in page.url
    port = served.origin.rsplit(":", 1)[1]
    cookie = next(c for c in page.context.cookies() if c["name"] == f"ibdesk-{port}")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert f"ibdesk-{port}" not in page.evaluate("document.cookie")  # scripts cannot read it
    bar = page.locator("#status-bar")
    expect(bar.locator("[data-field=schema]")).to_contain_text(
        "ImageBank 2.1, up to date", timeout=WAIT_MS
    )
    expect(bar.locator("[data-field=database]")).to_contain_text("SQLite file ")
    expect(bar.locator("[data-field=image-folder]")).to_have_text(IMAGE_FOLDER)
    expect(page.locator("[data-field=image-folder]").first).to_have_text(IMAGE_FOLDER)
    page.screenshot(path=str(artifacts / "browser-overview.png"))


def test_without_the_token_the_browser_is_refused(page: Page, served: Served) -> None:
    response = page.goto(served.origin + "/")
    assert response is not None and response.status == 403
    expect(page.locator("main")).to_contain_text("open it from that window")
    wrong = page.goto(served.origin + "/?token=guessed")
    assert wrong is not None and wrong.status == 403
    assert page.context.cookies() == []


def test_the_page_runs_with_no_console_errors_or_policy_violations(
    page: Page, served: Served
) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    open_app(page, served)
    expect(page.locator("[data-field=schema]").last).to_contain_text(
        "ImageBank 2.1, up to date", timeout=WAIT_MS
    )
    assert page.evaluate("typeof htmx") == "object"  # the vendored file loaded
    page.reload()
    expect(page.locator("[data-field=schema]").last).to_contain_text(
        "ImageBank 2.1, up to date", timeout=WAIT_MS
    )
    assert problems == []


def test_the_frame_works_from_the_keyboard(page: Page, served: Served) -> None:
    open_app(page, served)
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_text("Overview")
    assert focused.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"  # visible focus
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # the skip link moves focus to the content
    expect(page.locator(":focus")).to_have_attribute("id", "main")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Check again")
    page.keyboard.press("Shift+Tab")  # back out of the content: the language switch
    expect(page.locator(":focus")).to_have_attribute("id", "language-sv")
    page.keyboard.press("Shift+Tab")  # then the nav bar's last tab
    last_tab = page.locator("nav.tabs a").last
    for _ in range(4):  # past the language switch to the nav bar's last tab
        if page.locator(":focus").inner_text() == last_tab.inner_text():
            break
        page.keyboard.press("Shift+Tab")
    expect(page.locator(":focus")).to_have_text(last_tab.inner_text())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text(last_tab.inner_text())


def test_another_web_page_cannot_drive_the_app(page: Page, served: Served) -> None:
    open_app(page, served)  # the administrator is logged in in this browser
    attack = (
        f'<form id="f" method="post" action="{served.origin}/jobs/x/cancel"></form>'
        '<iframe id="frame" src="' + served.origin + '/"></iframe>'
        '<script>document.getElementById("f").submit()</script>'
    )
    page.route(
        "http://evil.test/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=attack),
    )
    with page.expect_response(lambda r: r.url.endswith("/jobs/x/cancel")) as answer:
        page.goto("http://evil.test/")
    assert answer.value.status == 403  # no SameSite cookie, and a foreign Origin
    expect(page.locator("main")).to_contain_text("Requests from other web pages are refused.")


# A tab standing in for Export, to follow a real job in the browser.
bp = Blueprint("jobdemo", __name__, url_prefix="/demo")
release = threading.Event()


def demo_job() -> Generator[Event, None, str]:
    yield LogLine("Exporterar Åsa Öberg")
    for i in range(1, 4):
        yield Progress(i, 10, f"patient {i}")
    release.wait(60)
    yield LogLine("Klar med Örjan Ängström")
    yield Progress(10, 10)
    return "10 patients exported."


@bp.get("/")
def index() -> str:
    job_id = registry().start("Export", demo_job)
    return render_template_string(
        '{% extends "base.html" %}{% from "_macros/jobs.html" import job_progress %}'
        "{% block content %}<h1>Export</h1>{{ job_progress(job) }}{% endblock %}",
        job=registry().status(job_id),
    )


@pytest.fixture
def job_server(clinic_db: str) -> Iterator[AppServer]:
    release.clear()
    tab = tabs.Tab("export", "Export", "jobdemo.index", __name__)
    server = AppServer.start(create_app(db_option=clinic_db, tab_list=(tab,)))
    yield server
    release.set()
    server.stop()


def test_a_job_shows_live_progress_and_can_be_cancelled(page: Page, job_server: AppServer) -> None:
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/jobs/" in r.url else None)
    open_window(page, job_server.launch_url)
    page.get_by_role("link", name="Export").click()
    job = page.locator("section.job")
    expect(job.locator(".log")).to_contain_text("Exporterar Åsa Öberg", timeout=WAIT_MS)
    expect(job.locator("[data-field=done]")).to_have_text("3 of 10 (30 %)", timeout=WAIT_MS)
    expect(job.locator("progress")).to_have_attribute("value", "3")
    job.get_by_role("button", name="Cancel").click()  # an htmx POST: CSRF header and all
    # The job may go on only once the cancel has arrived (else, on a slow machine, it wins).
    expect(job.locator(".badge")).to_have_text("Cancelling", timeout=WAIT_MS)
    release.set()
    expect(job.locator(".badge")).to_have_text("Cancelled", timeout=WAIT_MS)
    expect(job.locator(".log")).to_contain_text("Cancelled by the administrator.")
    expect(job.get_by_role("button", name="Cancel")).to_have_count(0)
    assert "hx-trigger" not in (job.get_attribute("hx-trigger") or "")
    settled = len(polls)
    page.wait_for_timeout(2500)  # more than two polling periods
    assert len(polls) == settled, "the finished job's partial kept polling"


def test_a_job_that_ends_says_so_and_stops_polling(page: Page, job_server: AppServer) -> None:
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/jobs/" in r.url else None)
    open_window(page, job_server.launch_url)
    page.get_by_role("link", name="Export").click()
    job = page.locator("section.job")
    expect(job.locator("[data-field=done]")).to_have_text("3 of 10 (30 %)", timeout=WAIT_MS)
    release.set()
    expect(job.locator(".badge")).to_have_text("Done", timeout=WAIT_MS)
    expect(job).to_contain_text("10 patients exported.")
    expect(job.locator(".log")).to_contain_text("Klar med Örjan Ängström")
    assert statuses and all(status == 200 for status in statuses)
