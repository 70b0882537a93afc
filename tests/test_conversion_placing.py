"""Placing 1.2 files: a hard link on the same file system, else a copy read back from disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ibdesk.conversion import checks
from ibdesk.conversion.placing import CHUNK, COPIED, HEAD, LINKED, Empty, Placer


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
