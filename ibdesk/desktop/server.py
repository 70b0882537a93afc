"""The app served by werkzeug on 127.0.0.1 from a daemon thread, and the origin it serves.

Request threads are daemons too, so nothing but the window (or the ``serve`` loop) keeps the
process alive.
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ibdesk import security


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the access log (it would print the launch token)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing for a successful request."""


class AppServer:
    """The app served on the loopback address from a background thread."""

    def __init__(self, app: Flask, server: BaseWSGIServer, note: str | None) -> None:
        """Wrap a bound server; use ``AppServer.start``."""
        self.app = app
        self.server = server
        self.note = note  # a sentence when the asked-for port was taken
        self.port = server.port
        self._thread = threading.Thread(
            target=server.serve_forever, name="ibdesk-server", daemon=True
        )

    @classmethod
    def start(cls, app: Flask, *, host: str = security.LOOPBACK, port: int = 0) -> AppServer:
        """Bind (another free port if ``port`` is taken), tell the app its port, and serve."""
        security.require_loopback(host)
        sock, note = _bind(host, port)
        try:
            server = make_server(
                host,
                sock.getsockname()[1],
                app,
                threaded=True,
                request_handler=_QuietHandler,
                fd=sock.fileno(),
            )
        finally:
            sock.close()  # werkzeug serves on its own duplicate of the socket
        security.bind_port(app, server.port)
        instance = cls(app, server, note)
        instance._thread.start()
        return instance

    @property
    def launch_url(self) -> str:
        """Return the address that opens the app once, token included."""
        return security.launch_url(self.app)

    def stop(self) -> None:
        """Stop serving, cancel running jobs and close database connections."""
        self.server.shutdown()
        self._thread.join()
        self.app.extensions["ibdesk.jobs"].shutdown()
        self.app.extensions["ibdesk.database"].dispose()


def _bind(host: str, port: int) -> tuple[socket.socket, str | None]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sys.platform == "win32":  # without it, another program could bind the same port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    try:
        sock.bind((host, port))
        note = None
    except OSError as error:
        if port == 0 or error.errno not in (errno.EADDRINUSE, errno.EACCES):
            sock.close()
            raise
        sock.bind((host, 0))
        note = f"Port {port} is in use, so ImageBank SysAdmin uses port {sock.getsockname()[1]}."
    sock.listen(64)
    return sock, note


def is_app_url(url: str, port: int) -> bool:
    """Return whether the window may load this URL: only this app's origin (and Qt's own)."""
    parts = urlsplit(url)
    if parts.scheme == "qrc":  # Qt's built-in resources (pywebview's bridge script)
        return True
    try:
        port_matches = parts.port == port
    except ValueError:  # a port out of range
        return False
    return parts.scheme == "http" and parts.hostname == security.LOOPBACK and port_matches
