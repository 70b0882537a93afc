"""This computer's data folder is 0700 and every file in it 0600, including the -wal and -shm
files SQLite makes later, the thumbnail cache and local backups (whatever the umask)."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import text

from ibdesk import config, private
from ibdesk.cli import main
from ibdesk.db import make_engine
from ibdesk.patients import thumbnails
from ibdesk.settings import backup

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual umask: files 0644, folders 0755 unless ibdesk says
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_embedded_database_and_its_engine_files_are_private() -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    folder = config.data_dir()
    database = folder / config.DEFAULT_SQLITE_NAME
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as conn:  # WAL: -wal and -shm exist while a connection is open
            conn.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            conn.execute(text("INSERT INTO probe VALUES (1)"))
        made = [database.with_name(database.name + s) for s in ("", "-wal", "-shm")]
        assert all(p.exists() for p in made)
        assert _mode(folder) == 0o700
        assert {p.name: _mode(p) for p in made} == {p.name: 0o600 for p in made}
        assert all(_mode(p) == 0o600 for p in folder.iterdir() if p.is_file())
    finally:
        engine.dispose()


def test_an_existing_open_data_folder_is_closed_on_start() -> None:
    folder = config.data_dir()
    folder.mkdir(parents=True, mode=0o755)
    (folder / "imagebank.sqlite3").write_bytes(b"")
    os.chmod(folder / "imagebank.sqlite3", 0o644)
    private.data_dir()
    assert _mode(folder) == 0o700 and _mode(folder / "imagebank.sqlite3") == 0o600


def test_thumbnails_and_local_backups_are_private(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (1, 2, 3)).save(buffer, format="PNG")
    target = thumbnails.cache_path("ab" * 32)
    thumbnails.make(io.BytesIO(buffer.getvalue()), target)
    assert _mode(target) == 0o600
    assert all(_mode(p) == 0o700 for p in (target.parent, thumbnails.cache_dir()))
    database = tmp_path / "elsewhere.sqlite3"
    engine = make_engine(f"sqlite:///{database}", create=True)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        saved = backup.backup(engine, backup.default_backup_folder())
    finally:
        engine.dispose()
    assert _mode(saved.path) == 0o600 and _mode(saved.path.parent) == 0o700
    # A database the administrator keeps elsewhere keeps the permissions it was given.
    assert _mode(database) == 0o644


def test_small_private_files_are_written_whole_and_owner_only(tmp_path: Path) -> None:
    # The configuration, backup state, chain head, CLI sign-in and AD password all use it.
    folder = tmp_path / "small"
    folder.mkdir()
    target = folder / "state.json"
    config.write_private(target, '{"old": true}')
    assert _mode(target) == 0o600
    config.write_private(target, '{"new": true}')
    assert target.read_text(encoding="utf-8") == '{"new": true}'
    with pytest.raises(UnicodeEncodeError):
        config.write_private(target, "half \udc80 written")  # fails while writing
    assert target.read_text(encoding="utf-8") == '{"new": true}'  # the old text, whole
    assert [p.name for p in folder.iterdir()] == ["state.json"]  # no temporary file left


def test_files_are_made_private_where_chmod_cannot_leave_links_alone(tmp_path: Path) -> None:
    # Without /proc (or with glibc before 2.32) chmod(follow_symlinks=False) is not
    # available at all: run restrict() in a mount namespace whose /proc is an empty tmpfs.
    import subprocess
    import sys

    if os.geteuid() != 0 or not Path("/usr/bin/unshare").exists():
        pytest.skip("a mount namespace needs root and unshare")
    data, link = tmp_path / "patients.sqlite3", tmp_path / "link"
    data.write_text("x")
    data.chmod(0o644)
    link.symlink_to(data)
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from ibdesk import private\n"
        "try:\n"
        "    os.chmod(sys.argv[1], 0o644, follow_symlinks=False)\n"
        "    print('chmod works')\n"
        "except NotImplementedError:\n"
        "    private.restrict(Path(sys.argv[1]))\n"
        "    private.restrict(Path(sys.argv[2]), 0o777)\n"
        "    print('restricted')\n"
    )
    no_proc = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /proc && exec "$@"', "sh"]
    done = subprocess.run(
        [*no_proc, sys.executable, "-c", script, str(data), str(link)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"this machine refuses a mount namespace: {done.stderr.strip()}")
    assert done.stdout.strip() == "restricted", done.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o600  # and the link did not open it to 0777
