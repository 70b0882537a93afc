"""The desktop shell: the local server, the one-instance lock, the display probe, the window.

The Flask app is served by werkzeug on 127.0.0.1 from a daemon thread with daemon request
threads, so nothing but the window (or the ``serve`` loop) keeps the process alive. The
window is pywebview on Qt (PySide6). Qt aborts the whole process when it cannot open a
display, so a child process tries first (``DisplayProbe``).

The window lends the app two native dialogs. pywebview's JavaScript bridge needs ``eval``,
which the app's Content-Security-Policy forbids, so pages never call Python directly: a
route of the app calls the ``FolderChooser`` the shell hands it (``IBDESK_CHOOSE_FOLDER``),
behind the same token cookie and CSRF check as every other request; and downloads (saved
summaries, CSV, PDF) ask where to save with Qt's own dialog (``save_downloads``). A page's
[Print] (``window.print()``) opens the system's print dialog (``print_on_request``).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ibdesk import config, security

TITLE = "ImageBank SysAdmin"
PROBE_ENV = "IBDESK_DISPLAY_PROBE"
LOCK_NAME = "ibdesk.lock"
PROBE_TIMEOUT_S = 30.0
NO_DISPLAY = "no display is available"

# Ask for a folder, starting in the given one; return the chosen folder or None (cancelled).
FolderChooser = Callable[[str], str | None]

# Run in a child process: Qt calls abort() when there is no usable display.
_PROBE_CODE = """
import sys
try:
    import webview
    from PySide6 import QtWebEngineWidgets
    from PySide6.QtWidgets import QApplication
except ImportError as error:
    sys.stderr.write(f"missing {error.name}")
    sys.exit(3)
QApplication(["ibdesk"])
"""


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


@dataclass(frozen=True)
class RunningInstance:
    """What a running ImageBank SysAdmin wrote into its lock file."""

    pid: int | None
    port: int | None
    mode: str | None  # "window" or "serve"
    token: str | None


class AlreadyRunning(Exception):
    """Another ImageBank SysAdmin of this user holds the lock."""

    def __init__(self, other: RunningInstance) -> None:
        """Carry what the other instance published."""
        super().__init__(f"ImageBank SysAdmin is already running (process {other.pid}).")
        self.other = other


class InstanceLock:
    """One ImageBank SysAdmin per user: an OS lock on a file in the configuration folder.

    The operating system drops the lock when the process ends, however it ends, so a crash
    leaves no stale lock. The file (readable by this user only) says where the running
    instance listens, so a second start can bring the user there.
    """

    def __init__(self, fd: int, path: Path) -> None:
        """Hold an already locked file; use ``InstanceLock.acquire``."""
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, path: Path | None = None) -> InstanceLock:
        """Take the lock, or raise AlreadyRunning with what the holder published."""
        if path is None:
            folder = config.config_dir()
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            if not _try_lock(fd):
                raise AlreadyRunning(_read_instance(fd))
        except BaseException:
            os.close(fd)
            raise
        lock = cls(fd, path)
        lock._write({"pid": os.getpid(), "port": None, "mode": None, "token": None})
        return lock

    def publish(self, *, port: int, token: str, mode: str) -> None:
        """Record where this instance listens, for a second start to find it."""
        self._write({"pid": os.getpid(), "port": port, "mode": mode, "token": token})

    def release(self) -> None:
        """Empty the file and drop the lock (the file stays: removing it would race)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        _unlock(self._fd)
        os.close(self._fd)
        self._fd = None

    def _write(self, data: dict[str, Any]) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, json.dumps(data).encode())


if sys.platform == "win32":
    import msvcrt

    _WIN_LOCK_OFFSET = 1 << 30  # lock a byte far past the text, so others can still read it

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_instance(fd: int) -> RunningInstance:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        data = json.loads(os.read(fd, 65536).decode() or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}

    def pick(key: str, kind: type) -> Any:
        value = data.get(key)
        return value if isinstance(value, kind) else None

    return RunningInstance(
        pick("pid", int), pick("port", int), pick("mode", str), pick("token", str)
    )


class DisplayProbe:
    """Finds out, in a child process, whether Qt can open a window here."""

    def __init__(self) -> None:
        """Start the child at once, so it runs while the server starts."""
        self._reason: str | None = _obvious_lack_of_display()
        self._proc: subprocess.Popen[str] | None = None
        if self._reason is None:
            if getattr(sys, "frozen", False):  # a packaged program has no `python -c`
                command, env = [sys.executable], {**os.environ, PROBE_ENV: "1"}
            else:
                command, env = [sys.executable, "-c", _PROBE_CODE], dict(os.environ)
            self._proc = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
            )

    def reason(self, timeout: float = PROBE_TIMEOUT_S) -> str | None:
        """Return None when the window can open, else why not (a clause for a sentence)."""
        if self._proc is None:
            return self._reason
        try:
            self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            return "the display did not answer"
        if self._proc.returncode == 0:
            return None
        if self._proc.returncode == 3:
            return "the window needs PySide6 with Qt WebEngine and pywebview (ibdesk[desktop])"
        display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "?"
        return f"Qt cannot open the display {display}"


def may_have_display() -> bool:
    """Return False when there is clearly no graphical session (no browser to open either)."""
    return _obvious_lack_of_display() is None


def _obvious_lack_of_display() -> str | None:
    if not sys.platform.startswith("linux") and "bsd" not in sys.platform:
        return None
    if any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return None
    return NO_DISPLAY


def run_probe() -> None:
    """Be the display probe (a packaged program runs itself with IBDESK_DISPLAY_PROBE set)."""
    exec(compile(_PROBE_CODE, "<ibdesk display probe>", "exec"), {})


def prepare_qt_environment(env: MutableMapping[str, str] = os.environ) -> None:
    """Turn Chromium's sandbox off for Qt WebEngine when running as root (it refuses else)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "").split()
        if "--no-sandbox" not in flags:
            env["QTWEBENGINE_CHROMIUM_FLAGS"] = " ".join([*flags, "--no-sandbox"])


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


def origin_guard(port: int, view: Any) -> Any:
    """Return a Qt request interceptor that blocks all but the app's origin for this view.

    Every request of the page goes through it (navigations, images, scripts, fetches); a
    blocked navigation of the page itself brings the view back to the app's home.
    """
    from PySide6.QtCore import QTimer, QUrl
    from PySide6.QtWebEngineCore import QWebEngineUrlRequestInfo, QWebEngineUrlRequestInterceptor

    home = QUrl(security.origin(port) + "/")
    main_frame = QWebEngineUrlRequestInfo.ResourceType.ResourceTypeMainFrame

    class OriginGuard(QWebEngineUrlRequestInterceptor):
        def interceptRequest(self, info: Any) -> None:
            if is_app_url(info.requestUrl().toString(), port):
                return
            info.block(True)
            if info.resourceType() == main_frame:
                QTimer.singleShot(0, lambda: view.setUrl(home))

    return OriginGuard()


def folder_chooser(window: Any) -> FolderChooser:
    """Return a FolderChooser that shows the window's folder dialog (one at a time).

    It blocks the calling thread (an app request) until the user answers; pywebview shows
    the dialog on the GUI thread. A second ask while one is open answers None at once.
    """
    import webview

    open_now = threading.Lock()

    def choose(start: str = "") -> str | None:
        if not open_now.acquire(blocking=False):
            return None
        try:
            chosen = window.create_file_dialog(webview.FileDialog.FOLDER, directory=start)
        finally:
            open_now.release()
        return str(chosen[0]) if chosen else None

    return choose


def save_downloads(profile: Any, ask: Callable[[str], str]) -> None:
    """Save the profile's downloads where ``ask`` says (given the suggested path; "" cancels).

    Qt WebEngine drops a download nobody accepts, and pywebview's own handler uses an API
    that Qt 6 removed, so the window does it here.
    """

    def requested(download: Any) -> None:
        suggested = str(Path(download.downloadDirectory()) / download.downloadFileName())
        path = ask(suggested)
        if not path:
            download.cancel()
            return
        target = Path(path)
        download.setDownloadDirectory(str(target.parent))
        download.setDownloadFileName(target.name)
        download.accept()

    profile.downloadRequested.connect(requested)


def print_on_request(view: Any, ask: Callable[[Any], bool]) -> None:
    """Print the page when it calls ``window.print()``: ``ask`` sets up the printer (A4).

    Qt WebEngine ignores ``window.print()`` until someone answers ``printRequested``; the
    printer is kept on the view until Qt says the printing finished.
    """
    from PySide6.QtGui import QPageSize
    from PySide6.QtPrintSupport import QPrinter

    def requested() -> None:
        if getattr(view, "ibdesk_printer", None) is not None:
            return  # one printout at a time
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        if not ask(printer):
            return
        view.ibdesk_printer = printer
        view.print(printer)

    def finished(_ok: bool) -> None:
        view.ibdesk_printer = None

    view.printRequested.connect(requested)
    view.printFinished.connect(finished)


def _ask_printer(parent: Any) -> Callable[[Any], bool]:
    def ask(printer: Any) -> bool:
        from PySide6.QtPrintSupport import QPrintDialog
        from PySide6.QtWidgets import QDialog

        return bool(QPrintDialog(printer, parent).exec() == QDialog.DialogCode.Accepted)

    return ask


def run_window(
    url: str,
    port: int,
    on_focus_ready: Callable[[Callable[[], None]], None],
    on_folder_chooser_ready: Callable[[FolderChooser], None] | None = None,
) -> None:
    """Show the app in a window until the user closes it (blocks, on the main thread)."""
    prepare_qt_environment()
    import webview
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QFileDialog

    class Raiser(QObject):
        """Lives on the GUI thread; a signal from any thread raises the window there."""

        wanted = Signal()

        def __init__(self, widget: Any) -> None:
            super().__init__()
            self._widget = widget
            self.wanted.connect(self._raise)

        def _raise(self) -> None:
            if self._widget.isMinimized():
                self._widget.showNormal()
            self._widget.show()
            self._widget.raise_()
            self._widget.activateWindow()

    def prepare(window: Any) -> None:  # pywebview runs it on the GUI thread, before loading
        native = window.native
        native.ibdesk_guard = origin_guard(port, native.webview)
        native.profile.setUrlRequestInterceptor(native.ibdesk_guard)
        native.ibdesk_raiser = Raiser(native)
        save_downloads(
            native.profile,
            lambda suggested: QFileDialog.getSaveFileName(native, "Save", suggested)[0],
        )
        print_on_request(native.webview, _ask_printer(native))

    webview.settings["ALLOW_FILE_URLS"] = False
    webview.settings["OPEN_EXTERNAL_LINKS_IN_BROWSER"] = False
    window = webview.create_window(
        TITLE,
        url,
        width=1280,
        height=800,
        min_size=(1024, 700),
        text_select=True,
        background_color="#F4F6F7",
    )
    assert window is not None
    window.events.before_show += prepare

    def bring_to_front() -> None:
        raiser = getattr(window.native, "ibdesk_raiser", None)
        if raiser is not None:
            raiser.wanted.emit()

    on_focus_ready(bring_to_front)
    if on_folder_chooser_ready is not None:
        on_folder_chooser_ready(folder_chooser(window))
    webview.start(gui="qt", private_mode=True)
