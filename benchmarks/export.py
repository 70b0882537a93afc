"""Export throughput next to Debian's ``opj_compress`` encoding the same images, in one run.

    python benchmarks/export.py [--patients N] [--media K] [--jobs J] [--rounds R]

Makes a demo clinic with real files on SQLite (16-bit intraoral and 8-bit panoramic PNGs,
colour JPEG photos, WAV, PDF), exports every patient with ``ibdesk.export`` (lossless, J
worker processes, default one per core), then converts the same images to the PGM/PPM
files ``opj_compress`` reads (not timed) and encodes each with ``opj_compress -threads T``
(T = the cores the export used), lossless with the same code-block size and resolution
levels. Throughput is images/s and MB/s of raw pixel data; the ratio is ibdesk over
opj_compress (above 1.0: the export is faster than the command-line encoder alone, although
it also decodes the originals, hashes, writes XML, copies the other files and commits one
audit event per patient). It also counts how many exported files are byte-identical to
opj_compress's, and prints the export process's memory at each quarter of the export (flat:
the export streams). The two alternate R times (default 2) and the best time of each counts,
so a machine shared with other work loads both alike.

ibdesk and the image libraries are imported inside the functions: worker processes import
this script again when they start, and a script that imports little starts them quickly
(``python -m ibdesk`` workers import nothing of it at all).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IMAGE_KINDS = ("intraoral", "panoramic", "photo")


def make_clinic(folder: Path, patients: int, media: int) -> tuple[str, Path]:
    """Make a demo clinic with real files; return its database URL and image folder."""
    from ibdesk import clinic_settings, demo, schema
    from ibdesk.db import make_engine, session_scope
    from ibdesk.progress import run_to_end

    url = f"sqlite:///{folder / 'clinic.sqlite3'}"
    engine = make_engine(url, create=True)
    schema.upgrade(engine)
    images = folder / "images"
    images.mkdir()
    options = demo.DemoOptions(patients=patients, media_per_patient=media, image_folder=images)
    run_to_end(demo.generate(engine, options))
    with session_scope(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(images), by="benchmark")
    engine.dispose()
    return url, images


def image_sources(url: str, images: Path) -> list[tuple[Path, str]]:
    """Return the clinic's image files (X-rays and photos) with their exported paths."""
    from sqlalchemy import select

    from ibdesk.db import make_engine, session_scope
    from ibdesk.models import MediaItem, Patient

    engine = make_engine(url)
    with session_scope(engine, read_only=True) as session:
        rows = session.execute(
            select(MediaItem, Patient.personnummer)
            .join(Patient, Patient.id == MediaItem.patient_id)
            .where(MediaItem.kind.in_(IMAGE_KINDS))
            .order_by(MediaItem.id)
        ).all()
        found = [
            (images / m.path, f"{number}/{m.image_set_id}-{m.id}-{m.kind}.jp2")
            for m, number in rows
        ]
    engine.dispose()
    return found


def to_netpbm(sources: list[Path], folder: Path) -> tuple[list[Path], int]:
    """Write each image as the PGM/PPM opj_compress reads; return them and the pixel bytes."""
    import numpy as np
    from PIL import Image

    folder.mkdir()
    made, raw = [], 0
    for n, source in enumerate(sources):
        with Image.open(source) as image:
            pixels = np.asarray(image)
        if pixels.dtype != np.uint8:
            pixels = pixels.astype(np.uint16)
        target = folder / f"{n:06d}.{'ppm' if pixels.ndim == 3 else 'pgm'}"
        Image.fromarray(pixels).save(target)
        made.append(target)
        raw += pixels.nbytes
    return made, raw


def opj_compress(inputs: list[Path], folder: Path, threads: int) -> float:
    """Encode each input with opj_compress, one after the other; return the seconds."""
    folder.mkdir()
    started = time.perf_counter()
    for source in inputs:
        subprocess.run(
            ["opj_compress", "-i", str(source), "-o", str(folder / f"{source.stem}.jp2"),
             "-threads", str(threads)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
    return time.perf_counter() - started


def identical(ours: Path, theirs: Path) -> bool:
    """Return whether two JP2 files are byte for byte the same."""
    return ours.read_bytes() == theirs.read_bytes()


def rss_mb() -> float:
    """Return this process's resident memory now (Linux), or its peak elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def export_once(url: str, out: Path, jobs: int) -> tuple[float, object, list[float]]:
    """Export every patient into ``out``; return seconds, summary and memory at each quarter."""
    from ibdesk.audit import Actor
    from ibdesk.db import make_engine
    from ibdesk.export import ExportOptions, Selection, export_patients
    from ibdesk.progress import Progress

    out.mkdir()
    engine = make_engine(url)
    job = export_patients(
        engine, Selection.all_patients(), ExportOptions(to=out, jobs=jobs), Actor("bench")
    )
    memory = [rss_mb()]
    quarter = 1
    started = time.perf_counter()
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            seconds, summary = time.perf_counter() - started, stop.value
            break
        if isinstance(event, Progress) and event.total and event.done >= quarter * event.total / 4:
            memory.append(rss_mb())
            quarter += 1
    engine.dispose()
    return seconds, summary, memory


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--media", type=int, default=10, help="media per patient")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternate runs of each; the best counts"
    )
    args = parser.parse_args()
    if shutil.which("opj_compress") is None:
        print("opj_compress is not installed (Debian: libopenjp2-tools).", file=sys.stderr)
        return 1
    cores = os.cpu_count() or 1
    threads = max(1, args.jobs) * max(1, cores // max(1, args.jobs))
    with tempfile.TemporaryDirectory(prefix="ibdesk-bench-export-") as temp:
        folder = Path(temp)
        print(f"Making a demo clinic: {args.patients} patients x {args.media} media ...")
        url, images = make_clinic(folder, args.patients, args.media)
        sources = image_sources(url, images)
        inputs, raw = to_netpbm([path for path, _ in sources], folder / "netpbm")
        ours_runs, theirs_runs = [], []
        memory: list[float] = []
        summary: Any = None
        # Alternate, so that a machine shared with others loads both sides alike.
        for n in range(args.rounds):
            seconds, summary, memory = export_once(url, folder / f"export{n}", args.jobs)
            if not summary.ok:
                print(f"the export reported problems: {summary.failed[:3]}", file=sys.stderr)
                return 1
            ours_runs.append(seconds)
            theirs_runs.append(opj_compress(inputs, folder / f"opj{n}", threads))
        ours, theirs = min(ours_runs), min(theirs_runs)
        same = sum(
            identical(folder / "export0" / exported, folder / "opj0" / f"{made.stem}.jp2")
            for (_, exported), made in zip(sources, inputs, strict=True)
        )
        count, mb = len(sources), raw / 1e6
        print(
            f"exported {summary.patients} patients: {count} images ({mb:.0f} MB of pixels) and "
            f"{summary.files_copied} other files, {summary.bytes_written / 1e6:.0f} MB written; "
            f"{args.jobs} worker processes, {threads} OpenJPEG threads in all; "
            f"{same} of {count} .jp2 files byte-identical to opj_compress's"
        )
        print(
            f"{f'best of {args.rounds}':<20} {'ibdesk export':>14} {'opj_compress':>14} "
            f"{'ratio':>7}"
        )
        print(
            f"{'images/s':<20} {count / ours:>14.1f} {count / theirs:>14.1f} {theirs / ours:>7.2f}"
        )
        print(
            f"{'MB/s (raw pixels)':<20} {mb / ours:>14.1f} {mb / theirs:>14.1f} "
            f"{theirs / ours:>7.2f}"
        )
        print(f"{'seconds':<20} {ours:>14.2f} {theirs:>14.2f}")
        print(
            f"{'all runs (s)':<20} {' '.join(f'{x:.1f}' for x in ours_runs):>14} "
            f"{' '.join(f'{x:.1f}' for x in theirs_runs):>14}"
        )
        print(
            "export process memory (MB) at start, 1/4, 1/2, 3/4, end of the last run: "
            + ", ".join(f"{m:.0f}" for m in memory)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
