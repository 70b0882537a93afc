"""HTML to an A4 PDF with Qt WebEngine, always in a child process.

    python -m ibdesk.pdf IN.html|- OUT.pdf

Qt aborts the whole process when it cannot start (a missing library, no platform plugin),
with no Python exception to catch, so the program never loads it itself: ``html_to_pdf``
runs this module as a child, offscreen (``QT_QPA_PLATFORM=offscreen``, no display needed)
and with Chromium's sandbox off when running as root, and turns any failure into one
sentence. The page gets no network and no script: what it prints is the HTML given.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l

TIMEOUT_S = 60.0
MARGIN_MM = 12.0
# QWebEnginePage.setHtml refuses more than 2 MB; larger pages are loaded from a file.
SET_HTML_LIMIT = 1_500_000
EXIT_USAGE, EXIT_NO_QT, EXIT_FAILED = 2, 3, 4
# A built program has no `python -m`: it runs itself with this set (see ibdesk/__main__.py).
CHILD_ENV = "IBDESK_PDF_CHILD"
NO_QT = _l(
    "Making a PDF needs PySide6 with Qt WebEngine (install ibdesk[desktop]), "
    "which this computer does not have."
)


class PdfError(UserError):
    """A PDF could not be made, explained in one sentence."""


def child_environment(env: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment Qt WebEngine needs to print here: offscreen, sandbox off as root."""
    result = dict(os.environ if env is None else env)
    result["QT_QPA_PLATFORM"] = "offscreen"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = result.get("QTWEBENGINE_CHROMIUM_FLAGS", "").split()
        if "--no-sandbox" not in flags:
            result["QTWEBENGINE_CHROMIUM_FLAGS"] = " ".join([*flags, "--no-sandbox"])
    return result


def html_to_pdf(html: str, *, timeout: float = TIMEOUT_S) -> bytes:
    """Print HTML to an A4 PDF in a child process and return the PDF's bytes."""
    with tempfile.TemporaryDirectory(prefix="ibdesk-pdf-") as folder:
        out = Path(folder) / "printed.pdf"
        _run_child(["-", str(out)], html.encode("utf-8"), timeout)
        data = out.read_bytes() if out.is_file() else b""
    if not data.startswith(b"%PDF"):
        raise PdfError(_("Qt WebEngine ended without writing a PDF."))
    return data


def write_pdf(html: str, path: Path, *, timeout: float = TIMEOUT_S) -> None:
    """Print HTML to an A4 PDF file (written whole or not at all)."""
    data = html_to_pdf(html, timeout=timeout)
    try:
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as error:
        raise PdfError(
            _("Cannot write %(path)s: %(value)s.", path=path, value=error.strerror or error)
        ) from error


def _run_child(args: list[str], stdin: bytes, timeout: float) -> None:
    env = child_environment()
    if getattr(sys, "frozen", False):
        command = [sys.executable, *args]
        env[CHILD_ENV] = "1"
    else:
        command = [sys.executable, "-m", "ibdesk.pdf", *args]
    try:
        proc = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise PdfError(
            _(
                "Qt WebEngine did not finish printing the PDF within %(timeout)s seconds.",
                timeout=format(timeout, "g"),
            )
        ) from error
    if proc.returncode == 0:
        return
    if proc.returncode == EXIT_NO_QT:
        raise PdfError(NO_QT)
    said = _last_line(proc.stderr)
    if proc.returncode == EXIT_FAILED and said:
        raise PdfError(said)
    how = (
        _("signal %(number)s", number=-proc.returncode)
        if proc.returncode < 0
        else _("exit code %(number)s", number=proc.returncode)
    )
    raise PdfError(
        _(
            "Qt WebEngine could not run to print the PDF (%(how)s: %(said)s); check that its "
            "libraries are installed.",
            how=how,
            said=said,
        )
        if said
        else _(
            "Qt WebEngine could not run to print the PDF (%(how)s); check that its libraries "
            "are installed.",
            how=how,
        )
    )


def _last_line(stderr: bytes) -> str:
    """Return our own message from the child's error output (Qt's chatter is dropped)."""
    for line in reversed(stderr.decode("utf-8", "replace").splitlines()):
        if line.startswith("ibdesk.pdf: "):
            return line.removeprefix("ibdesk.pdf: ").strip()[:300]
    return ""


def _print(source: Path | str, out: Path) -> None:
    """Load the page (a file, or HTML text) and print it to ``out`` (runs Qt; child only)."""
    from PySide6.QtCore import QCoreApplication, QMarginsF, Qt, QTimer, QUrl
    from PySide6.QtGui import QPageLayout, QPageSize
    from PySide6.QtWebEngineCore import (
        QWebEnginePage,
        QWebEngineProfile,
        QWebEngineSettings,
        QWebEngineUrlRequestInterceptor,
    )
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication(["ibdesk-pdf"])
    allowed = QUrl.fromLocalFile(str(source)) if isinstance(source, Path) else None

    class NoNetwork(QWebEngineUrlRequestInterceptor):
        def interceptRequest(self, info: object) -> None:  # Qt's name and signature
            url = info.requestUrl()  # type: ignore[attr-defined]
            if url.scheme() == "data" or (allowed is not None and url == allowed):
                return
            info.block(True)  # type: ignore[attr-defined]

    profile = QWebEngineProfile()  # off the record: nothing is written to disk
    guard = NoNetwork()
    profile.setUrlRequestInterceptor(guard)
    page = QWebEnginePage(profile)
    page.settings().setAttribute(QWebEngineSettings.WebAttribute.JavascriptEnabled, False)
    outcome: list[str] = []

    def loaded(ok: bool) -> None:
        if not ok:
            outcome.append(_("Qt WebEngine could not load the page to print."))
            app.quit()
            return
        layout = QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM),
            QPageLayout.Unit.Millimeter,
        )
        page.printToPdf(str(out), layout)

    def printed(_path: str, ok: bool) -> None:
        if not ok:
            outcome.append(_("Qt WebEngine could not write the PDF %(out)s.", out=out))
        app.quit()

    def too_slow() -> None:
        outcome.append(_("Qt WebEngine did not finish printing the PDF in time."))
        app.quit()

    page.loadFinished.connect(loaded)
    page.pdfPrintingFinished.connect(printed)
    QTimer.singleShot(int(TIMEOUT_S * 1000), too_slow)
    if isinstance(source, Path):
        page.load(QUrl.fromLocalFile(str(source)))
    else:
        page.setHtml(source, QUrl("about:blank"))
    app.exec()
    if outcome:
        raise PdfError(outcome[0])


def main(argv: list[str] | None = None) -> int:
    """Be the child: read HTML from a file or stdin, write the PDF, exit 0 or say why not."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m ibdesk.pdf IN.html|- OUT.pdf\n")
        return EXIT_USAGE
    os.environ.update(child_environment())
    try:
        import PySide6.QtWebEngineCore  # noqa: F401 - fail early with a clear code
    except ImportError:
        sys.stderr.write(f"ibdesk.pdf: {NO_QT}\n")
        return EXIT_NO_QT
    source_arg, out = args[0], Path(args[1])
    try:
        if source_arg == "-":
            html = sys.stdin.buffer.read().decode("utf-8")
            if len(html.encode("utf-8")) > SET_HTML_LIMIT:
                with tempfile.TemporaryDirectory(prefix="ibdesk-pdf-") as folder:
                    page_file = Path(folder) / "page.html"
                    page_file.write_text(html, encoding="utf-8")
                    _print(page_file, out)
            else:
                _print(html, out)
        else:
            _print(Path(source_arg).resolve(), out)
    except (PdfError, OSError, UnicodeDecodeError) as error:
        sys.stderr.write(f"ibdesk.pdf: {error}\n")
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
