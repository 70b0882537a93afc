"""Who may talk to the admin app: the loopback address, one launch's secret, this origin only.

Threat model: the app runs on a clinic workstation that other people (and their programs)
also use, next to a web browser that visits arbitrary sites. So, on every request:

1. The Host header must be ``127.0.0.1:<port>`` (a DNS-rebinding page has its own name).
2. An ``Origin`` header, when sent, must be this app's origin (``null`` is refused).
3. A per-launch secret (the token) is needed. The window, or the address ``ibdesk serve``
   prints, carries it once (within five minutes) as ``?token=``; it is exchanged for an
   HttpOnly, SameSite=Strict cookie holding a *different* random key, and the token leaves
   the address bar. ``ibdesk serve`` then prints a fresh address for the next browser.
   Other local users cannot read the token (it never appears on a command line) and web
   pages cannot send the cookie (SameSite=Strict), so both get 403.
4. State-changing requests also need Flask-WTF's CSRF token (htmx sends it as a header).

Responses forbid framing, inline script, caching and referrers.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote, urlencode

from flask import Flask, Response, abort, current_app, g, render_template, request
from markupsafe import Markup

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

LOOPBACK = "127.0.0.1"
TOKEN_PARAM = "token"
TOKEN_HEADER = "X-Ibdesk-Token"
TOKEN_TTL_S = 300.0  # an unused single-use launch token expires after five minutes
_TOKEN_LOCK = threading.Lock()
_STYLESHEET = Path(__file__).with_name("static") / "ibdesk.css"

F = TypeVar("F", bound=Callable[..., Any])


def new_secret() -> str:
    """Return a fresh random secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def require_loopback(host: str) -> None:
    """Refuse any listening address but the IPv4 loopback address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or str(address) != LOOPBACK:
        raise UserError(
            _(
                "ImageBank SysAdmin only listens on the loopback address "
                "%(LOOPBACK)s, so it refuses to serve on %(host)s.",
                LOOPBACK=LOOPBACK,
                host=repr(host),
            )
        )


def origin(port: int) -> str:
    """Return the app's origin for a port."""
    return f"http://{LOOPBACK}:{port}"


def token_header_auth(view: F) -> F:
    """Let a view be called with the token in a header instead of the cookie (for tools)."""
    view.ibdesk_token_header = True  # type: ignore[attr-defined]
    return view


def install(app: Flask, *, token: str, port: int | None) -> None:
    """Guard every request of the app and add the security headers to every response."""
    app.config["IBDESK_TOKEN"] = token
    app.config["IBDESK_COOKIE_KEY"] = new_secret()
    app.config["IBDESK_TOKEN_EXPIRES"] = time.monotonic() + TOKEN_TTL_S
    if port is not None:
        bind_port(app, port)
    app.before_request(_guard)
    app.after_request(_headers)
    app.context_processor(lambda: {"inline_stylesheet": _inline_stylesheet})


def bind_port(app: Flask, port: int) -> None:
    """Tell the app the port it is served on (Host, Origin and cookie names depend on it)."""
    app.config["IBDESK_PORT"] = port
    app.config["SERVER_NAME"] = f"{LOOPBACK}:{port}"
    app.config["SESSION_COOKIE_NAME"] = f"ibdesk-session-{port}"


def auth_cookie_name(app: Flask) -> str:
    """Return the name of the cookie that proves the browser got the token."""
    return f"ibdesk-{app.config['IBDESK_PORT']}"


def launch_url(app: Flask, path: str = "/") -> str:
    """Return the address, with the token, that opens the app once."""
    port = app.config["IBDESK_PORT"]
    return f"{origin(port)}{path}?{urlencode({TOKEN_PARAM: app.config['IBDESK_TOKEN']})}"


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _refuse(message: str) -> NoReturn:
    g.ibdesk_refused = True
    abort(403, description=message)


def _guard() -> Response | None:
    g.ibdesk_authenticated = False
    port = current_app.config.get("IBDESK_PORT")
    if port is None:
        _refuse(_("ImageBank SysAdmin is still starting; try again in a moment."))
    expected_host = f"{LOOPBACK}:{port}"
    if request.host != expected_host:
        _refuse(
            _(
                "ImageBank SysAdmin only answers at the address %(expected_host)s.",
                expected_host=expected_host,
            )
        )
    sent_origin = request.headers.get("Origin")
    if sent_origin is not None and sent_origin != origin(port):
        _refuse(_("Requests from other web pages are refused."))
    if TOKEN_PARAM in request.args:
        return _exchange_token()
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "ibdesk_token_header", False) and _same(
        request.headers.get(TOKEN_HEADER), current_app.config["IBDESK_TOKEN"]
    ):
        g.ibdesk_authenticated = True
        return None
    if not _same(
        request.cookies.get(auth_cookie_name(current_app)), current_app.config["IBDESK_COOKIE_KEY"]
    ):
        _refuse(
            _(
                "This page belongs to an ImageBank SysAdmin window; open it from that window, or "
                "use the address `ibdesk serve` printed."
            )
        )
    g.ibdesk_authenticated = True
    return None


def _exchange_token() -> Response:
    """Trade the launch token in the address for the session cookie, then drop it."""
    if request.method not in ("GET", "HEAD"):
        _refuse(_("The access key is only accepted when opening a page."))
    given = request.args.get(TOKEN_PARAM)
    if not _same(given, current_app.config["IBDESK_TOKEN"]):
        _refuse_token()
    _spend_token(given)
    rest = [(key, value) for key, value in request.args.items(multi=True) if key != TOKEN_PARAM]
    target = local_target(request.path) + (f"?{urlencode(rest)}" if rest else "")
    g.ibdesk_authenticated = True
    # A page that refreshes itself, not a redirect: when the address came from another
    # site (a file:// opener, for instance), browsers withhold SameSite=Strict cookies for
    # the whole redirect chain, whereas our own page's navigation is same-site.
    response = Response(render_template("home/opening.html", target=target))
    response.set_cookie(
        auth_cookie_name(current_app),
        current_app.config["IBDESK_COOKIE_KEY"],
        httponly=True,
        samesite="Strict",
        path="/",
    )
    return response


def local_target(path: str) -> str:
    """Return an address that can only name a path of this app (for the page after the token).

    Browsers read ``\\`` as ``/``, so ``//host`` and ``/\\host`` would name another site:
    leading slashes and backslashes collapse to one slash, and every other character that is
    not plainly part of a path is percent-encoded (a backslash becomes ``%5C``).
    """
    return "/" + quote(path.lstrip("/\\"), safe="/-._~!$&'()*+,;=:@%")


def local_next(value: str | None) -> str | None:
    """Return a ``next`` value (a page to go back to) as an address of this app, else None.

    The path goes through ``local_target``; the query is percent-encoded too, so a tampered
    value (a line break, ``//host``, ``/\\host``) can neither leave the app nor break the
    response's headers.
    """
    if not value or not value.startswith("/"):
        return None
    path, _sep, query = value.partition("?")
    encoded = quote(query, safe="/-._~!$&'()*+,;=:@%?")
    return local_target(path) + (f"?{encoded}" if query else "")


def single_use(app: Flask, renew: Callable[[str], None] | None = None) -> None:
    """Let each launch token open the app once only, within five minutes.

    The window opens it exactly once. ``ibdesk serve`` passes ``renew``: once a token is
    spent (or expired unused), a fresh one is made and ``renew`` gets its address, so the
    next browser gets a new one-time address while the first goes on with its cookie.
    """
    app.config["IBDESK_TOKEN_SINGLE_USE"] = True
    app.config["IBDESK_TOKEN_RENEW"] = renew


def renew_if_expired(app: Flask) -> None:
    """Replace an unused launch token that has expired, and announce the new address."""
    config = app.config
    with _TOKEN_LOCK:
        expired = time.monotonic() > config["IBDESK_TOKEN_EXPIRES"]
        if not (expired and config.get("IBDESK_TOKEN_RENEW")):
            return
        _mint(config)
        url = launch_url(app)
    config["IBDESK_TOKEN_RENEW"](url)


def _mint(config: dict[str, Any]) -> None:
    config["IBDESK_TOKEN"] = new_secret()
    config["IBDESK_TOKEN_EXPIRES"] = time.monotonic() + TOKEN_TTL_S
    config["IBDESK_TOKEN_SPENT"] = False


def _refuse_token() -> NoReturn:
    _refuse(
        _(
            "This address's access key is not valid for the running ImageBank SysAdmin: "
            "each address opens it once, within five minutes. Open the program again, or "
            "use the newest address `ibdesk serve` printed (or `ibdesk serve` prints it again)."
        )
    )


def _spend_token(given: str | None) -> None:
    # The token opens the app once, within TOKEN_TTL_S of the launch: a copy of the address
    # (a history file, a screenshot, another local user's process list) opens nothing.
    config = current_app.config
    if not config.get("IBDESK_TOKEN_SINGLE_USE"):
        return
    renew = config.get("IBDESK_TOKEN_RENEW")
    with _TOKEN_LOCK:
        # Compared again under the lock: two requests with the same token at once must not
        # both pass, the second after the first spent it and a fresh one was minted.
        if not _same(given, config["IBDESK_TOKEN"]):
            _refuse_token()
        expired = time.monotonic() > config["IBDESK_TOKEN_EXPIRES"]
        if config.get("IBDESK_TOKEN_SPENT") or expired:
            _refuse(
                _(
                    "This address's access key has already been used or has expired; "
                    "open the program again to get a new address."
                )
            )
        config["IBDESK_TOKEN_SPENT"] = True
        if renew is None:
            return
        _mint(config)
        url = launch_url(current_app)
    renew(url)


def _inline_stylesheet() -> Markup:
    """Return the stylesheet for pages shown before the cookie exists (static is guarded)."""
    g.ibdesk_style_nonce = getattr(g, "ibdesk_style_nonce", None) or secrets.token_urlsafe(16)
    return Markup(_STYLESHEET.read_text(encoding="utf-8"))


def content_security_policy(style_nonce: str | None = None) -> str:
    """Return the Content-Security-Policy: own scripts and styles only, no framing."""
    style = "'self'" + (f" 'nonce-{style_nonce}'" if style_nonce else "")
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src {style}; img-src 'self'; font-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def _headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(
        getattr(g, "ibdesk_style_nonce", None)
    )
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint == "static" and response.status_code == 200:
        headers["Cache-Control"] = "private, no-cache"
    else:
        headers["Cache-Control"] = "no-store"
    return response
