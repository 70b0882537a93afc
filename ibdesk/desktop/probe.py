"""Whether Qt can open a window here, found out in a child process.

Qt aborts the whole process when it cannot open a display, so a child tries first.
"""

from __future__ import annotations

import os
import subprocess
import sys

PROBE_ENV = "IBDESK_DISPLAY_PROBE"
PROBE_TIMEOUT_S = 30.0
NO_DISPLAY = "no display is available"

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
