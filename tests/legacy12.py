"""Building ImageBank 1.2 installations for the conversion tests, with the shared builder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

BUILDER = Path(__file__).resolve().parents[2] / "shared" / "legacy12" / "make_legacy12.py"
TABLES = ("Installningar", "Anvandare", "Patienter", "Status", "Bilder", "Logg")


def build(
    out: Path, *, patients: int = 80, seed: int = 3, url: str | None = None
) -> dict[str, Any]:
    """Build a 1.2 installation into ``out``; return its manifest (the ground truth)."""
    command = [
        sys.executable,
        str(BUILDER),
        str(out),
        "--patients",
        str(patients),
        "--seed",
        str(seed),
        "--image-size",
        "16x12",
    ]
    if url:
        command += ["--url", url]
    subprocess.run(command, check=True, capture_output=True)
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return manifest


def source_url(out: Path, url: str | None) -> str:
    """Return the URL of a build's database."""
    return url or f"sqlite:///{out / 'imagebank12.sqlite'}"


def fingerprint(out: Path, url: str) -> str:
    """Hash everything of a 1.2 installation: every row of every table and every file."""
    digest = hashlib.sha256()
    engine = create_engine(url)
    with engine.connect() as conn:
        for table in TABLES:
            for row in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1')):
                digest.update(repr(tuple(row)).encode())
    engine.dispose()
    if url.startswith("sqlite"):
        digest.update((out / "imagebank12.sqlite").read_bytes())
    for folder, dirs, files in os.walk(out / "Bilder"):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            info = path.lstat()
            digest.update(f"{path}:{info.st_mode}:{info.st_size}:{info.st_mtime_ns}".encode())
            if path.is_file() and not path.is_symlink():
                digest.update(path.read_bytes())
    return digest.hexdigest()
