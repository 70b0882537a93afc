"""Flask test-client fixtures for the web app (CSRF on, the launch token really exchanged).

``app`` runs on the database of ``db_url`` (so a test taking it runs on SQLite and on
PostgreSQL); ``client`` has traded the token for the session cookie, ``anon_client`` has not.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from ibdesk import users
from ibdesk.app import create_app
from ibdesk.audit import Actor
from ibdesk.db import DatabaseError

TEST_PORT = 5123
ORIGIN = f"http://127.0.0.1:{TEST_PORT}"
HX = {"HX-Request": "true"}  # the header htmx sends with every request it makes
_CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"|name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """Return the app of one launch on a fresh, migrated database."""
    application = create_app(db_option=db_url, testing=True, port=TEST_PORT)
    yield application
    application.extensions["ibdesk.jobs"].shutdown()
    application.extensions["ibdesk.database"].dispose()


@pytest.fixture
def anon_client(app: Flask) -> FlaskClient:
    """Return a client that never received the launch token."""
    return app.test_client()


def token_only_client(app: Flask) -> FlaskClient:
    """Return a client that holds the launch token but has not signed in."""
    test_client = app.test_client()
    assert test_client.get(f"/?token={app.config['IBDESK_TOKEN']}").status_code == 200
    return test_client


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a client that opened the launch address, so it holds the session cookie."""
    test_client = app.test_client()
    login(test_client, app)
    return test_client


ADMIN_NAME = "test.admin"
ADMIN_PASSWORD = "en administratör i testerna"


def login(test_client: FlaskClient, app: Flask) -> None:
    """Open the launch address with the token, then sign in an administrator, as a person does.

    On a database that is set up, the administrator ``test.admin`` is made first when it does
    not exist; before any database is set up there is nobody to sign in (the wizard is open).
    """
    response = test_client.get(f"/?token={app.config['IBDESK_TOKEN']}")
    assert response.status_code == 200, response.status_code
    if ensure_admin(app):
        sign_in(test_client, ADMIN_NAME, ADMIN_PASSWORD)


def ensure_admin(app: Flask) -> bool:
    """Make the test administrator in the app's database; False when it has none set up."""
    database = app.extensions["ibdesk.database"]
    with app.app_context():
        try:
            if not database.is_configured():
                return False
            engine = database.ready_engine()
        except DatabaseError:
            return False  # nobody can sign in to a database that cannot be reached
        with Session(engine) as session:
            if users.find_user(session, ADMIN_NAME) is None:
                users.create_user(
                    session,
                    ADMIN_NAME,
                    ADMIN_PASSWORD,
                    actor=Actor("test", "test"),
                    display_name="Test Admin",
                    is_admin=True,
                )
                session.commit()
    return True


def sign_in(test_client: FlaskClient, username: str, password: str) -> TestResponse:
    """Sign in at the window's sign-in page; return its answer."""
    page = test_client.get("/signin/").get_data(as_text=True)
    found = _CSRF.search(page)
    assert found, "no CSRF token on the sign-in page"
    form = {"csrf_token": found.group(1) or found.group(2), "username": username}
    return test_client.post("/signin/", data={**form, "password": password})


def open_window(page: Any, url: str, username: str = ADMIN_NAME, password: str = "") -> None:
    """Open the launch address in Playwright's page, and sign in when the sign-in page shows."""
    page.goto(url)
    if "token=" in url:  # the opening page refreshes itself to the page without the token
        page.wait_for_url(lambda address: "token=" not in address)
        page.wait_for_load_state()
    if page.locator("#signin-form").count():
        browser_sign_in(page, username, password or ADMIN_PASSWORD)


def browser_sign_in(page: Any, username: str, password: str) -> None:
    """Fill in and send the sign-in form shown in Playwright's page."""
    page.fill("#username", username)
    page.fill("#password", password)
    sent = page.locator("#signin-form").element_handle()
    with page.expect_response(
        lambda r: r.request.method == "POST" and "/signin/" in r.url
    ) as answer:
        page.click("#signin-submit")
    if answer.value.headers.get("hx-redirect") or 300 <= answer.value.status < 400:
        # Signed in: htmx now leaves for the page asked for, often the same address as the
        # sign-in page itself. Wait until that page has replaced this one, or the next goto
        # races htmx's navigation and one of them is aborted.
        page.locator("#signin-form").wait_for(state="detached")
    else:
        # Refused: the answer arrives before htmx has put the new form in place of the one
        # sent. Wait for the swap and its settling, or the caller reads the last attempt's
        # message, and a next attempt types into the old form and clicks the new one, whose
        # password field is empty (and required, so the browser sends nothing).
        page.wait_for_function("form => !form.isConnected", arg=sent)
        page.wait_for_function(
            "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
        )
    page.wait_for_load_state()


def csrf_token(test_client: FlaskClient, path: str = "/") -> str:
    """Return the CSRF token a page of the app hands out."""
    page = test_client.get(path).get_data(as_text=True)
    found = _CSRF.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1) or found.group(2)


def post(
    test_client: FlaskClient,
    path: str,
    data: dict[str, Any] | None = None,
    *,
    htmx: bool = True,
    page: str = "/",
    keep_token: bool = False,
    **kwargs: Any,
) -> TestResponse:
    """POST a form as ``page`` does: with the CSRF token it hands out, through htmx unless not.

    ``keep_token`` asks ``page`` for a token on this client's first post only and sends that
    one from then on, as a page that stays open does.
    """
    token = getattr(test_client, "ibdesk_csrf", None) if keep_token else None
    if token is None:
        token = csrf_token(test_client, page)
        if keep_token:
            test_client.ibdesk_csrf = token  # type: ignore[attr-defined]
    form = {"csrf_token": token, **(data or {})}
    return test_client.post(path, data=form, headers=HX if htmx else {}, **kwargs)


@dataclass
class Served:
    """An ``ibdesk serve`` process and the address it printed."""

    proc: subprocess.Popen[str]
    url: str
    output: list[str]
    reader: threading.Thread
    handed: list[str] = field(default_factory=list)

    def fresh_url(self) -> str:
        """Return a one-time address not handed out before, waiting until ibdesk prints it.

        Each address opens the app once: ``ibdesk serve`` prints a new one when it is used.
        """
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for line in list(self.output):
                for found in URL_RE.findall(line):
                    if found not in self.handed:
                        self.handed.append(found)
                        return found
            time.sleep(0.05)
        raise AssertionError("ibdesk printed no new address:\n" + "\n".join(self.output))

    @property
    def origin(self) -> str:
        """Return the app's origin (no token)."""
        return self.url.split("/?", 1)[0]

    def stop(self) -> int:
        """Stop it as a service manager would (SIGTERM) and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.reader.join(WAIT_S)
            if self.proc.stdout is not None:
                self.proc.stdout.close()


WAIT_S = 60.0
URL_RE = re.compile(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_\-]+")
IBDESK = [sys.executable, "-c", "from ibdesk.cli import main; main()"]


def ibdesk_env(home: Path, db_url: str | None, **extra: str) -> dict[str, str]:
    """Return the environment for an ibdesk child process with its own home and database."""
    env = {k: v for k, v in os.environ.items() if k not in ("IBDESK_DB", "DISPLAY")}
    env.update(IBDESK_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    if db_url:
        env["IBDESK_DB"] = db_url
    return env


def start_serve(env: dict[str, str], *args: str) -> Served:
    """Start ``ibdesk serve --no-browser`` and wait until it prints its address."""
    return start_ibdesk(env, "serve", "--no-browser", *args)


def start_ibdesk(env: dict[str, str], *args: str) -> Served:
    """Start ``ibdesk ARGS`` and wait until it prints the address it serves."""
    proc = subprocess.Popen(
        [*IBDESK, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    output: list[str] = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        output.append(line)
        found = URL_RE.search(line)
        if found:
            served = Served(proc, found.group(0), output, reader)
            threading.Thread(target=_drain, args=(lines, output), daemon=True).start()
            return served
    proc.kill()
    proc.wait()
    reader.join(WAIT_S)
    if proc.stdout is not None:
        proc.stdout.close()
    raise AssertionError("ibdesk printed no address:\n" + "\n".join(output))


def _drain(lines: queue.Queue[str | None], output: list[str]) -> None:
    while (line := lines.get()) is not None:
        output.append(line)
