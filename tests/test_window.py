"""The desktop window for real: pywebview on Qt under Xvfb, screenshot, close; its fallbacks."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from PIL import Image, ImageGrab
from sqlalchemy.orm import Session

from ibdesk import clinic_settings
from ibdesk.db import make_engine
from ibdesk.desktop import folder_chooser
from webfixtures import IBDESK, WAIT_S, ibdesk_env, start_ibdesk

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TITLE = "ImageBank SysAdmin"
HEADER = (0x0F, 0x4C, 0x5C)  # --header in ibdesk.css
STATUS_BAR = (0xE9, 0xEE, 0xF0)
ERROR_BG = (0xFD, 0xEC, 0xEC)  # --err-bg: an error page would show it
T = TypeVar("T")
WINDOW_WAIT_S = 120.0  # Qt WebEngine starts slowly on a busy machine


def die_with_pytest() -> None:
    """Have the child get SIGTERM if the test run dies (no stray windows or X servers)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def run_offscreen(script: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Qt script in a child process with no display (offscreen), ibdesk home in `home`."""
    env = {**os.environ, "IBDESK_HOME": str(home)}
    env.pop("DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=WINDOW_WAIT_S,
        check=False,
        preexec_fn=die_with_pytest,
    )


@pytest.fixture
def clinic_db(tmp_path: Path, sqlite_template: Path) -> str:
    """Return a migrated SQLite database with an image folder set."""
    path = tmp_path / "imagebank.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, "/srv/bilder/Röntgen")
        session.commit()
    engine.dispose()
    return f"sqlite:///{path}"


@pytest.fixture
def xvfb() -> Iterator[str]:
    """Start a private X server on a display number it picks itself; return ":N"."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_pytest,
    )
    os.close(write_end)
    with os.fdopen(read_end) as numbers:
        number = numbers.readline().strip()
    assert number.isdigit(), "Xvfb did not start"
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=WAIT_S)


def wait_for(
    condition: Callable[[], T | Literal[False, ""] | None],
    what: str,
    proc: subprocess.Popen[Any] | None = None,
    timeout: float = WAIT_S,
) -> T:
    """Poll until condition() returns something truthy; fail if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"ibdesk exited ({proc.returncode}) before {what}")
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def find_window(display: str) -> int | None:
    found = subprocess.run(
        ["xdotool", "search", "--name", f"^{TITLE}$"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        check=False,
    )
    ids = found.stdout.split()
    return int(ids[0]) if ids else None


def close_window(display: str, window: int) -> None:
    """Ask the window to close as a window manager does: a WM_DELETE_WINDOW message."""
    xlib = ctypes.cdll.LoadLibrary("libX11.so.6")
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XSendEvent.argtypes = [
        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p
    ]  # fmt: skip
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [  # the layout of XClientMessageEvent
            ("type", ctypes.c_int),
            ("serial", ctypes.c_ulong),
            ("send_event", ctypes.c_int),
            ("display", ctypes.c_void_p),
            ("window", ctypes.c_ulong),
            ("message_type", ctypes.c_ulong),
            ("format", ctypes.c_int),
            ("data", ctypes.c_long * 5),
            ("pad", ctypes.c_long * 12),  # XEvent is 24 longs
        ]

    # Xlib's default error handler ends the whole process (pytest included): record instead.
    errors: list[int] = []
    handler_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

    def record(_dpy: int, _event: int) -> int:
        errors.append(1)
        return 0

    handler = handler_type(record)
    xlib.XSetErrorHandler.argtypes = [handler_type]
    xlib.XSetErrorHandler.restype = ctypes.c_void_p
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    previous = xlib.XSetErrorHandler(handler)
    dpy = xlib.XOpenDisplay(display.encode())
    assert dpy, f"cannot open {display}"
    event = ClientMessage(type=33, window=window, format=32)  # 33 = ClientMessage
    event.message_type = xlib.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
    event.data[0] = xlib.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    xlib.XSendEvent(dpy, window, 0, 0, ctypes.byref(event))
    xlib.XSync(dpy, 0)
    xlib.XCloseDisplay(dpy)
    xlib.XSetErrorHandler(ctypes.cast(previous, handler_type))
    assert not errors, f"X refused to send the close message to window {window}"


def shows_the_app(shot: Image.Image) -> bool:
    """Tell a rendered overview from a blank window or an error page, by its colours."""
    counts = {colour: n for n, colour in shot.getcolors(maxcolors=1 << 20) or []}
    width = shot.width
    return (
        counts.get(HEADER, 0) > width * 30  # the header band
        and counts.get(STATUS_BAR, 0) > width * 15  # the status bar: the full frame drew
        and counts.get((255, 255, 255), 0) > width * 100  # the overview's panel
        and counts.get(ERROR_BG, 0) == 0
        and len(counts) > 100  # text was drawn
    )


def app_screenshot(display: str) -> Image.Image | None:
    """Return a screenshot of the display once it shows the app, else None."""
    shot = ImageGrab.grab(xdisplay=display).convert("RGB")
    return shot if shows_the_app(shot) else None


@pytest.mark.window
def test_the_window_shows_the_app_and_closing_it_ends_the_program(
    xvfb: str, tmp_path: Path, clinic_db: str
) -> None:
    home = tmp_path / "home"
    env = ibdesk_env(home, clinic_db, DISPLAY=xvfb)
    log = (tmp_path / "ibdesk.log").open("w+")
    proc = subprocess.Popen(
        IBDESK, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_pytest
    )
    try:
        wait_for(lambda: find_window(xvfb), "the window", proc, WINDOW_WAIT_S)
        shot = wait_for(lambda: app_screenshot(xvfb), "the app in the window", proc, WINDOW_WAIT_S)
        ARTIFACTS.mkdir(exist_ok=True)
        shot.save(ARTIFACTS / "window.png")
        lock = json.loads((home / "ibdesk.lock").read_text())
        assert lock["pid"] == proc.pid and lock["mode"] == "window"
        assert stat.S_IMODE((home / "ibdesk.lock").stat().st_mode) == 0o600

        second = subprocess.run(
            IBDESK, env=env, capture_output=True, text=True, timeout=WAIT_S, check=False
        )
        assert second.returncode == 0, second.stderr
        assert "its window has been brought to the front" in second.stdout
        assert proc.poll() is None

        # A client that keeps a request half-sent holds a server thread: it must not matter.
        idle = socket.create_connection(("127.0.0.1", lock["port"]), timeout=WAIT_S)
        idle.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        # Raising the window re-creates its X window under Qt: look it up again.
        close_window(xvfb, wait_for(lambda: find_window(xvfb), "the window", proc))
        assert proc.wait(timeout=WAIT_S) == 0
        idle.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        output = log.read()
        print(output)  # shown by pytest when the test fails
        log.close()
    assert "Traceback" not in output, output
    assert (home / "ibdesk.lock").read_text() == ""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", lock["port"]), timeout=2)


def test_without_a_display_it_says_so_and_serves_to_a_browser(
    tmp_path: Path, clinic_db: str
) -> None:
    served = start_ibdesk(ibdesk_env(tmp_path / "home", clinic_db))
    try:
        assert served.output[0] == (
            "No display is available, so ImageBank SysAdmin serves to a web browser instead."
        )
        with socket.create_connection(("127.0.0.1", int(served.origin.rsplit(":", 1)[1]))):
            pass
    finally:
        assert served.stop() == 0


@pytest.mark.parametrize(
    ("without_qt", "reason"),
    [
        (False, "Qt cannot open the display :64999"),
        (True, "The window needs PySide6 with Qt WebEngine and pywebview (ibdesk[desktop])"),
    ],
    ids=["display-refused", "qt-missing"],
)
def test_without_a_window_the_default_browser_opens_the_app(
    tmp_path: Path, clinic_db: str, without_qt: bool, reason: str
) -> None:
    """Qt aborts a process that cannot open its display; the probe takes that blow instead."""
    record = tmp_path / "browser-got.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(
        "import sys, stat\nfrom pathlib import Path\nfrom urllib.parse import urlsplit, unquote\n"
        "page = Path(unquote(urlsplit(sys.argv[1]).path))\n"
        f"Path({str(record)!r}).write_text(oct(stat.S_IMODE(page.stat().st_mode)) + '\\n'"
        " + page.read_text())\n"
    )
    extra = {"DISPLAY": ":64999", "BROWSER": f"{sys.executable} {browser} %s"}
    if without_qt:  # a pywebview that is not installed
        fake = tmp_path / "no-qt" / "webview"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text("raise ImportError('absent', name='webview')\n")
        extra["PYTHONPATH"] = str(fake.parent)
    served = start_ibdesk(ibdesk_env(tmp_path / "home", clinic_db, **extra))
    try:
        assert served.output[0] == (
            f"{reason}, so ImageBank SysAdmin opens in your web browser instead."
        )
        got = wait_for(lambda: record.exists() and record.read_text(), "the browser")
        mode, page = got.split("\n", 1)
        assert mode == "0o600"  # the page carrying the token is private to this user
        assert served.url in page
    finally:
        assert served.stop() == 0
    assert not list((tmp_path / "home").glob("open-*.html"))  # removed at exit


GUARD_SCRIPT = """
import http.server, json, os, threading
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from ibdesk.desktop import origin_guard, prepare_qt_environment
prepare_qt_environment()
from PySide6.QtCore import QTimer, QUrl
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QApplication

hits = {"app": [], "foreign": []}

def serve(name, body):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits[name].append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body.encode())
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]

foreign = serve("foreign", "<h1>elsewhere</h1>")
away = f"http://127.0.0.1:{foreign}"
app = serve("app", f'<img src="{away}/pixel.png"><script>'
            f'setTimeout(() => {{ location.href = "{away}/away"; }}, 200)</script>')
home = f"http://127.0.0.1:{app}/"
qapp = QApplication(["guard"])
profile = QWebEngineProfile()
view = QWebEngineView()
view.setPage(QWebEnginePage(profile, view))
guard = origin_guard(app, view)
profile.setUrlRequestInterceptor(guard)
view.setUrl(QUrl(home + "start"))
ticks = [0]
def check():
    ticks[0] += 1
    # the view names its new URL before loading it: wait for the home page's request itself
    if "/" in hits["app"] or ticks[0] > 600:
        qapp.quit()
timer = QTimer()
timer.timeout.connect(check)
timer.start(100)
qapp.exec()
print(json.dumps({"app": hits["app"], "foreign": hits["foreign"], "url": view.url().toString()}))
"""


@pytest.mark.window
def test_the_window_never_loads_anything_from_another_site(tmp_path: Path) -> None:
    """A page of the app that pulls an image from elsewhere and then navigates away."""
    done = run_offscreen(GUARD_SCRIPT, tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["foreign"] == []  # neither the image nor the navigation left the app
    assert seen["app"][0] == "/start" and "/" in seen["app"]  # brought back home
    assert seen["url"].endswith("/")


class FakeWindow:
    """A pywebview window whose folder dialog stays open until the test answers it."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, str]] = []
        self.opened = threading.Event()
        self.answer: tuple[str, ...] | None = None
        self.answered = threading.Event()

    def create_file_dialog(self, dialog_type: int, directory: str = "") -> tuple[str, ...] | None:
        self.asked.append((dialog_type, directory))
        self.opened.set()
        assert self.answered.wait(WAIT_S)
        return self.answer


def test_the_folder_chooser_asks_the_window_once_at_a_time() -> None:
    import webview

    window = FakeWindow()
    choose = folder_chooser(window)
    got: list[str | None] = []
    first = threading.Thread(target=lambda: got.append(choose("/media/usb")))
    first.start()
    assert window.opened.wait(WAIT_S)
    assert choose("/elsewhere") is None  # a second dialog is not stacked on the first
    window.answer = ("/media/usb/Export åäö",)
    window.answered.set()
    first.join(WAIT_S)
    assert got == ["/media/usb/Export åäö"]
    assert window.asked == [(webview.FileDialog.FOLDER, "/media/usb")]
    window.answer = None  # the user pressed Cancel
    assert choose("") is None


DIALOGS_SCRIPT = """
import http.server, json, os, sys, threading, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from ibdesk.desktop import folder_chooser, prepare_qt_environment, save_downloads
prepare_qt_environment()
import webview
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

chosen, start, saved_as = sys.argv[1:4]
body = "Exported 2 patients (Åsa Öberg).\\n".encode()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        if self.path == "/summary":
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Disposition", 'attachment; filename="export-summary.txt"')
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b'<a id="save" href="/summary" download>Save</a>')
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
seen = {}

def answer_dialog():  # what the user does in the folder dialog
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QFileDialog) and widget.isVisible():
            seen["dialog_started_in"] = widget.directory().absolutePath()
            widget.setDirectory(chosen)
            widget.accept()

def ask(suggested):
    seen["suggested"] = os.path.basename(suggested)
    return saved_as

def before_show(window):
    save_downloads(window.native.profile, ask)
    timer = QTimer(window.native)
    timer.timeout.connect(answer_dialog)
    timer.start(100)
    window.native.ibdesk_test_timer = timer

def work(window):
    seen["chosen"] = folder_chooser(window)(start)
    window.evaluate_js("document.getElementById('save').click()")
    for _ in range(600):
        if os.path.exists(saved_as) and open(saved_as, "rb").read() == body:
            seen["saved"] = open(saved_as, encoding="utf-8").read()
            break
        time.sleep(0.1)
    window.destroy()

window = webview.create_window("dialogs", f"http://127.0.0.1:{server.server_address[1]}/")
window.events.before_show += before_show
webview.start(work, window, gui="qt", private_mode=True)
print(json.dumps(seen))
"""


@pytest.mark.window
def test_the_window_lends_its_folder_dialog_and_saves_downloads(tmp_path: Path) -> None:
    """The real pywebview dialog answers the chooser; a download lands where the user said."""
    chosen, start = tmp_path / "Exportmapp åäö", tmp_path / "start"
    chosen.mkdir()
    start.mkdir()
    saved_as = tmp_path / "Sparat här" / "sammanfattning.txt"
    saved_as.parent.mkdir()
    done = run_offscreen(DIALOGS_SCRIPT, tmp_path, str(chosen), str(start), str(saved_as))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["dialog_started_in"] == str(start)
    assert seen["chosen"] == str(chosen)
    assert seen["suggested"] == "export-summary.txt"  # the server's name is offered
    assert seen["saved"] == "Exported 2 patients (Åsa Öberg).\n"


PRINT_SCRIPT = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from ibdesk.desktop import prepare_qt_environment, print_on_request
prepare_qt_environment()
from PySide6.QtCore import QTimer, QUrl
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QApplication

out = sys.argv[1]
app = QApplication([])
view = QWebEngineView()
asked = []

def ask(printer):  # what the user does in the print dialog: print to a PDF file
    asked.append(printer.pageLayout().pageSize().id())
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(out)
    return True

print_on_request(view, ask)
view.printFinished.connect(lambda ok: (print("finished", ok, len(asked)), app.quit()))
view.loadFinished.connect(lambda ok: view.page().runJavaScript("window.print()"))
view.setHtml("<h1>Statistik för Kliniken i Åre</h1>", QUrl("about:blank"))
QTimer.singleShot(60_000, app.quit)
app.exec()
"""


@pytest.mark.window
def test_a_page_that_asks_to_print_is_printed(tmp_path: Path) -> None:
    """window.print() reaches the print dialog's printer, and the page comes out printed."""
    out = tmp_path / "utskrift.pdf"
    done = run_offscreen(PRINT_SCRIPT, tmp_path, str(out))
    assert done.returncode == 0, done.stderr
    assert "finished True 1" in done.stdout, done.stdout + done.stderr
    assert out.read_bytes().startswith(b"%PDF")
