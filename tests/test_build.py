"""The built desktop program (PyInstaller, build/ibdesk.spec): built once per test run, then run.

The session builds dist/ibdesk/ into a temporary folder with the README's one command and
every test here uses that build: what it carries (and what it must not), the ``ibdesk``
command it is (demo, export in worker processes, PDF, from any working directory), and its
window started from the installed launcher under Xvfb, as a double-click would.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageGrab
from PyInstaller.archive.readers import CArchiveReader
from test_window import (
    ARTIFACTS,
    ERROR_BG,
    HEADER,
    WINDOW_WAIT_S,
    close_window,
    die_with_pytest,
    find_window,
    wait_for,
)
from test_window import xvfb as xvfb  # the fixture: a private X server

from ibdesk import demo
from webfixtures import WAIT_S

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ibdesk"
DATA_FOLDERS = {"templates", "static", "migrations", "schemas", "keys", "translations"}
BUILD_WAIT_S = 1800.0  # only a guard against a hung build; a build takes a minute or two
INFO_BG = (0xE8, 0xF1, 0xF8)  # --info-bg: the wizard's "New to ImageBank?" panel
MARKER = "IBDESK_BUILD_TEST_RUN"  # set on every program started here; children inherit it
PR_SET_CHILD_SUBREAPER = 36
# A PEM private key block with its body: libraries hold the header text alone (parsers).
PEM_PRIVATE = re.compile(
    rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\s+[A-Za-z0-9+/=:,\s-]{16,}?-----END [A-Z0-9 ]*PRIVATE"
)
PRIVATE_SUFFIXES = (".key", ".pem", ".p12", ".pfx", ".ppk")

pytestmark = [pytest.mark.build, pytest.mark.slow]


@dataclass(frozen=True)
class Built:
    """A built program folder (dist/ibdesk) and its executable."""

    folder: Path

    @property
    def program(self) -> Path:
        """Return the executable a double-click starts."""
        return self.folder / ("ibdesk.exe" if sys.platform == "win32" else "ibdesk")

    def modules(self) -> set[str]:
        """Return the Python modules frozen into the program's archive."""
        archive = CArchiveReader(str(self.program))
        return set(archive.open_embedded_archive("PYZ.pyz").toc)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Build the program once for the whole test run, with the README's build command."""
    base = tmp_path_factory.mktemp("pyinstaller")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "build" / "build.py"),
            "--distpath",
            str(base / "dist"),
            "--workpath",
            str(base / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_WAIT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = Built(base / "dist" / "ibdesk")
    assert os.access(result.program, os.X_OK), done.stdout + done.stderr
    return result


def run_env(home: Path, marker: str, **extra: str) -> dict[str, str]:
    """Return a clean environment for the built program: its own home, no venv, no display."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("IBDESK_DB", "DISPLAY", "PYTHONPATH", "VIRTUAL_ENV", "IBDESK_TRUST_KEY")
    }
    env.update(IBDESK_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    env[MARKER] = marker
    return env


def marked_processes(marker: str) -> dict[int, tuple[int, str]]:
    """Return {pid: (parent pid, command line)} of live processes whose environment has `marker`."""
    needle = f"{MARKER}={marker}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # it ended meanwhile, or is not ours to read
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("State", "").startswith("Z"):
            continue  # ended; only its parent's wait is missing
        found[int(entry.name)] = (int(fields["PPid"]), cmdline.strip())
    return found


def run_built(
    built: Built, env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the built program with arguments; fail with its output when it fails."""
    done = subprocess.run(
        [str(built.program), *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=WINDOW_WAIT_S,
        check=False,
        preexec_fn=die_with_pytest,
    )
    assert done.returncode == 0, f"ibdesk {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def data_files(top: Path) -> set[str]:
    """Return the files under ibdesk's data folders below `top`, relative to it."""
    return {
        path.relative_to(top).as_posix()
        for path in top.rglob("*")
        if path.is_file()
        and DATA_FOLDERS.intersection(path.relative_to(top).parts)
        and "__pycache__" not in path.parts
        and path.suffix not in (".pyc", ".pyo")
    }


def test_the_build_carries_the_data_folders_and_only_the_clinic_code(built: Built) -> None:
    bundle = built.folder / "_internal" / "ibdesk"
    source = data_files(PACKAGE)
    shipped_keys = {name for name in source if "keys" in Path(name).parts}
    assert shipped_keys and all(name.endswith(".pub") for name in shipped_keys)
    assert data_files(bundle) == source  # templates, static, migrations, schemas, keys, ...
    for needed in ("templates/wizard/index.html", "static/ibdesk.css", "migrations/env.py"):
        assert needed in source
    if (PACKAGE / "translations").is_dir():
        assert any(name.startswith("translations/") for name in data_files(bundle))

    modules = built.modules()
    clinic = {name for name in modules if name == "ibdesk" or name.startswith("ibdesk.")}
    assert {"ibdesk.cli", "ibdesk.cli.shell", "ibdesk.export.workers", "ibdesk.pdf"} <= clinic
    assert not {name for name in clinic if name.split(".")[:2] == ["ibdesk", "vendor"]}
    assert not list(built.folder.rglob("vendor.py*"))
    # Only pywebview's Qt backend, and only PySide6 of the Qt bindings.
    assert "webview.platforms.qt" in modules
    for unused in ("gtk", "cef", "winforms", "edgechromium", "cocoa", "mshtml", "android"):
        assert f"webview.platforms.{unused}" not in modules
    assert not {name.split(".")[0] for name in modules} & {"PyQt5", "PyQt6", "PySide2", "gi"}


def test_the_build_holds_no_private_key(built: Built) -> None:
    files = [path for path in built.folder.rglob("*") if path.is_file()]
    assert len(files) > 100  # the scan below really looked at the build
    assert [p for p in files if p.name.lower().endswith(PRIVATE_SUFFIXES)] == []
    holding_keys = []
    for path in files:
        data = path.read_bytes()
        if b"PRIVATE KEY-----" in data and PEM_PRIVATE.search(data):
            holding_keys.append(path)
    assert holding_keys == []
    # The scan finds a key when one is there: the vendor tool's own key files.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ibdesk import vendor

    key = Ed25519PrivateKey.generate()
    for passphrase in (None, b"hemligt"):
        assert PEM_PRIVATE.search(b"\0junk" + vendor.private_pem(key, passphrase) + b"\0")
    assert not PEM_PRIVATE.search(vendor.public_pem(key))


def test_the_built_program_is_the_ibdesk_command_from_any_folder(
    built: Built, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    elsewhere = tmp_path / "somewhere else"  # not the checkout, not the program's folder
    elsewhere.mkdir()
    env = run_env(tmp_path / "home", marker)
    version = run_built(built, env, elsewhere, "--version")
    assert version.stdout.strip() == "ibdesk, version 2.1.0"
    upgraded = run_built(built, env, elsewhere, "db", "upgrade")  # Alembic, from the bundle
    assert "Updated the schema from empty to" in upgraded.stdout
    run_built(built, env, elsewhere, "db", "check")
    images = tmp_path / "bilder"
    made = run_built(
        built, env, elsewhere, "demo", "--patients", "2", "--with-files", "--images", str(images)
    )
    assert "Made 2 patients" in made.stdout
    # So many patients into an empty clinic: a second process (a fork-server child of the
    # frozen program) builds the rows while the program writes them.
    assert demo.PROCESS_FROM_PATIENTS <= 10_000
    rows_db = ("--db", f"sqlite:///{tmp_path / 'rader.db'}")
    run_built(built, env, elsewhere, *rows_db, "db", "upgrade")
    large = run_built(
        built, env, elsewhere, *rows_db, "demo", "--patients", "10000", "--media-per-patient", "1"
    )
    assert "Made 10000 patients, " in large.stdout and "10000 media" in large.stdout
    # Its fork server and builder end with it (they see it end); the export below must not
    # meet them.
    wait_for(lambda: not marked_processes(marker), "the demo's helper processes to end")
    # An export acts as a signed-in administrator: the first one is made at the server.
    password = "ett långt lösenord för bygget\n"
    run_built(
        built,
        env,
        elsewhere,
        "users",
        "add",
        "chefen",
        "--admin",
        "--password-stdin",
        stdin=password,
    )
    run_built(
        built, env, elsewhere, "login", "--user", "chefen", "--password-stdin", stdin=password
    )

    # The export encodes in worker processes: a fork server started from the frozen program,
    # and workers forked from it. Watch the process table while it runs.
    out = tmp_path / "export"
    out.mkdir()
    seen: dict[int, tuple[int, str]] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for pid, (parent, cmdline) in marked_processes(marker).items():
                # Its first parent (orphans get adopted later), its latest command line: a
                # fork server first seen between its fork and its exec still shows the
                # export's, and its workers would then look like servers of their own.
                seen[pid] = (seen.get(pid, (parent, ""))[0], cmdline)
            stop.wait(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        export = subprocess.Popen(
            [str(built.program), "export", "--all", "--to", str(out), "--jobs", "2", "--json"],
            env=env,
            cwd=elsewhere,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_pytest,
        )
        stdout, stderr = export.communicate(timeout=WINDOW_WAIT_S)
    finally:
        stop.set()
        watcher.join()
    assert export.returncode == 0, stdout + stderr
    summary = json.loads(stdout)
    assert summary["ok"] and summary["patients"] == 2 and summary["files_encoded"] > 0
    forked = {pid for pid, (_, cmdline) in seen.items() if "multiprocessing.forkserver" in cmdline}
    servers = {pid for pid in forked if seen[pid][0] not in forked}  # workers are forks of it
    assert len(servers) == 1, seen
    workers = {pid for pid, (parent, _) in seen.items() if parent in servers}
    assert len(workers) >= 1, seen  # (more than one unless the first did every file)
    assert all(seen[pid][1].startswith(str(built.program)) for pid in servers | workers)
    # Workers, fork server and resource tracker end with the export (they see it end).
    wait_for(lambda: not marked_processes(marker), "the export's processes to end")
    verified = run_built(built, env, elsewhere, "export", "verify", str(out))
    assert "all intact" in verified.stdout

    pdf = tmp_path / "statistik åäö.pdf"
    run_built(built, env, elsewhere, "stats", "--pdf", str(pdf))  # Qt WebEngine, offscreen
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Image bank statistics" in text
    assert marked_processes(marker) == {}


def test_the_launcher_is_a_valid_desktop_entry() -> None:
    done = subprocess.run(
        ["desktop-file-validate", str(ROOT / "build" / "linux" / "ibdesk.desktop")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_the_launcher_install_refuses_a_folder_without_a_build(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-launcher.sh"), str(tmp_path)],
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "There is no built program in" in done.stderr
    assert not (tmp_path / ".local").exists()


def shows_the_wizard(shot: Image.Image) -> bool:
    """Tell the wizard's first step, fully drawn, from a blank window or an error page."""
    counts = {colour: n for n, colour in shot.getcolors(maxcolors=1 << 20) or []}
    width = shot.width
    return (
        counts.get(HEADER, 0) > width * 30  # the header band
        and counts.get(INFO_BG, 0) > 40_000  # the "New to ImageBank?" panel of step 1
        and counts.get(ERROR_BG, 0) == 0
        and len(counts) > 100  # text was drawn
    )


def install_launcher(built: Built, home: Path) -> Path:
    """Install the launcher for a user whose home is `home`; return the menu entry."""
    desktop = home / "Desktop"
    desktop.mkdir(parents=True)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-launcher.sh"), str(built.folder)],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("XDG_")},
            "HOME": str(home),
            "XDG_DESKTOP_DIR": str(desktop),
        },
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    entry = home / ".local" / "share" / "applications" / "ibdesk.desktop"
    assert (home / ".local/share/icons/hicolor/scalable/apps/ibdesk.svg").is_file()
    assert (home / ".local/share/icons/hicolor/256x256/apps/ibdesk.png").is_file()
    on_desktop = desktop / "ibdesk.desktop"
    assert on_desktop.read_text() == entry.read_text() and os.access(on_desktop, os.X_OK)
    valid = subprocess.run(
        ["desktop-file-validate", str(entry)], capture_output=True, text=True, check=False
    )
    assert valid.returncode == 0 and valid.stdout == "", valid.stdout
    lines = entry.read_text().splitlines()
    assert f"Exec={built.program}" in lines and f"TryExec={built.program}" in lines
    return on_desktop


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Adopt orphaned descendants (what the launcher starts) while the test runs."""
    libc = ctypes.CDLL(None)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def reap(pid: int) -> int | None:
    """Return the exit code of our ended child `pid`, or None while it runs."""
    done, status = os.waitpid(pid, os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done == pid else None


@pytest.mark.window
def test_the_launcher_starts_the_built_window_and_closing_it_ends_every_process(
    built: Built, xvfb: str, tmp_path: Path, subreaper: None
) -> None:
    home = tmp_path / "user"
    launcher = install_launcher(built, home)
    marker = uuid.uuid4().hex
    ibdesk_home = tmp_path / "fresh clinic"  # nothing configured: the wizard opens
    env = run_env(ibdesk_home, marker, DISPLAY=xvfb, HOME=str(home))
    program: int | None = None
    family: dict[int, tuple[int, str]] = {}
    log = (tmp_path / "ibdesk.log").open("w+")

    def log_text() -> str:
        log.seek(0)
        return log.read()

    try:
        # What a double-click on the launcher does: the desktop launches the entry.
        # (Its output goes to a file: the program inherits it and outlives the launcher.)
        launched = subprocess.run(
            ["gio", "launch", str(launcher)],
            env=env,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=WAIT_S,
            check=False,
        )
        assert launched.returncode == 0, log_text()

        def started() -> int | None:
            return next(
                (
                    pid
                    for pid, (_, cmdline) in marked_processes(marker).items()
                    if cmdline == str(built.program)
                ),
                None,
            )

        program = wait_for(started, "the program started by the launcher")
        wait_for(lambda: find_window(xvfb), "the window", timeout=WINDOW_WAIT_S)
        lock = json.loads((ibdesk_home / "ibdesk.lock").read_text())
        assert lock["pid"] == program and lock["mode"] == "window"

        ARTIFACTS.mkdir(exist_ok=True)

        def wizard() -> Image.Image | None:
            shot = ImageGrab.grab(xdisplay=xvfb).convert("RGB")
            shot.save(ARTIFACTS / "built-window.png")  # the last one shows what went wrong
            return shot if shows_the_wizard(shot) else None

        wait_for(wizard, "the wizard in the window", timeout=WINDOW_WAIT_S)
        family = marked_processes(marker)
        # The program and Qt WebEngine's processes: the check at the end has something to miss.
        assert any("QtWebEngineProcess" in cmdline for _, cmdline in family.values()), family

        close_window(xvfb, wait_for(lambda: find_window(xvfb), "the window"))
        pid = program
        assert wait_for(lambda: (code := reap(pid)) is not None and [code], "the exit") == [0]
        program = None
        wait_for(lambda: not marked_processes(marker), "every process to end")
    finally:
        for pid in [*marked_processes(marker), *([program] if program else [])]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in {*family, *([program] if program else [])}:
            # The program and the Qt helpers it left were adopted by this test: reap them.
            with contextlib.suppress(ChildProcessError):
                if pid == program:
                    os.waitpid(pid, 0)
                else:
                    reap(pid)
        output = log_text()
        print(output)  # shown by pytest when the test fails
        log.close()
    assert "Traceback" not in output, output
    assert (ibdesk_home / "ibdesk.lock").read_text() == ""
    shutil.rmtree(home / ".local", ignore_errors=True)
