"""``ibdesk`` alone opens the window; ``ibdesk serve`` serves the same app to a web browser.

One ImageBank SysAdmin runs per user: a second start brings the user to the first one, or
says in one sentence why it cannot.
"""

from __future__ import annotations

import html
import os
import queue
import signal
import threading
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO

import click

from ibdesk import config, desktop, security
from ibdesk.app import create_app
from ibdesk.cli import Runtime, pass_runtime
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l

FOCUS_TIMEOUT_S = 5.0


def launch(runtime: Runtime) -> None:
    """Open the window; with no display or no Qt, say so and serve to the web browser."""
    if os.environ.get(desktop.PROBE_ENV):  # a packaged program probing its own display
        desktop.run_probe()
        return
    lock = _acquire("window")
    if lock is None:
        return
    try:
        probe = desktop.DisplayProbe()
        app = create_app(db_option=runtime.db_option)
        # One use from the start: the address is in the lock file while the display is probed.
        security.single_use(app)
        server = desktop.AppServer.start(app)
        token = app.config["IBDESK_TOKEN"]
        try:
            lock.publish(port=server.port, token=token, mode="window")
            reason = probe.reason()
            if reason is None:
                desktop.run_window(
                    server.launch_url,
                    server.port,
                    lambda focus: app.config.update(IBDESK_FOCUS=focus),
                    lambda choose: app.config.update(IBDESK_CHOOSE_FOLDER=choose),
                )
                return
            lock.publish(port=server.port, token=token, mode="serve")
            has_display = reason != desktop.NO_DISPLAY
            reason = reason[0].upper() + reason[1:]
            intro = (
                _(
                    "%(reason)s, so ImageBank SysAdmin opens in your web browser instead.",
                    reason=reason,
                )
                if has_display
                else _(
                    "%(reason)s, so ImageBank SysAdmin serves to a web browser instead.",
                    reason=reason,
                )
            )
            _serve_until_stopped(server, intro, open_browser=has_display, lock=lock)
        finally:
            server.stop()
    finally:
        lock.release()


@click.command("serve")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=_("any free port"),
    help=_l("Port on 127.0.0.1 to serve on (another free one is used when it is taken)."),
)
@click.option("--no-browser", is_flag=True, help=_l("Only print the address; open no browser."))
@pass_runtime
def serve(runtime: Runtime, port: int, no_browser: bool) -> None:
    """Serve the admin app on 127.0.0.1 for a web browser and print its address."""
    lock = _acquire("serve")
    if lock is None:
        return
    try:
        app = create_app(db_option=runtime.db_option)
        server = desktop.AppServer.start(app, port=port)
        try:
            lock.publish(port=server.port, token=app.config["IBDESK_TOKEN"], mode="serve")
            _serve_until_stopped(
                server, _("ImageBank SysAdmin is serving."), open_browser=not no_browser, lock=lock
            )
        finally:
            server.stop()
    finally:
        lock.release()


def register(main: click.Group) -> None:
    """Add the serve command to the ibdesk command."""
    main.add_command(serve)


def _serve_until_stopped(
    server: desktop.AppServer, intro: str, *, open_browser: bool, lock: desktop.InstanceLock
) -> None:
    # Each address opens the app once, within five minutes: once it is used (the browser
    # keeps its cookie) or expires, a fresh one is made, published in the lock file (so a
    # second `ibdesk serve` names it) and printed here for the next browser.
    fresh: queue.Queue[str] = queue.Queue()

    def renew(url: str) -> None:
        lock.publish(port=server.port, token=server.app.config["IBDESK_TOKEN"], mode="serve")
        fresh.put(url)

    security.single_use(server.app, renew)
    # Catch Ctrl+C and SIGTERM before saying where to connect: whoever reads the address
    # may stop the program right away, and it must still stop cleanly.
    with _stop_signals() as stop:
        if server.note:
            click.echo(server.note)
        url = server.launch_url
        page: Path | None = None
        # On a headless server the "default browser" would be a text browser in the terminal.
        if open_browser and desktop.may_have_display():
            page = open_in_browser(url)
            if page is None:
                intro += " " + _("No web browser could be opened.")
        click.echo(
            _(
                "%(intro)s\nOpen this address (it opens the program once, within five minutes; "
                "a new one is printed when it is used or expires):\n  %(url)s",
                intro=intro,
                url=url,
            )
        )
        click.echo(_("Press Ctrl+C to stop."))
        try:
            while not stop.wait(0.5):
                security.renew_if_expired(server.app)
                while not fresh.empty():
                    click.echo(
                        _(
                            "A new one-time address for the next browser:\n  %(url)s",
                            url=fresh.get(),
                        )
                    )
        finally:
            if page is not None:
                page.unlink(missing_ok=True)
    click.echo(_("ImageBank SysAdmin stopped."))


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """Turn SIGINT and SIGTERM into an event for as long as the block runs."""
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _acquire(mode: str) -> desktop.InstanceLock | None:
    """Take the one-instance lock, or deal with the instance that holds it and return None."""
    try:
        return desktop.InstanceLock.acquire()
    except desktop.AlreadyRunning as running:
        _join_running(running.other, mode)
        return None


def _join_running(other: desktop.RunningInstance, mode: str) -> None:
    who = _("ImageBank SysAdmin is already running (process %(pid)s)", pid=other.pid)
    if other.port is None or other.token is None:
        raise UserError(
            _("%(who)s and still starting; wait for it, or end it, then try again.", who=who)
        )
    url = f"{security.origin(other.port)}/?{security.TOKEN_PARAM}={other.token}"
    if mode == "serve":
        if other.mode == "window":
            raise UserError(
                _("%(who)s in a window; close it before starting `ibdesk serve`.", who=who)
            )
        raise UserError(
            _(
                "%(who)s at %(url)s; use that address, or stop it before starting another.",
                who=who,
                url=url,
            )
        )
    answer = _ask_to_focus(other.port, other.token)
    if answer == 204:
        click.echo(_("%(who)s; its window has been brought to the front.", who=who))
        return
    if answer == 409:  # it serves to a browser: take the user there
        if desktop.DisplayProbe().reason() is None and open_in_browser(url):
            click.echo(_("%(who)s; it has been opened in your web browser.", who=who))
            return
        raise UserError(
            _(
                "%(who)s at %(url)s; open that address, or stop it before starting another.",
                who=who,
                url=url,
            )
        )
    raise UserError(
        _(
            "%(who)s but does not answer; close it, or end process %(pid)s, then start it again.",
            who=who,
            pid=other.pid,
        )
    )


def _ask_to_focus(port: int, token: str) -> int | None:
    """Ask the running instance to raise its window; return the HTTP status or None."""
    request = urllib.request.Request(
        f"{security.origin(port)}/_instance/focus",
        method="POST",
        headers={security.TOKEN_HEADER: token},
        data=b"",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(request, timeout=FOCUS_TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


def open_in_browser(url: str) -> Path | None:
    """Open the app in the default browser without putting the token on a command line.

    The browser gets a file (readable by this user only) that forwards to the address;
    return that file, for the caller to remove at exit, or None when no browser opened.
    """
    folder = config.config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    page = folder / f"open-{os.getpid()}.html"
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        _write_redirect(fh, url)
    if not webbrowser.open(page.as_uri()):
        page.unlink(missing_ok=True)
        return None
    return page


def _write_redirect(fh: IO[str], url: str) -> None:
    target = html.escape(url, quote=True)
    fh.write(
        '<!doctype html><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={target}">'
        f'<title>{desktop.TITLE}</title><a href="{target}">Open {desktop.TITLE}</a>\n'
    )
