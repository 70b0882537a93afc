"""Every guard of the localhost admin app, proved by requests that must be refused."""

from __future__ import annotations

import re
import socket
from collections.abc import Generator
from http.client import HTTPConnection

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ibdesk import security
from ibdesk.app import create_app
from ibdesk.blueprints.jobs import registry
from ibdesk.desktop import AppServer
from ibdesk.errors import UserError
from ibdesk.jobs import JobState
from ibdesk.progress import Event, Progress
from webfixtures import HX, ORIGIN, TEST_PORT, anon_client, app, client, csrf_token, login

__all__ = ["anon_client", "app", "client"]  # fixtures, imported for pytest to find

PAGES = ["/", "/status", "/not-configured", "/static/ibdesk.css", "/jobs/abc", "/no-such-page"]


def slow_job() -> Generator[Event, None, None]:
    """A job that runs until cancelled."""
    import threading

    stop = threading.Event()
    while True:
        yield Progress(0, 10)
        stop.wait(0.05)


@pytest.mark.parametrize("path", PAGES)
def test_every_route_needs_the_cookie(anon_client: FlaskClient, path: str) -> None:
    response = anon_client.get(path)
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers


def test_the_refusal_is_a_page_in_the_apps_look_without_the_frame(anon_client: FlaskClient) -> None:
    response = anon_client.get("/")
    page = response.get_data(as_text=True)
    assert "ImageBank SysAdmin" in page and "open it from that window" in page
    assert 'class="tabs"' not in page and 'id="status-bar"' not in page  # no way further in
    nonce = re.search(r'<style nonce="([^"]+)">', page)
    assert nonce, "the stylesheet is inlined, since static files are guarded too"
    assert f"'nonce-{nonce.group(1)}'" in response.headers["Content-Security-Policy"]
    assert "Traceback" not in page


def test_the_token_is_exchanged_for_a_strict_httponly_cookie(app: Flask) -> None:
    test_client = app.test_client()
    token = app.config["IBDESK_TOKEN"]
    response = test_client.get(f"/jobs/x?token={token}&tab=2")
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"ibdesk-{TEST_PORT}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert token not in cookie  # the cookie holds a different secret than the address
    page = response.get_data(as_text=True)
    assert 'content="0; url=/jobs/x?tab=2"' in page  # the token leaves the address bar
    assert token not in page
    assert test_client.get("/").status_code == 200


@pytest.mark.parametrize("token", ["wrong", "", "x" * 43])
def test_a_wrong_token_is_refused_and_sets_nothing(app: Flask, token: str) -> None:
    test_client = app.test_client()
    response = test_client.get(f"/?token={token}")
    assert response.status_code == 403
    assert "not valid" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    assert test_client.get("/").status_code == 403


def test_a_wrong_token_is_refused_even_with_a_valid_cookie(client: FlaskClient) -> None:
    assert client.get("/?token=guess").status_code == 403


def test_the_token_is_not_accepted_on_a_post(app: Flask) -> None:
    test_client = app.test_client()
    response = test_client.post(f"/?token={app.config['IBDESK_TOKEN']}")
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers


def test_a_leading_double_slash_cannot_turn_the_exchange_into_a_redirect_elsewhere(
    app: Flask,
) -> None:
    response = app.test_client().get(
        "/",
        environ_overrides={
            "PATH_INFO": "//evil.example/x",
            "QUERY_STRING": f"token={app.config['IBDESK_TOKEN']}",
        },
    )
    assert response.status_code == 200
    assert 'url=/evil.example/x"' in response.get_data(as_text=True)


def test_a_cookie_of_another_launch_is_refused(app: Flask, db_url: str) -> None:
    other = create_app(db_option=db_url, testing=True, port=TEST_PORT)
    other_client = other.test_client()
    login(other_client, other)
    cookie = other_client.get_cookie(f"ibdesk-{TEST_PORT}", domain="127.0.0.1")
    assert cookie is not None
    test_client = app.test_client()
    test_client.set_cookie(cookie.key, cookie.value)
    assert test_client.get("/").status_code == 403
    other.extensions["ibdesk.database"].dispose()  # it signed in, so it holds connections


@pytest.mark.parametrize(
    "host", ["evil.example", f"evil.example:{TEST_PORT}", f"localhost:{TEST_PORT}", "127.0.0.1:1"]
)
def test_a_forged_host_is_refused(client: FlaskClient, host: str) -> None:
    """DNS rebinding: a hostile name that resolves to 127.0.0.1 carries its own Host."""
    response = client.get("/", headers={"Host": host})
    assert response.status_code == 403
    assert "only answers at the address" in response.get_data(as_text=True)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_a_foreign_or_null_origin_is_refused(client: FlaskClient, origin: str) -> None:
    assert client.get("/", headers={"Origin": origin}).status_code == 403
    token = csrf_token(client)
    response = client.post(
        "/jobs/abc/cancel", headers={"Origin": origin, "X-CSRFToken": token, **HX}
    )
    assert response.status_code == 403
    assert "other web pages" in response.get_data(as_text=True)


def test_a_foreign_post_is_refused_before_its_missing_csrf_token_is_even_looked_at(
    client: FlaskClient,
) -> None:
    response = client.post("/jobs/abc/cancel", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403


def test_the_apps_own_origin_is_accepted(client: FlaskClient) -> None:
    assert client.get("/", headers={"Origin": ORIGIN}).status_code == 200


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        job_id = registry().start("Export", slow_job)
    for headers in ({}, {"X-CSRFToken": "forged"}, HX):
        response = client.post(f"/jobs/{job_id}/cancel", headers=headers)
        assert response.status_code == 400
        assert "reload the page" in response.get_data(as_text=True)
    with app.app_context():
        assert registry().status(job_id).state is JobState.RUNNING
    token = csrf_token(client)
    answer = client.post(f"/jobs/{job_id}/cancel", headers={"X-CSRFToken": token, **HX})
    assert answer.status_code == 200
    with app.app_context():
        assert registry().wait(job_id, 30).state is JobState.CANCELLED


def test_a_plain_form_post_with_the_token_field_is_accepted(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        job_id = registry().start("Export", slow_job)
    token = csrf_token(client, f"/jobs/{job_id}")
    response = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token})
    assert response.status_code == 303
    with app.app_context():
        assert registry().wait(job_id, 30).state is JobState.CANCELLED


def test_security_headers_are_on_every_page(client: FlaskClient) -> None:
    for path in ("/", "/status", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_pages_hold_no_inline_script(client: FlaskClient) -> None:
    for path in ("/", "/status", "/no-such-page"):
        page = client.get(path).get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", page):
            assert "src=" in tag, tag
        assert not re.search(r"\son[a-z]+\s*=", page), "inline event handler"
        assert "javascript:" not in page


def test_the_focus_endpoint_takes_the_token_in_a_header_only(app: Flask) -> None:
    test_client = app.test_client()
    assert test_client.post("/_instance/focus").status_code == 403
    wrong = {security.TOKEN_HEADER: "guess"}
    assert test_client.post("/_instance/focus", headers=wrong).status_code == 403
    right = {security.TOKEN_HEADER: app.config["IBDESK_TOKEN"]}
    assert test_client.post("/_instance/focus", headers=right).status_code == 409  # no window
    calls: list[str] = []
    app.config["IBDESK_FOCUS"] = lambda: calls.append("raised")
    assert test_client.post("/_instance/focus", headers=right).status_code == 204
    assert calls == ["raised"]
    # The header opens no other door.
    assert test_client.get("/", headers=right).status_code == 403


@pytest.mark.parametrize("host", ["0.0.0.0", "::1", "localhost", "192.168.1.10", "127.0.0.2"])
def test_the_server_refuses_any_address_but_loopback(app: Flask, host: str) -> None:
    with pytest.raises(UserError, match="only listens on the loopback address"):
        AppServer.start(app, host=host)


def test_a_real_server_binds_loopback_and_moves_off_a_taken_port(db_url: str) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    app = create_app(db_option=db_url)
    server = AppServer.start(app, port=port)
    try:
        assert server.port != port
        assert server.note == (
            f"Port {port} is in use, so ImageBank SysAdmin uses port {server.port}."
        )
        assert server.server.socket.getsockname()[0] == "127.0.0.1"
        conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 403
        conn.close()
        conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", server.launch_url.removeprefix(security.origin(server.port)))
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Set-Cookie")
        conn.close()
    finally:
        server.stop()
        taken.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)
