"""The pinned restic.exe of the Windows build: download, verify against the pin, bundle.

The pin (version, URL, SHA-256 of the release archive, the program's name inside it) lives
in one place, build/restic-pin.json. An archive whose SHA-256 is not the pinned one is
refused and removed: nothing unverified is ever unpacked or bundled. A verified archive is
kept under build/.work/restic/ so a second build does not download it again.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
PIN_FILE = HERE / "restic-pin.json"
RELEASES = "https://github.com/restic/restic/releases/download/"
PROGRAM = "restic.exe"
LICENSE = HERE / "windows" / "restic-LICENSE.txt"
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_ARCHIVE = 200_000_000  # restic's Windows archive is about 10 MB


class PinError(Exception):
    """The pin is incomplete, or a download does not match it (one sentence)."""


@dataclass(frozen=True)
class Pin:
    """One restic release for Windows, as the build bundles it."""

    version: str
    url: str
    sha256: str
    member: str

    @property
    def archive_name(self) -> str:
        """Return the archive's file name (the URL's last part)."""
        return self.url.rsplit("/", 1)[-1]


def load_pin(path: Path = PIN_FILE) -> Pin:
    """Read and check the pin; say exactly what to fill in when it is incomplete."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PinError(f"{path} cannot be read as JSON: {error}") from error
    fields = {name: str(data.get(name) or "").strip() for name in Pin.__dataclass_fields__}
    version = fields["version"]
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise PinError(f"{path}: 'version' must be a restic release such as 0.18.1.")
    expected_url = f"{RELEASES}v{version}/restic_{version}_windows_amd64.zip"
    if fields["url"] != expected_url:
        raise PinError(f"{path}: 'url' must be the official release archive {expected_url}.")
    if fields["member"] != f"restic_{version}_windows_amd64.exe":
        raise PinError(f"{path}: 'member' must be restic_{version}_windows_amd64.exe.")
    if not SHA256.fullmatch(fields["sha256"]):
        raise PinError(
            f"{path}: fill in 'sha256' with the line for restic_{version}_windows_amd64.zip "
            f"in {RELEASES}v{version}/SHA256SUMS (64 lower-case hex digits); the build does "
            "not bundle a restic it cannot verify."
        )
    return Pin(**fields)


def sha256_of(path: Path) -> str:
    """Return a file's SHA-256."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def verify(archive: Path, pin: Pin) -> None:
    """Refuse an archive whose SHA-256 is not the pinned one."""
    found = sha256_of(archive)
    if found != pin.sha256:
        raise PinError(
            f"{archive.name} has SHA-256 {found}, not the pinned {pin.sha256}: refusing to "
            "bundle it (a damaged or substituted download)."
        )


Opener = Callable[[str], IO[bytes]]


def _open(url: str) -> IO[bytes]:
    return urllib.request.urlopen(url, timeout=120)  # the pinned https URL (or a test file:)


def fetch(pin: Pin, cache: Path, opener: Opener = _open) -> Path:
    """Return the verified archive: from the cache, or downloaded, checked, then kept."""
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / pin.archive_name
    if archive.is_file():
        try:
            verify(archive, pin)
            return archive
        except PinError:
            archive.unlink()  # a stale or damaged copy: download again
    partial = archive.with_name(archive.name + ".part")
    try:
        with opener(pin.url) as answer, partial.open("wb") as out:
            size = 0
            for block in iter(lambda: answer.read(1 << 20), b""):
                size += len(block)
                if size > MAX_ARCHIVE:
                    raise PinError(f"{pin.url} is larger than any restic release; refused.")
                out.write(block)
        verify(partial, pin)
        partial.replace(archive)
    finally:
        partial.unlink(missing_ok=True)
    return archive


def extract(archive: Path, pin: Pin, folder: Path) -> Path:
    """Unpack the pinned member of a verified archive as folder/restic.exe."""
    verify(archive, pin)  # never unpack what was not checked, even from the cache
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PROGRAM
    with zipfile.ZipFile(archive) as zipped:
        try:
            info = zipped.getinfo(pin.member)
        except KeyError as error:
            raise PinError(f"{archive.name} holds no {pin.member}.") from error
        partial = target.with_name(target.name + ".part")
        try:
            with zipped.open(info) as source, partial.open("wb") as out:
                shutil.copyfileobj(source, out)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    return target


def bundle(pin: Pin, cache: Path, folder: Path, opener: Opener = _open) -> Path:
    """Put the pinned, verified restic.exe (and restic's license) into a folder."""
    program = extract(fetch(pin, cache, opener), pin, folder)
    shutil.copyfile(LICENSE, folder / LICENSE.name)
    return program
