"""Files a row names are read only inside the image folder, never through a link, and only
when they match the row: export, thumbnails, signature checks and the image folder check."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from test_export import export

from exportclinic import Clinic, c, out, png, xray8
from factories import ACTOR
from ibdesk import safefiles
from ibdesk.patients import signing, thumbnails
from ibdesk.progress import run_to_end
from ibdesk.statistics import imagecheck

pytestmark = pytest.mark.backends("sqlite")
SECRET = b"root:x:0:0:root:/root:/bin/bash\n"

__all__ = ["c", "out"]  # fixtures, imported for pytest to find


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_safe_open_refuses_links_fifos_devices_and_escapes(tmp_path: Path) -> None:
    root = tmp_path / "bilder"
    (root / "a").mkdir(parents=True)
    (root / "a" / "ok.bin").write_bytes(b"data")
    (tmp_path / "secret").write_bytes(SECRET)
    (root / "leaf-link").symlink_to(tmp_path / "secret")
    (root / "inner-link").symlink_to(root / "a" / "ok.bin")  # a link even inside is refused
    (root / "dir-link").symlink_to(root / "a", target_is_directory=True)
    os.mkfifo(root / "fifo")
    kinds = {
        "leaf-link": safefiles.LINK,
        "inner-link": safefiles.LINK,
        "dir-link/ok.bin": safefiles.LINK,
        "fifo": safefiles.NOT_REGULAR,
        "a": safefiles.NOT_REGULAR,
        "../secret": safefiles.OUTSIDE,
        str(tmp_path / "secret"): safefiles.OUTSIDE,
        "a/../../secret": safefiles.OUTSIDE,
        "gone.bin": safefiles.MISSING,
        "a/ok.bin/x": safefiles.MISSING,
    }
    try:
        os.mknod(root / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        kinds["null"] = safefiles.NOT_REGULAR
    except PermissionError:
        pass  # only root may make a device node
    for relative, kind in kinds.items():
        with pytest.raises(safefiles.FileProblem) as raised:
            safefiles.hash_verified(root, relative, size=None, sha256=None)
        assert raised.value.kind == kind, relative
    assert safefiles.read_verified(root, "a/ok.bin", size=4, sha256=_sha(b"data")) == b"data"
    with pytest.raises(safefiles.FileProblem) as wrong_size:
        safefiles.read_verified(root, "a/ok.bin", size=5, sha256=_sha(b"data"))
    assert wrong_size.value.kind == safefiles.SIZE
    with pytest.raises(safefiles.FileProblem) as wrong_hash:
        safefiles.hash_verified(root, "a/ok.bin", size=4, sha256=_sha(b"atad"))
    assert wrong_hash.value.kind == safefiles.HASH and "a/ok.bin" in str(wrong_hash.value)


def test_export_never_follows_a_link_out_of_the_image_folder(
    engine: Engine, c: Clinic, out: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "passwd"
    secret.write_bytes(SECRET)
    image_set = c.image_set(c.patient())
    # The row records the secret's size and hash, as a hostile workstation would write it.
    trap = c.add(image_set, "document", SECRET, "remiss.pdf")
    c.source(trap).unlink()
    c.source(trap).symlink_to(secret)
    kept = c.add(image_set, "document", b"%PDF-1.4 a real letter", "brev.pdf")
    summary, _log = export(engine, out)
    problems = {f.media_id: f.problem for f in summary.failed}
    assert set(problems) == {trap.id} and "symbolic link" in problems[trap.id]
    exported = [p for p in out.rglob("*") if p.is_file()]
    assert all(SECRET not in p.read_bytes() for p in exported)
    assert any(p.read_bytes() == c.files[kept.id] for p in exported)


def test_export_refuses_an_original_that_differs_from_its_row(
    engine: Engine, c: Clinic, out: Path
) -> None:
    image_set = c.image_set(c.patient())
    copied = c.add(image_set, "document", b"%PDF-1.4 the letter", "brev.pdf")
    c.source(copied).write_bytes(b"%PDF-1.4 the lettex")  # same size, other content
    encoded = c.add(image_set, "intraoral", png(xray8()), "a.png")
    c.source(encoded).write_bytes(png(xray8(seed=9)))
    summary, _log = export(engine, out)
    problems = {f.media_id: f.problem for f in summary.failed}
    assert set(problems) == {copied.id, encoded.id}
    assert all("does not match its record" in p or "bytes but" in p for p in problems.values())
    names = {p.name for p in out.rglob("*") if p.is_file()}
    assert not any(n.startswith(f"{image_set.id}-{copied.id}-") for n in names)
    assert not any(n.startswith(f"{image_set.id}-{encoded.id}-") for n in names)


def test_thumbnails_are_made_only_of_the_file_the_row_records(tmp_path: Path) -> None:
    folder = tmp_path / "bilder"
    folder.mkdir()
    data = _png()
    (folder / "riktig.png").write_bytes(data)
    (folder / "länk.png").symlink_to(folder / "riktig.png")
    (folder / "utbytt.png").write_bytes(data)
    maker = thumbnails.Thumbnailer()
    good = thumbnails.MediaSource(1, "photo", "riktig.png", _sha(data), str(folder), len(data))
    assert maker.thumbnail(good).state == "ready"
    # A link inside the folder, even to a good file, and a row whose hash differs: not shown.
    link = thumbnails.MediaSource(2, "photo", "länk.png", "cd" * 32, str(folder), len(data))
    assert maker.thumbnail(link).state == "unreadable"
    other = thumbnails.MediaSource(3, "photo", "utbytt.png", "ef" * 32, str(folder), len(data))
    assert maker.thumbnail(other).state == "unreadable"
    assert not thumbnails.cache_path("cd" * 32).exists()
    assert not thumbnails.cache_path("ef" * 32).exists()


def test_signature_check_does_not_follow_a_swapped_in_link(
    session: Session, c: Clinic, tmp_path: Path
) -> None:
    image_set = c.image_set(c.patient())
    item = c.add(image_set, "intraoral", png(xray8()), "a.png")
    signing.sign(session, ACTOR, image_set.id)
    session.commit()
    assert signing.verify(session, image_set.id).ok
    copy = tmp_path / "copy.png"
    copy.write_bytes(c.files[item.id])
    c.source(item).unlink()
    c.source(item).symlink_to(copy)  # same bytes, but not the file in the image folder
    problems = signing.verify(session, image_set.id).problems
    assert len(problems) == 1 and item.path in problems[0] and "symbolic link" in problems[0]


def test_image_folder_check_lists_links_and_pipes_as_unreadable(
    engine: Engine, c: Clinic, tmp_path: Path
) -> None:
    image_set = c.image_set(c.patient())
    secret = tmp_path / "passwd"
    secret.write_bytes(SECRET)
    linked = c.add(image_set, "document", SECRET, "remiss.pdf")
    c.source(linked).unlink()
    c.source(linked).symlink_to(secret)
    piped = c.add(image_set, "document", b"", "pipe.pdf")
    c.source(piped).unlink()
    os.mkfifo(c.source(piped))
    fine = c.add(image_set, "document", b"%PDF", "ok.pdf")
    report, log = run_to_end(imagecheck.check(engine))
    assert sorted(report.unreadable) == sorted([linked.path, piped.path])
    assert fine.path not in report.unreadable and not report.missing
    assert any("symbolic link" in line.text for line in log)
