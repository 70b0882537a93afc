"""``ibdesk backup``: init, run, list, verify, restore and one clear sentence for each fault."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from backupclinic import image_hashes, make_clinic, make_repository
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from ibdesk.backup import store
from ibdesk.cli import main


def ibdesk(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def one_sentence(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    # the job's log lines may come first; the error is the one last line
    lines = result.stderr.strip().splitlines()
    err = lines[-1] if lines else ""
    assert err.startswith("ibdesk: ") and "Traceback" not in result.stderr, result.stderr
    assert sum(line.startswith("ibdesk: ") for line in lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture
def clinic(engine: Engine, db_url: str, tmp_path: Path, restic_template: Path) -> Path:
    folder = make_clinic(engine, tmp_path / "bilder")
    make_repository(restic_template, tmp_path / "repo")
    return folder


@pytest.mark.backends("sqlite")
def test_init_prints_recovery_sheet_and_json(db_url: str, tmp_path: Path) -> None:
    result = ibdesk("--db", db_url, "backup", "init", "--repo", str(tmp_path / "repo"))
    assert result.exit_code == 0, result.output
    password = store.password_path().read_text().strip()
    assert "recovery sheet" in result.output and password in result.output
    again = ibdesk("--db", db_url, "backup", "init", "--repo", str(tmp_path / "repo"), "--json")
    data = json.loads(again.output)
    assert data == {
        "repository": str(tmp_path / "repo"),
        "created": False,
        "password_file": str(store.password_path()),
    }
    assert password not in again.output


def test_run_list_verify_restore(
    clinic: Path, db_url: str, empty_db_url: str, tmp_path: Path
) -> None:
    made = ibdesk("--db", db_url, "backup", "run", "--json")
    assert made.exit_code == 0, made.output
    backup_id = json.loads(made.output)["backup_id"]
    listed = json.loads(ibdesk("backup", "list", "--json").output)
    assert [item["backup_id"] for item in listed] == [backup_id]
    verified = ibdesk("--db", db_url, "backup", "verify", backup_id, "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["problems"] == []
    target = tmp_path / "restored"
    restored = ibdesk(
        "backup", "restore", backup_id, "--to-database", empty_db_url, "--to-folder", str(target)
    )
    assert restored.exit_code == 0, restored.output
    assert image_hashes(target) == image_hashes(clinic)
    again = ibdesk(
        "backup", "restore", backup_id, "--to-database", empty_db_url, "--to-folder", str(target)
    )
    one_sentence(again, "already holds data", "--replace")


@pytest.mark.backends("sqlite")
def test_wrong_password_and_missing_repository(clinic: Path, db_url: str, tmp_path: Path) -> None:
    store.password_path().write_text("not the password\n")
    one_sentence(ibdesk("--db", db_url, "backup", "run"), "password is wrong")
    store.save_repository(str(tmp_path / "unplugged-disk"))
    one_sentence(ibdesk("--db", db_url, "backup", "run"), "There is no backup repository")
    store.password_path().unlink()
    one_sentence(ibdesk("--db", db_url, "backup", "run"), "password file", "recovery sheet")
    assert store.last("backup") is None
    assert len(image_hashes(clinic)) == 12


@pytest.mark.backends("sqlite")
def test_no_repository_yet(db_url: str) -> None:
    one_sentence(ibdesk("--db", db_url, "backup", "run"), "ibdesk backup init")


@pytest.mark.backends("sqlite")
def test_target_inside_image_folder_is_refused(clinic: Path, db_url: str) -> None:
    one_sentence(
        ibdesk("--db", db_url, "backup", "init", "--repo", str(clinic / "backups")),
        "inside the image folder",
    )
    assert not (clinic / "backups").exists()
    store.save_repository(str(clinic / "backups"))
    one_sentence(ibdesk("--db", db_url, "backup", "run"), "inside the image folder")


@pytest.mark.backends("sqlite")
def test_vanished_image_folder(clinic: Path, db_url: str) -> None:
    clinic.rename(clinic.with_name("moved"))
    one_sentence(ibdesk("--db", db_url, "backup", "run"), "has vanished")
    assert store.last("backup") is None


@pytest.mark.backends("sqlite")
def test_repository_locked_by_another_run(clinic: Path, db_url: str, tmp_path: Path) -> None:
    ibdesk("--db", db_url, "backup", "run")
    restic = store.engine_or_refuse()
    # Another run: a backup that waits for its input holds the repository's lock.
    other = subprocess.Popen(
        ["restic", "backup", "--stdin", "--stdin-filename", "other"],
        env=restic.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        locks = Path(restic.repository) / "locks"
        for _ in range(200):
            if any(locks.iterdir()):
                break
            time.sleep(0.05)
        one_sentence(ibdesk("--db", db_url, "backup", "verify"), "in use by another run")
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(timeout=60)


@pytest.mark.backends("sqlite")
def test_corrupted_pack_is_found_by_verify(clinic: Path, db_url: str) -> None:
    assert ibdesk("--db", db_url, "backup", "run").exit_code == 0
    packs = sorted(
        (p for p in (Path(store.engine_or_refuse().repository) / "data").rglob("*") if p.is_file()),
        key=lambda p: p.stat().st_size,
    )
    pack = packs[-1]
    pack.chmod(0o600)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    one_sentence(ibdesk("--db", db_url, "backup", "verify", "--read-data", "100%"), "damaged")
    assert store.last("verify") is None


@pytest.mark.backends("sqlite")
def test_full_target_disk(
    engine: Engine, db_url: str, tmp_path: Path, restic_template: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small-disk"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("this machine cannot mount a tmpfs")
    try:
        folder = make_clinic(engine, tmp_path / "bilder")
        make_repository(restic_template, small / "repo")
        assert ibdesk("--db", db_url, "backup", "run").exit_code == 0
        good = store.last("backup")
        (folder / "big.bin").write_bytes(os.urandom(8_000_000))
        before = image_hashes(folder)
        one_sentence(ibdesk("--db", db_url, "backup", "run"), "is full", "nothing was lost")
        assert store.last("backup") == good and image_hashes(folder) == before
        # the backup made before the disk filled up is still listed, and only it
        listed = json.loads(ibdesk("backup", "list", "--json").output)
        assert [item["backup_id"] for item in listed] == [good.backup_id if good else ""]
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


@pytest.mark.backends("sqlite")
def test_kill_9_mid_backup_leaves_nothing_that_looks_good(
    clinic: Path, db_url: str, tmp_path: Path, ibdesk_home: Path
) -> None:
    # restic slowed to 50 KiB/s, so the kill lands while it copies.
    slow = tmp_path / "slow-restic"
    slow.write_text('#!/bin/sh\nexec restic --limit-upload 50 "$@"\n')
    slow.chmod(0o755)
    env = {**os.environ, "IBDESK_HOME": str(ibdesk_home), "IBDESK_RESTIC": str(slow)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ibdesk", "--db", db_url, "backup", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    locks = Path(store.engine_or_refuse().repository) / "locks"
    try:
        for _ in range(1200):
            if any(locks.iterdir()):
                break
            time.sleep(0.05)
        time.sleep(1.0)
        assert process.poll() is None, "the backup ended before it could be killed"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert json.loads(ibdesk("backup", "list", "--json").output) == []
    assert store.last("backup") is None
    made = ibdesk("--db", db_url, "backup", "run", "--json")
    assert made.exit_code == 0, made.output
    verified = ibdesk("--db", db_url, "backup", "verify", "--read-data", "100%")
    assert verified.exit_code == 0, verified.output
    assert len(json.loads(ibdesk("backup", "list", "--json").output)) == 1
