"""``ibdesk serve``'s address opens the program once, within five minutes; the browser that
used it goes on with its cookie, and the next browser gets a fresh address that ibdesk prints."""

from __future__ import annotations

import http.cookiejar
import time
import urllib.error
import urllib.request
from pathlib import Path

from flask import Flask
from test_shell import fetch, lock_data, sqlite_url  # noqa: F401 - the fixture

from ibdesk import security
from webfixtures import ibdesk_env, start_serve


def _browser() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
    )


def _status(opener: urllib.request.OpenerDirector, url: str) -> int:
    try:
        with opener.open(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_served_address_works_once_and_a_fresh_one_is_printed(
    ibdesk_home: Path,
    sqlite_url: str,  # noqa: F811 - the imported fixture
) -> None:
    served = start_serve(ibdesk_env(ibdesk_home, sqlite_url))
    try:
        first = served.fresh_url()
        browser = _browser()
        assert _status(browser, first) == 200
        assert _status(browser, served.origin + "/logs/") == 200  # its cookie goes on working
        status, page = fetch(first)  # a second browser with a copy of the address
        assert status == 403 and "each address opens it once" in page
        second = served.fresh_url()
        assert second != first and any("A new one-time address" in x for x in served.output)
        assert second.endswith(f"?token={lock_data(ibdesk_home)['token']}")
        other = _browser()
        assert _status(other, second) == 200
        assert _status(other, served.origin + "/") == 200
        assert _status(browser, served.origin + "/") == 200
        assert _status(_browser(), second) == 403
    finally:
        assert served.stop() == 0, "\n".join(served.output)


def test_an_expired_served_address_is_replaced(app: Flask) -> None:
    printed: list[str] = []
    security.bind_port(app, 5555)
    security.single_use(app, printed.append)
    old = app.config["IBDESK_TOKEN"]
    security.renew_if_expired(app)
    assert printed == []  # still fresh: nothing to replace
    app.config["IBDESK_TOKEN_EXPIRES"] = time.monotonic() - 1  # as if five minutes went by
    security.renew_if_expired(app)
    assert len(printed) == 1 and old not in printed[0]
    new = app.config["IBDESK_TOKEN"]
    assert printed[0].endswith(f"?token={new}")
    assert app.test_client().get(f"/?token={old}").status_code == 403
    assert app.test_client().get(f"/?token={new}").status_code == 200
