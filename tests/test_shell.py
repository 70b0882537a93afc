"""``ibdesk serve`` and the one-instance rule, as real processes on real sockets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from ibdesk.desktop import AlreadyRunning, InstanceLock, is_app_url, prepare_qt_environment
from webfixtures import IBDESK, WAIT_S, ibdesk_env, start_serve


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Return a migrated SQLite database for a child process."""
    path = tmp_path / "imagebank.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def fetch(url: str) -> tuple[int, str]:
    """GET a URL directly (never through a proxy) and return status and body."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=WAIT_S) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def lock_data(home: Path) -> dict[str, object]:
    text = (home / "ibdesk.lock").read_text()
    return json.loads(text) if text else {}


def test_serve_prints_the_address_serves_it_and_stops_cleanly(
    ibdesk_home: Path, sqlite_url: str
) -> None:
    served = start_serve(ibdesk_env(ibdesk_home, sqlite_url))
    try:
        assert fetch(served.origin + "/")[0] == 403
        status, page = fetch(served.fresh_url())
        assert status == 200 and "Opening ImageBank SysAdmin" in page
        newest = served.fresh_url()  # printed once the first address was used
        lock = ibdesk_home / "ibdesk.lock"
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        data = lock_data(ibdesk_home)
        assert data["pid"] == served.proc.pid and data["mode"] == "serve"
        assert newest.endswith(f":{data['port']}/?token={data['token']}")
    finally:
        code = served.stop()
    assert code == 0, "\n".join(served.output)
    assert "ImageBank SysAdmin stopped." in served.output
    assert lock_data(ibdesk_home) == {}  # the lock is released and emptied
    port = int(served.origin.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_serve_moves_off_a_taken_port_and_says_so(ibdesk_home: Path, sqlite_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        served = start_serve(ibdesk_env(ibdesk_home, sqlite_url), "--port", str(port))
        try:
            assert any(f"Port {port} is in use" in line for line in served.output)
            url = served.fresh_url()
            assert f":{port}/" not in url
            assert fetch(url)[0] == 200
        finally:
            assert served.stop() == 0


def test_a_second_instance_says_so_and_changes_nothing(ibdesk_home: Path, sqlite_url: str) -> None:
    env = ibdesk_env(ibdesk_home, sqlite_url)
    served = start_serve(env)
    try:
        before = (ibdesk_home / "ibdesk.lock").read_bytes()
        second = subprocess.run(
            [*IBDESK, "serve", "--no-browser"],
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            check=False,
        )
        assert second.returncode == 1
        url = served.fresh_url()
        assert f"already running (process {served.proc.pid}) at {url}" in second.stderr
        assert "Traceback" not in second.stderr
        # Without a display, a second window start cannot take the user there either.
        window = subprocess.run(
            IBDESK, env=env, capture_output=True, text=True, timeout=WAIT_S, check=False
        )
        assert window.returncode == 1
        assert "already running" in window.stderr and "open that address" in window.stderr
        assert (ibdesk_home / "ibdesk.lock").read_bytes() == before
        assert fetch(url)[0] == 200  # the first one goes on serving
    finally:
        assert served.stop() == 0


def test_the_lock_is_exclusive_and_tells_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "ibdesk.lock"
    first = InstanceLock.acquire(path)
    first.publish(port=4321, token="secret", mode="window")
    with pytest.raises(AlreadyRunning) as raised:
        InstanceLock.acquire(path)
    other = raised.value.other
    assert (other.pid, other.port, other.mode, other.token) == (
        os.getpid(),
        4321,
        "window",
        "secret",
    )
    first.release()
    second = InstanceLock.acquire(path)
    second.release()


def test_a_crashed_instance_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "ibdesk.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from ibdesk.desktop import InstanceLock; "
            f"InstanceLock.acquire(Path({str(path)!r})); print('locked', flush=True); "
            "time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(AlreadyRunning):
        InstanceLock.acquire(path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=WAIT_S)
    holder.stdout.close()
    InstanceLock.acquire(path).release()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:4000/", True),
        ("http://127.0.0.1:4000/static/ibdesk.css?v=1", True),
        ("qrc:///qtwebchannel/qwebchannel.js", True),
        ("http://127.0.0.1:4001/", False),
        ("https://127.0.0.1:4000/", False),
        ("http://localhost:4000/", False),
        ("http://evil.example/", False),
        ("file:///etc/passwd", False),
        ("http://127.0.0.1:99999/", False),
        ("http://127.0.0.1:4000@evil.example/", False),
    ],
)
def test_the_window_may_only_load_the_apps_own_origin(url: str, allowed: bool) -> None:
    assert is_app_url(url, 4000) is allowed


def test_qt_webengine_runs_without_the_sandbox_only_as_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"QTWEBENGINE_CHROMIUM_FLAGS": "--lang=sv"}
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    prepare_qt_environment(env)
    assert env == {"QTWEBENGINE_CHROMIUM_FLAGS": "--lang=sv"}  # an ordinary user keeps it
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    prepare_qt_environment(env)
    prepare_qt_environment(env)
    assert env == {"QTWEBENGINE_CHROMIUM_FLAGS": "--lang=sv --no-sandbox"}
