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


def test_two_openings_with_the_same_token_at_once_let_one_in(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    security.single_use(app, renew=lambda url: None)  # as `ibdesk serve`: a new token each time
    token = app.config["IBDESK_TOKEN"]
    both_checked = threading.Barrier(2, timeout=30)
    calls: list[int] = []
    same = security._same

    def checked_together(given: str | None, expected: str) -> bool:
        calls.append(1)
        result = same(given, expected)
        if len(calls) <= 2:  # each request's first look at the token, at the same moment
            both_checked.wait()
        return result

    monkeypatch.setattr(security, "_same", checked_together)
    codes: list[int] = []

    def open_it() -> None:
        codes.append(app.test_client().get(f"/?token={token}").status_code)

    requests = [threading.Thread(target=open_it) for _ in range(2)]
    for request in requests:
        request.start()
    for request in requests:
        request.join()
    assert sorted(codes) == [200, 403]


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
