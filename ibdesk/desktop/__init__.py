"""The desktop shell: the local server, the one-instance lock, the display probe, the window.

The Flask app is served on 127.0.0.1 from a background thread (``server``); one instance
runs per user (``instance``); a child process first finds out whether Qt can open a display
(``probe``), since Qt aborts the process when it cannot; the window is pywebview on Qt
(PySide6) and lends the app its native dialogs (``window``).
"""

from ibdesk.desktop.instance import AlreadyRunning, InstanceLock, RunningInstance
from ibdesk.desktop.probe import NO_DISPLAY, PROBE_ENV, DisplayProbe, may_have_display, run_probe
from ibdesk.desktop.server import AppServer, is_app_url
from ibdesk.desktop.window import (
    TITLE,
    FolderChooser,
    folder_chooser,
    origin_guard,
    prepare_qt_environment,
    print_on_request,
    run_window,
    save_downloads,
)

__all__ = [
    "NO_DISPLAY",
    "PROBE_ENV",
    "TITLE",
    "AlreadyRunning",
    "AppServer",
    "DisplayProbe",
    "FolderChooser",
    "InstanceLock",
    "RunningInstance",
    "folder_chooser",
    "is_app_url",
    "may_have_display",
    "origin_guard",
    "prepare_qt_environment",
    "print_on_request",
    "run_probe",
    "run_window",
    "save_downloads",
]
