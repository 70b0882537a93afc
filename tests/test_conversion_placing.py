"""Placing 1.2 files: a hard link on the same file system, else a copy read back from disk."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from ibdesk import safefiles
from ibdesk.conversion import checks
from ibdesk.conversion.placing import CHUNK, COPIED, HEAD, LINKED, Blocked, Empty, Placer

TARGET = "191212121212/1/000001_intraoral.bmp"


def _source(tmp_path: Path) -> tuple[Path, bytes]:
    root = tmp_path / "Bilder"
    (root / "000001").mkdir(parents=True)
    data = os.urandom(CHUNK + HEAD + 123)  # more than one block, so hashing streams
    (root / "000001" / "B000001.BMP").write_bytes(data)
    (root / "000001" / "B000002.BMP").write_bytes(b"")
    return root, data


def test_same_file_system_links_and_hashes_once(tmp_path: Path) -> None:
    root, data = _source(tmp_path)
    placer = Placer(root, tmp_path / "images21")
    placed = placer.place("000001/B000001.BMP", "191212121212/1/000001_intraoral.bmp")
    target = tmp_path / "images21" / "191212121212" / "1" / "000001_intraoral.bmp"
    assert placed.how == LINKED
    assert os.stat(target).st_ino == os.stat(root / "000001" / "B000001.BMP").st_ino
    assert placed.sha256 == hashlib.sha256(data).hexdigest()
    assert placed.size == len(data)
    assert placed.head == data[:HEAD]
    again = placer.place("000001/B000001.BMP", "191212121212/1/000002_intraoral.bmp")
    assert again.how == LINKED and again.sha256 == placed.sha256


def test_copies_are_verified_and_leave_the_source_alone(tmp_path: Path) -> None:
    root, data = _source(tmp_path)
    placed = Placer(root, tmp_path / "images21", link=False).place(
        "000001/B000001.BMP", "191212121212/1/000001_intraoral.bmp"
    )
    target = tmp_path / "images21" / "191212121212" / "1" / "000001_intraoral.bmp"
    assert placed.how == COPIED
    assert os.stat(target).st_ino != os.stat(root / "000001" / "B000001.BMP").st_ino
    assert target.read_bytes() == data
    assert placed.sha256 == hashlib.sha256(data).hexdigest() and placed.head == data[:HEAD]
    assert not list(target.parent.glob(".*.part"))
    assert (root / "000001" / "B000001.BMP").read_bytes() == data


def test_an_empty_file_is_not_placed(tmp_path: Path) -> None:
    root, _data = _source(tmp_path)
    with pytest.raises(Empty):
        Placer(root, tmp_path / "images21").place("000001/B000002.BMP", "x/1/000002_photo.bmp")
    assert not (tmp_path / "images21" / "x" / "1" / "000002_photo.bmp").exists()


def test_a_rerun_finds_its_own_link_or_replaces_a_stale_name(tmp_path: Path) -> None:
    root, data = _source(tmp_path)
    source = root / "000001" / "B000001.BMP"
    target = tmp_path / "images21" / "191212121212" / "1" / "000001_intraoral.bmp"
    placer = Placer(root, tmp_path / "images21")
    first = placer.place("000001/B000001.BMP", "191212121212/1/000001_intraoral.bmp")
    # Killed after the link, before its row was committed: the rerun finds the same file.
    again = Placer(root, tmp_path / "images21").place(
        "000001/B000001.BMP", "191212121212/1/000001_intraoral.bmp"
    )
    assert again == first and os.stat(target).st_ino == os.stat(source).st_ino
    # A stale file of another run under that name is replaced by the link.
    target.unlink()
    target.write_bytes(b"stale")
    replaced = Placer(root, tmp_path / "images21").place(
        "000001/B000001.BMP", "191212121212/1/000001_intraoral.bmp"
    )
    assert replaced.how == LINKED and target.read_bytes() == data
    assert os.stat(target).st_ino == os.stat(source).st_ino


def test_the_folder_index_finds_names_as_windows_did_and_never_through_a_link(
    tmp_path: Path,
) -> None:
    root = tmp_path / "Bilder"
    (root / "P1").mkdir(parents=True)
    (root / "P1" / "bild.JPG").write_bytes(b"x")
    (root / "P1" / "Same.bmp").write_bytes(b"upper")
    (root / "P1" / "same.bmp").write_bytes(b"lower")  # two names 1.2 on Windows saw as one
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "secret.jpg").write_bytes(b"s")
    (root / "P2").symlink_to(root / "elsewhere")
    (root / "P1" / "link.jpg").symlink_to(root / "elsewhere" / "secret.jpg")
    index = checks.FolderIndex(root)

    found = index.find("p1\\BILD.jpg")
    assert (found.relative, found.problem, found.case_differs) == ("P1/bild.JPG", None, True)
    assert index.find("P1/bild.JPG").case_differs is False
    # An exact name wins over its case twin; otherwise the first in order answers, every run.
    assert index.find("P1/same.bmp").relative == "P1/same.bmp"
    assert index.find("P1/Same.bmp").relative == "P1/Same.bmp"
    assert index.find("P1/SAME.BMP").relative == "P1/Same.bmp"
    assert index.find("P1/gone.jpg").problem == checks.FILE_MISSING
    for through_a_link in ("P2/secret.jpg", "P1/link.jpg", "p2/SECRET.JPG"):
        assert index.find(through_a_link).problem == checks.FILE_OUTSIDE, through_a_link
    assert index.find("../Bilder/P1/bild.JPG").problem == checks.FILE_OUTSIDE


@pytest.fixture(params=[True, False], ids=["dir_fd", "paths"])
def dir_fd(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run a placing test with dir_fd (POSIX) and with checked paths (as on Windows)."""
    if not request.param:
        monkeypatch.setattr(safefiles, "DIR_FD", False)
    return bool(request.param)


def test_a_link_planted_at_the_temporary_name_is_never_written_through(
    tmp_path: Path, dir_fd: bool
) -> None:
    root, data = _source(tmp_path)
    images = tmp_path / "images21"
    (images / "191212121212" / "1").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"someone else's file")
    planted = images / "191212121212" / "1" / ".000001_intraoral.bmp.part"
    planted.symlink_to(outside)
    placed = Placer(root, images, link=False).place("000001/B000001.BMP", TARGET)
    target = images / TARGET
    assert placed.how == COPIED and placed.sha256 == hashlib.sha256(data).hexdigest()
    assert outside.read_bytes() == b"someone else's file"
    assert not target.is_symlink() and target.read_bytes() == data
    assert not planted.exists() and not planted.is_symlink()


@pytest.mark.parametrize("link", [True, False], ids=["link", "copy"])
@pytest.mark.parametrize("where", ["191212121212", "191212121212/1"])
def test_a_linked_folder_in_the_2_1_tree_is_refused(
    tmp_path: Path, dir_fd: bool, link: bool, where: str
) -> None:
    root, _data = _source(tmp_path)
    images = tmp_path / "images21"
    (images / where).parent.mkdir(parents=True, exist_ok=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (images / where).symlink_to(elsewhere)
    with pytest.raises(Blocked) as refused:
        Placer(root, images, link=link).place("000001/B000001.BMP", TARGET)
    assert refused.value.kind == safefiles.LINK
    assert list(elsewhere.rglob("*")) == []


def test_a_source_that_fails_mid_read_is_a_file_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _data = _source(tmp_path)

    class Failing:
        def __init__(self, handle: BinaryIO) -> None:
            self.handle = handle

        def fileno(self) -> int:
            return self.handle.fileno()

        def readinto(self, _buffer: Any) -> int:
            raise OSError(errno.EIO, "Input/output error")

    opened = safefiles.Folder.open

    @contextmanager
    def failing_open(self: safefiles.Folder, relative: str) -> Iterator[Any]:
        with opened(self, relative) as handle:
            yield Failing(handle)

    monkeypatch.setattr(safefiles.Folder, "open", failing_open)
    for link in (True, False):
        with pytest.raises(safefiles.FileProblem) as problem:
            Placer(root, tmp_path / f"images21-{link}", link=link).place(
                "000001/B000001.BMP", TARGET
            )
        assert problem.value.kind == safefiles.UNREADABLE
        assert not list((tmp_path / f"images21-{link}").rglob("*.part"))


def test_a_source_gone_after_it_was_opened_is_copied_from_the_open_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, data = _source(tmp_path)
    opened = safefiles.Folder.open

    @contextmanager
    def vanishing_open(self: safefiles.Folder, relative: str) -> Iterator[BinaryIO]:
        with opened(self, relative) as handle:
            (root / relative).unlink()  # another workstation cleans up meanwhile
            yield handle

    monkeypatch.setattr(safefiles.Folder, "open", vanishing_open)
    placed = Placer(root, tmp_path / "images21").place("000001/B000001.BMP", TARGET)
    assert placed.how == COPIED
    assert (tmp_path / "images21" / TARGET).read_bytes() == data
