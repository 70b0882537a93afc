"""The window's launch token opens the app once, expires unused, and the page after the
exchange can only name a path of this app (never ``/\\evil.example``)."""

from __future__ import annotations

import re
import time
from urllib.parse import urljoin

import pytest
from flask import Flask

from ibdesk import security
from webfixtures import ORIGIN


def _open(app: Flask, path: str = "/") -> int:
    token = app.config["IBDESK_TOKEN"]
    return app.test_client().get(f"{path}?token={token}").status_code


def test_the_window_token_works_once(app: Flask) -> None:
    security.single_use(app)
    assert _open(app) == 200
    assert _open(app) == 403
    assert _open(app, "/logs/") == 403


def test_an_unused_window_token_expires(app: Flask) -> None:
    security.single_use(app)
    app.config["IBDESK_TOKEN_EXPIRES"] = time.monotonic() - 1  # as if five minutes went by
    assert _open(app) == 403


@pytest.mark.parametrize(
    "path", ["/\\evil.example/x", "//evil.example/x", "/\\/evil.example", "/%5C%5Cevil.example"]
)
def test_the_page_after_the_exchange_names_only_this_app(app: Flask, path: str) -> None:
    query = f"token={app.config['IBDESK_TOKEN']}"
    response = app.test_client().get(
        "/", environ_overrides={"PATH_INFO": path, "QUERY_STRING": query}
    )
    page = response.get_data(as_text=True)
    target = re.search(r'content="0; url=([^"]*)"', page)
    assert response.status_code == 200 and target, page
    # However a browser reads it (backslashes as slashes), it stays on this origin.
    resolved = urljoin(ORIGIN + "/", target.group(1).replace("\\", "/"))
    assert resolved.startswith(ORIGIN + "/"), resolved
    assert "\\" not in target.group(1)
