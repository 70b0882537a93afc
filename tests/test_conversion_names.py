"""The name index the analysis, the orphan scan and the reconciliation compare files with."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ibdesk.conversion.names import NameIndex, row_name, walk_files


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "bilder"
    (root / "sub").mkdir(parents=True)
    (root / "A.jpg").write_bytes(b"12")
    (root / "a.jpg").write_bytes(b"345")  # a twin differing only in case (Linux keeps both)
    (root / "b.png").write_bytes(b"6")
    (root / "sub" / "c.tif").write_bytes(b"7890")
    (root / "länk.jpg").symlink_to(root / "b.png")  # a link is never a file of the folder
    return root


def test_the_walk_lists_regular_files_in_order_with_sizes(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    assert list(walk_files(root)) == [("A.jpg", 2), ("a.jpg", 3), ("b.png", 1), ("sub/c.tif", 4)]
    assert row_name(" sub\\C.TIF ") == "sub/c.tif"


def test_unnamed_files_and_counts(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    with NameIndex() as names:
        names.add_disk(root)
        names.add_named([{"BildId": 1, "Filnamn": "A.JPG"}, {"BildId": 2, "Filnamn": "sub\\c.tif"}])
        assert names.files() == (4, 10)
        assert names.distinct_files() == 3  # the twins count once, as on Windows
        assert list(names.unnamed()) == ["b.png"]


def test_reconcile_balances_only_when_every_file_is_accounted_for(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    rows = [
        {"BildId": 1, "Filnamn": "a.jpg"},
        {"BildId": 2, "Filnamn": "sub/c.tif"},
        {"BildId": 3, "Filnamn": "sub/c.tif"},
        {"BildId": 4, "Filnamn": "saknas.jpg"},
    ]
    outcomes = [("1", "converted"), ("2", "rejected"), ("3", "converted"), ("4", "rejected")]
    with NameIndex() as names:
        names.add_disk(root)
        names.add_named(rows)
        names.add_outcomes(outcomes)
        names.add_orphans(["B.PNG"])
        assert names.orphans() == 1
        assert names.reconcile("converted", "rejected") == (0, True)
    with NameIndex() as names:  # c.tif only named by a rejected row; no orphan recorded
        names.add_disk(root)
        names.add_named(rows)
        names.add_outcomes([("1", "converted"), ("2", "rejected"), ("3", "rejected")])
        assert names.reconcile("converted", "rejected") == (1, False)  # b.png unaccounted
    with NameIndex() as names:  # an "orphan" that a converted row names does not balance
        names.add_disk(root)
        names.add_named(rows)
        names.add_outcomes(outcomes)
        names.add_orphans(["b.png", "a.jpg"])
        assert names.reconcile("converted", "rejected") == (0, False)


def test_the_index_is_private_and_removed_even_after_an_error(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    with pytest.raises(RuntimeError), NameIndex() as names:
        folder = Path(names.db.execute("PRAGMA database_list").fetchone()[2]).parent
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        names.add_disk(root)
        raise RuntimeError("stopped")
    assert not folder.exists()


def test_row_names_are_the_components_placement_resolves(tmp_path: Path) -> None:
    assert row_name(".\\000001\\B000005.JPG") == "000001/b000005.jpg"
    assert row_name("000001\\\\sub\\.\\x.BMP ") == "000001/sub/x.bmp"
    root = tmp_path / "Bilder"
    (root / "000001").mkdir(parents=True)
    (root / "000001" / "B000005.JPG").write_bytes(b"x")
    with NameIndex() as names:
        names.add_disk(root)
        names.add_named([{"BildId": 5, "Filnamn": ".\\000001\\B000005.JPG"}])
        assert list(names.unnamed()) == []


@pytest.fixture
def deep_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Make a folder 1,100 levels deep; remove it again level by level.

    Path.mkdir(parents=True) and shutil.rmtree (pytest's own clean-up of old temporary
    folders too) recurse, so both are done here in loops.
    """
    root = tmp_path / "Bilder"
    root.mkdir()
    deep = str(root)
    for _level in range(1100):
        deep = os.path.join(deep, "d")
        os.mkdir(deep)
    try:
        yield root, deep
    finally:
        for folder, _dirs, files in os.walk(deep, topdown=False):
            for name in files:
                os.unlink(os.path.join(folder, name))
            os.rmdir(folder)
        while deep != str(root):
            deep = os.path.dirname(deep)
            if os.path.basename(deep) == "d":
                os.rmdir(deep)


def test_a_folder_a_thousand_levels_deep_is_walked_in_order(
    deep_folder: tuple[Path, str],
) -> None:
    root, deep = deep_folder
    Path(deep, "deep.bmp").write_bytes(b"12")
    (root / "a").mkdir()
    (root / "a" / "z.bmp").write_bytes(b"1")
    (root / "a" / "b").mkdir()
    (root / "a" / "b" / "y.bmp").write_bytes(b"1")
    (root / "top.bmp").write_bytes(b"1")
    found = list(walk_files(root))
    assert found[:3] == [("top.bmp", 1), ("a/z.bmp", 1), ("a/b/y.bmp", 1)]
    assert found[3] == ("/".join(["d"] * 1100) + "/deep.bmp", 2)
    assert len(found) == 4
