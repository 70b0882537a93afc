"""A copied original never lies under its final name half-written: not on a full disk, not
when the copying process is killed; and the next run completes the copy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ibdesk.export.files import ItemProblem, copy_verified, sha256_file, temp_name

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="tmpfs and SIGKILL on Linux")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mount was refused: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _original(folder: Path, name: str, size: int) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def test_a_full_disk_leaves_no_file_under_the_final_name(tmp_path: Path, small_disk: Path) -> None:
    original = _original(tmp_path / "images", "scan.jp2", 320 * 1024)
    filler = small_disk / "filler.bin"
    filler.write_bytes(b"\0" * 300 * 1024)
    target = small_disk / "scan.jp2"
    with pytest.raises(ItemProblem, match="full"):
        copy_verified((str(original.parent), original.name), target)
    assert not target.exists() and not temp_name(target).exists()
    filler.unlink()
    digest, size, *_ = copy_verified((str(original.parent), original.name), target)
    assert size == original.stat().st_size and digest == sha256_file(original)


COPY = """
import sys
from pathlib import Path
from ibdesk.export.files import copy_verified
copy_verified((sys.argv[1], sys.argv[2]), Path(sys.argv[3]))
"""


def test_a_killed_copy_leaves_no_file_under_the_final_name(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    original = images / "video.mp4"
    with original.open("wb") as handle:  # large enough that the copy takes a while
        block = os.urandom(1 << 20)
        for _ in range(384):
            handle.write(block)
    target_folder = tmp_path / "export"
    target_folder.mkdir()
    target = target_folder / "video.mp4"
    process = subprocess.Popen(
        [sys.executable, "-c", COPY, str(images), original.name, str(target)]
    )
    try:
        deadline = time.monotonic() + 60
        while not temp_name(target).exists():
            assert process.poll() is None, "the copy ended before it could be killed"
            assert time.monotonic() < deadline, "the copy never started"
            time.sleep(0.001)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not target.exists()
    assert temp_name(target).stat().st_size < original.stat().st_size
    digest, size, *_ = copy_verified((str(images), original.name), target)
    assert size == original.stat().st_size and digest == sha256_file(original)
    assert not temp_name(target).exists()
