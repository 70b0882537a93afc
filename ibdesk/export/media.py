"""Exporting one media file: X-rays and photos to JPEG 2000, everything else copied unchanged.

``export_file`` runs in the export's worker processes (or in the calling process when the
export runs with ``jobs=0``). It never raises for a problem with one file: it returns a
``FileResult`` saying what went wrong, in one sentence for the administrator.

File names say how the file was made (the manifest and the XML say it too):
``SET-MEDIA-KIND.jp2`` lossless JPEG 2000, ``SET-MEDIA-KIND-lossy.jp2`` visually lossless,
``SET-MEDIA-KIND-original.EXT`` an image original copied unchanged (already JPEG 2000, DICOM,
or an original that cannot be converted without loss or cannot be read as an image: the
log warns about those), ``SET-MEDIA-KIND.EXT`` video, audio and documents copied unchanged.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ibdesk import private
from ibdesk.export import pixels
from ibdesk.export.files import (
    TEMP_PREFIX,
    ItemProblem,
    copy_verified,
    hash_source,
    read_source,
    sha256_file,
    write_with,
)
from ibdesk.i18n import gettext as _
from ibdesk.safefiles import FileProblem
from ibdesk.workers import init_helper

IMAGE_KINDS = frozenset({"intraoral", "panoramic", "photo"})
_SAFE_EXTENSION = re.compile(r"^[a-z0-9]{1,8}$")

__all__ = ["IMAGE_KINDS", "TEMP_PREFIX", "FileResult", "FileTask", "export_file"]


@dataclass(frozen=True)
class FileTask:
    """One media file to export into a patient's folder."""

    media_id: int
    kind: str
    source: str
    folder: str
    stem: str
    extension: str
    lossy: bool
    # The image folder and the row's path in it, size and SHA-256: the original is read
    # only through ibdesk.safefiles and only when it matches the row.
    root: str
    relative: str
    byte_size: int | None
    sha256: str | None
    # (name, SHA-256) of files for this item already in the folder's manifest.
    known: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FileResult:
    """What became of one media file."""

    media_id: int
    outcome: str  # "encoded", "copied", "skipped" or "failed"
    name: str = ""
    sha256: str = ""
    size: int = 0
    conversion: str = ""  # "lossless", "visually-lossless" or "unchanged"
    original_sha256: str = ""
    original_size: int | None = None
    width: int | None = None
    height: int | None = None
    components: int | None = None
    bit_depth: int | None = None
    problem: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Return whether the item has an exported file."""
        return self.outcome != "failed"


def candidate_names(kind: str, stem: str, extension: str, lossy: bool) -> tuple[str, ...]:
    """Return the names an item may have been exported under with these options."""
    if kind not in IMAGE_KINDS:
        return (f"{stem}.{extension}",)
    made = f"{stem}-lossy.jp2" if lossy and kind == "photo" else f"{stem}.jp2"
    return (made, f"{stem}-original.jp2", f"{stem}-original.j2k", f"{stem}-original.{extension}")


def safe_extension(path: str, default: str = "bin") -> str:
    """Return the original's file extension if it is short and plain, else ``default``."""
    suffix = Path(path.replace("\\", "/")).suffix.lower().lstrip(".")
    return suffix if _SAFE_EXTENSION.fullmatch(suffix) else default


def init_worker(threads: int) -> None:
    """Prepare a worker process: OpenJPEG threads, no Ctrl-C, exit when the export dies."""
    init_helper()
    pixels.set_threads(threads)


def export_file(task: FileTask) -> FileResult:
    """Export one media file; report any problem in the result instead of raising."""
    try:
        return _export(task)
    except (ItemProblem, FileProblem) as problem:
        return FileResult(task.media_id, "failed", problem=str(problem))
    except Exception as error:  # one damaged file must not stop the export
        return FileResult(
            task.media_id, "failed", problem=f"unexpected {type(error).__name__}: {error}"
        )


def _export(task: FileTask) -> FileResult:
    folder = Path(task.folder)
    for name, digest in task.known:
        target = folder / name
        if target.is_file() and sha256_file(target) == digest:
            return _skipped(task, name, digest, target)
    if task.kind in IMAGE_KINDS:
        return _image(task)
    name = f"{task.stem}.{task.extension}"
    digest, size, original_digest, original_size = copy_verified(
        _origin(task), folder / name, record=_record(task)
    )
    return FileResult(
        task.media_id,
        "copied",
        name=name,
        sha256=digest,
        size=size,
        conversion="unchanged",
        original_sha256=original_digest,
        original_size=original_size,
    )


def _origin(task: FileTask) -> tuple[str, str]:
    return task.root, task.relative


def _record(task: FileTask) -> tuple[int | None, str | None]:
    return task.byte_size, task.sha256


def _skipped(task: FileTask, name: str, digest: str, target: Path) -> FileResult:
    private.restrict(target)  # a file an earlier export left readable by others
    notes: list[str] = []
    try:
        original_digest, original_size = hash_source(task.root, task.relative, *_record(task))
    except ItemProblem as problem:
        original_digest, original_size = "", None
        notes.append(_("already exported, but now %(problem)s", problem=problem))
    geometry = pixels.jp2_geometry(target) if name.endswith((".jp2", ".j2k")) else None
    if name.endswith("-lossy.jp2"):
        conversion = "visually-lossless"
    elif task.kind in IMAGE_KINDS and not name.startswith(f"{task.stem}-original."):
        conversion = "lossless"
    else:
        conversion = "unchanged"
    return _result(
        task,
        "skipped",
        name,
        (digest, target.stat().st_size),
        conversion,
        (original_digest, original_size),
        geometry,
        tuple(notes),
    )


def _image(task: FileTask) -> FileResult:
    source, folder = Path(task.source), Path(task.folder)
    data = read_source(task.root, task.relative, *_record(task))
    original = (hashlib.sha256(data).hexdigest(), len(data))
    jpeg2000 = pixels.is_jpeg2000(data)
    if jpeg2000:
        return _copy_jpeg2000(task, source, folder / f"{task.stem}-original.{jpeg2000}", original)
    if pixels.is_dicom(data):
        return _copy_unconverted(
            task, _("%(name)s is a DICOM file, so it was copied unchanged", name=source.name)
        )
    try:
        image = pixels.decode(data, task.kind, source)
    except pixels.KeepOriginal as keep:
        return _copy_unconverted(task, str(keep))
    lossy = task.lossy and task.kind == "photo"
    name = f"{task.stem}-lossy.jp2" if lossy else f"{task.stem}.jp2"
    written = write_with(folder / name, lambda temp: pixels.encode_jp2(temp, image, lossy=lossy))
    geometry = (
        image.shape[1],
        image.shape[0],
        1 if image.ndim == 2 else image.shape[2],
        image.dtype.itemsize * 8,
    )
    conversion = "visually-lossless" if lossy else "lossless"
    return _result(task, "encoded", name, written, conversion, original, geometry)


def _copy_jpeg2000(
    task: FileTask, source: Path, target: Path, original: tuple[str, int]
) -> FileResult:
    def check(temp: Path) -> None:
        problem = pixels.jpeg2000_problem(temp)
        if problem:
            raise ItemProblem(
                _(
                    "%(name)s is a damaged JPEG 2000 file (%(problem)s)",
                    name=source.name,
                    problem=problem,
                )
            )

    digest, size, copied_digest, _copied_size = copy_verified(
        _origin(task), target, record=_record(task), check=check
    )
    if copied_digest != original[0]:
        raise ItemProblem(_("%(name)s changed while it was being copied", name=source.name))
    geometry = pixels.jp2_geometry(target)
    return _result(task, "copied", target.name, (digest, size), "unchanged", original, geometry)


def _copy_unconverted(task: FileTask, warning: str) -> FileResult:
    name = f"{task.stem}-original.{task.extension}"
    digest, size, original_digest, original_size = copy_verified(
        _origin(task), Path(task.folder) / name, record=_record(task)
    )
    return _result(
        task,
        "copied",
        name,
        (digest, size),
        "unchanged",
        (original_digest, original_size),
        None,
        (warning,),
    )


def _result(
    task: FileTask,
    outcome: str,
    name: str,
    written: tuple[str, int],
    conversion: str,
    original: tuple[str, int | None],
    geometry: tuple[int, int, int, int] | None,
    notes: tuple[str, ...] = (),
) -> FileResult:
    width, height, components, bit_depth = geometry or (None, None, None, None)
    return FileResult(
        task.media_id,
        outcome,
        name=name,
        sha256=written[0],
        size=written[1],
        conversion=conversion,
        original_sha256=original[0],
        original_size=original[1],
        width=width,
        height=height,
        components=components,
        bit_depth=bit_depth,
        warnings=notes,
    )
