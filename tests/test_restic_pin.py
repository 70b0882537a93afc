"""The Windows build's pinned restic.exe: the pin, the download check, where the program finds it.

No Windows and no internet here: the verify logic runs on a local fake archive served by a
``file:`` URL, with the right hash and with a wrong one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

import pytest

from ibdesk.backup import restic

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
MEMBER = "restic_0.18.1_windows_amd64.exe"


def load(name: str, path: Path) -> ModuleType:
    """Import a build script by its path (build/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pin_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """build/restic_pin.py, importable as build.py imports it."""
    monkeypatch.syspath_prepend(str(BUILD))
    module = load("restic_pin", BUILD / "restic_pin.py")
    yield module
    sys.modules.pop("restic_pin", None)


@pytest.fixture
def fake_archive(tmp_path: Path) -> Path:
    """A zip shaped like restic's Windows release, holding a stand-in program."""
    archive = tmp_path / "served" / "restic_0.18.1_windows_amd64.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(MEMBER, b"MZ not really restic")
    return archive


def digest(path: Path) -> str:
    """Return a file's SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_pin_is_one_complete_official_release(pin_module: ModuleType) -> None:
    pin = pin_module.load_pin()
    assert pin.version == json.loads((BUILD / "restic-pin.json").read_text())["version"]
    assert pin.url == (
        f"https://github.com/restic/restic/releases/download/v{pin.version}/"
        f"restic_{pin.version}_windows_amd64.zip"
    )
    assert pin.member == f"restic_{pin.version}_windows_amd64.exe"
    assert len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha256": ""}, "fill in 'sha256'"),
        ({"sha256": "ABC"}, "SHA256SUMS"),
        ({"url": "https://example.com/restic_0.18.1_windows_amd64.zip"}, "official release"),
        ({"member": "../../evil.exe"}, "'member' must be"),
        ({"version": "latest"}, "'version' must be"),
    ],
)
def test_an_incomplete_pin_says_what_to_fill_in(
    pin_module: ModuleType, tmp_path: Path, change: dict[str, str], message: str
) -> None:
    data = json.loads((BUILD / "restic-pin.json").read_text())
    path = tmp_path / "restic-pin.json"
    path.write_text(json.dumps({**data, **change}))
    with pytest.raises(pin_module.PinError, match=message):
        pin_module.load_pin(path)


def test_a_matching_archive_is_bundled_and_kept(
    pin_module: ModuleType, fake_archive: Path, tmp_path: Path
) -> None:
    pin = pin_module.Pin("0.18.1", fake_archive.as_uri(), digest(fake_archive), MEMBER)
    calls: list[str] = []

    def opener(url: str) -> BinaryIO:
        calls.append(url)
        return fake_archive.open("rb")

    program = pin_module.bundle(pin, tmp_path / "cache", tmp_path / "out", opener)
    assert program == tmp_path / "out" / "restic.exe"
    assert program.read_bytes() == b"MZ not really restic"
    assert "BSD 2-Clause" in (tmp_path / "out" / "restic-LICENSE.txt").read_text()
    assert calls == [fake_archive.as_uri()]
    # a second build takes the verified copy from the cache
    pin_module.bundle(pin, tmp_path / "cache", tmp_path / "again", opener)
    assert calls == [fake_archive.as_uri()] and (tmp_path / "again" / "restic.exe").is_file()


def test_a_wrong_hash_is_refused_and_nothing_is_left(
    pin_module: ModuleType, fake_archive: Path, tmp_path: Path
) -> None:
    pin = pin_module.Pin("0.18.1", fake_archive.as_uri(), "0" * 64, MEMBER)
    with pytest.raises(pin_module.PinError, match=r"not the pinned 0{64}: refusing"):
        pin_module.bundle(pin, tmp_path / "cache", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_damaged_cached_copy_is_downloaded_again(
    pin_module: ModuleType, fake_archive: Path, tmp_path: Path
) -> None:
    pin = pin_module.Pin("0.18.1", fake_archive.as_uri(), digest(fake_archive), MEMBER)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / fake_archive.name).write_bytes(b"half a download")
    program = pin_module.bundle(pin, cache, tmp_path / "out")
    assert program.read_bytes() == b"MZ not really restic"
    assert digest(cache / fake_archive.name) == pin.sha256


def test_an_archive_without_the_program_is_refused(pin_module: ModuleType, tmp_path: Path) -> None:
    archive = tmp_path / "restic_0.18.1_windows_amd64.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("README.txt", b"no program here")
    pin = pin_module.Pin("0.18.1", archive.as_uri(), digest(archive), MEMBER)
    with pytest.raises(pin_module.PinError, match=f"holds no {MEMBER}"):
        pin_module.bundle(pin, tmp_path / "cache", tmp_path / "out")
    assert not (tmp_path / "out" / "restic.exe").exists()


def test_build_script_refuses_a_mismatch_in_one_sentence(
    pin_module: ModuleType,
    fake_archive: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build = load("ibdesk_build_script", BUILD / "build.py")
    good = pin_module.Pin("0.18.1", fake_archive.as_uri(), digest(fake_archive), MEMBER)
    monkeypatch.setattr(pin_module, "load_pin", lambda: good)
    made = build._verified_restic(tmp_path / "work")
    assert made is not None and made.read_bytes() == b"MZ not really restic"
    shutil.rmtree(tmp_path / "work")
    bad = pin_module.Pin("0.18.1", fake_archive.as_uri(), "f" * 64, MEMBER)
    monkeypatch.setattr(pin_module, "load_pin", lambda: bad)
    assert build._verified_restic(tmp_path / "work") is None
    err = capsys.readouterr().err.strip()
    assert err.startswith("The bundled restic.exe:") and "refusing" in err
    assert len(err.splitlines()) == 1


def test_a_built_program_finds_the_restic_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IBDESK_RESTIC", raising=False)
    folder = tmp_path / "dist" / "ibdesk"
    folder.mkdir(parents=True)
    (folder / "ibdesk").write_text("")
    system = shutil.which("restic")
    assert system is not None
    assert restic.restic_program() == system  # not built: Debian's restic from PATH
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(folder / "ibdesk"))
    assert restic.restic_program() == system  # built, nothing bundled (Linux): PATH's
    (folder / "restic").write_text("#!/bin/sh\n")
    assert restic.restic_program() == str(folder / "restic")  # the bundled one first
    monkeypatch.setenv("IBDESK_RESTIC", "/opt/other/restic")
    assert restic.restic_program() == "/opt/other/restic"
