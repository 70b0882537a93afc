"""The pywebview window on Qt (PySide6) and the native dialogs it lends the app.

pywebview's JavaScript bridge needs ``eval``, which the app's Content-Security-Policy
forbids, so pages never call Python directly: a route of the app calls the
``FolderChooser`` the shell hands it (``IBDESK_CHOOSE_FOLDER``), behind the same token
cookie and CSRF check as every other request; and downloads (saved summaries, CSV, PDF) ask
where to save with Qt's own dialog (``save_downloads``). A page's [Print]
(``window.print()``) opens the system's print dialog (``print_on_request``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from ibdesk import security
from ibdesk.desktop.server import is_app_url

TITLE = "ImageBank SysAdmin"

# Ask for a folder, starting in the given one; return the chosen folder or None (cancelled).
FolderChooser = Callable[[str], str | None]


def prepare_qt_environment(env: MutableMapping[str, str] = os.environ) -> None:
    """Turn Chromium's sandbox off for Qt WebEngine when running as root (it refuses else)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "").split()
        if "--no-sandbox" not in flags:
            env["QTWEBENGINE_CHROMIUM_FLAGS"] = " ".join([*flags, "--no-sandbox"])


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
