"""Backup and restore speed next to bare ``restic backup``/``restore`` and ``cp -a``, in one run.

    python benchmarks/backup.py [--patients N] [--media K] [--repeat R]

Makes a demo clinic with real files on SQLite, then, R times (median printed), times:

- ``ibdesk backup run`` (seal, dump, manifest, one snapshot of staging + image folder)
  against a bare ``restic backup`` of the same two folders, each into a fresh repository;
- a second, unchanged backup of each (restic must not re-read unchanged files);
- ``ibdesk backup restore`` of the first backup into an empty database and folder (which
  also loads the dump, compares every table's row count and the audit chain with the
  manifest, and hashes a sample of images) against a bare ``restic restore`` of the very
  same snapshot from the same repository;
- ``cp -a`` of the image folder.

Like with like: both repositories are copies of one ``restic init`` (the same key
derivation cost and options; restic 0.14 has no compression), each with its own cache
folder; every file is in the page cache for both (a warm-up backup reads them first);
the order of ibdesk and bare restic alternates between repetitions; each timed step starts
after a ``sync`` and ends with one (it pays for writing its own data to disk, no more).
Figures are MB/s of the image folder's size; the ratios are bare restic's
time over ibdesk's (goal >= 0.9). Retention (``restic forget``) runs after a backup in
``ibdesk backup run``; it is timed apart, as bare ``restic backup`` does none.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def folder_bytes(folder: Path) -> int:
    """Return the bytes of every file under a folder."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def timed(action: Callable[[], object]) -> float:
    """Return the seconds an action takes until what it wrote is on disk.

    A sync before (no step pays for the previous one's write-back) and one inside the
    timing: otherwise a step that syncs (SQLite does, when the restored database is
    closed) would pay for writing back the files restic restored, while a step that does
    not sync would leave that cost to the next step's untimed sync.
    """
    os.sync()
    started = time.perf_counter()
    action()
    os.sync()
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--media", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ibdesk-bench-backup-") as tmp:
        work = Path(tmp)
        os.environ["IBDESK_HOME"] = str(work / "home")
        from ibdesk import backup, clinic_settings, demo, private, schema
        from ibdesk.backup import restore, run, staging, store
        from ibdesk.backup.restic import Restic
        from ibdesk.db import make_engine, session_scope
        from ibdesk.logs import auditchain
        from ibdesk.progress import run_to_end

        url = f"sqlite:///{work / 'clinic.sqlite3'}"
        engine = make_engine(url, create=True)
        schema.upgrade(engine)
        images = work / "images"
        images.mkdir()
        options = demo.DemoOptions(
            patients=args.patients, media_per_patient=args.media, image_folder=images
        )
        run_to_end(demo.generate(engine, options))
        with session_scope(engine) as session:
            clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(images))
        size_mb = folder_bytes(images) / 1e6
        print(f"demo clinic: {args.patients} patients, {size_mb:.1f} MB of files")

        template = work / "template"
        backup.init(str(template))
        password = store.password_path()

        def fresh(name: str) -> Restic:
            """Return a copy of the template repository with its own cache folder."""
            home = work / name
            shutil.copytree(template, home / "repo")
            shutil.copy2(password, home / "password")
            return Restic(str(home / "repo"), home / "password")

        # The first seal of a demo clinic's audit events is the Logs tab's work, not the
        # backup's: done (and shown) apart, so the backup figure is the copy itself.
        t_seal = timed(lambda: auditchain.seal(engine))
        print(f"sealing the demo's audit events first: {t_seal:.2f} s")
        # Warm-up: imports, the page cache, and the staging folder bare restic backs up too.
        run_to_end(run.run_backup(engine, restic=fresh("warm-up"), retention=False))
        stage = private.data_dir() / "backup-staging" / staging.STAGING_NAME
        assert (stage / staging.MANIFEST).is_file()
        subprocess.run(["cp", "-a", str(images), str(work / "warm-copy")], check=True)
        shutil.rmtree(work / "warm-copy")

        rows: dict[str, list[float]] = {}

        # Each backup's wall time less restic's own copy time (its summary's total_duration):
        # what the wrapper adds (opening the repository, and for ibdesk seal, dump, manifest).
        inside: dict[str, list[float]] = {}

        def note(name: str, seconds: float) -> None:
            rows.setdefault(name, []).append(seconds)

        def repetition(rep: int) -> None:
            """Time one round: both first backups, both unchanged ones, both restores."""
            mine, bare = fresh(f"ibdesk-{rep}"), fresh(f"bare-{rep}")
            made: list[run.BackupSummary] = []

            def ibdesk_backup(target: Restic = mine) -> None:
                summary, _log = run_to_end(run.run_backup(engine, restic=target, retention=False))
                made.append(summary)

            bare_copy: list[float] = []

            def bare_backup(target: Restic = bare) -> None:
                out = target.run(["backup", "--json", str(stage), str(images)])
                summary = json.loads(out.strip().splitlines()[-1])
                bare_copy.append(float(summary["total_duration"]))

            steps: list[tuple[str, Callable[[], object]]] = [
                ("ibdesk backup run", ibdesk_backup),
                ("bare restic backup", bare_backup),
            ]
            second: list[tuple[str, Callable[[], object]]] = [
                ("ibdesk backup, unchanged", ibdesk_backup),
                ("bare restic, unchanged", bare_backup),
            ]
            if rep % 2:
                steps.reverse()
                second.reverse()
            for name, action in steps + second:
                note(name, timed(action))
            for name, seconds in (
                ("ibdesk backup run", made[0].copy_seconds),
                ("ibdesk backup, unchanged", made[1].copy_seconds),
                ("bare restic backup", bare_copy[0]),
                ("bare restic, unchanged", bare_copy[1]),
            ):
                inside.setdefault(name, []).append(rows[name][-1] - seconds)
            note(
                "ibdesk retention (forget)",
                timed(lambda target=mine: run_to_end(run.apply_retention(target))),
            )

            first = made[0]
            landing = work / f"restored-{rep}"

            def ibdesk_restore(first: run.BackupSummary = first, landing: Path = landing) -> None:
                url = f"sqlite:///{landing}.sqlite3"
                run_to_end(restore.restore(first.backup_id, url, landing, restic=mine))

            def bare_restore(first: run.BackupSummary = first, rep: int = rep) -> None:
                target = str(work / f"bare-restored-{rep}")
                mine.run(["restore", first.snapshot, "--target", target])

            restores: list[tuple[str, Callable[[], object]]] = [
                ("ibdesk backup restore", ibdesk_restore),
                ("bare restic restore", bare_restore),
            ]
            if rep % 2:
                restores.reverse()
            for name, action in restores:
                note(name, timed(action))
            copy = work / f"copy-{rep}"
            note("cp -a", timed(lambda copy=copy: subprocess.run(["cp", "-a", images, copy])))
            for leftover in (landing, work / f"bare-restored-{rep}", copy):
                shutil.rmtree(leftover, ignore_errors=True)
            Path(f"{landing}.sqlite3").unlink(missing_ok=True)

        for rep in range(args.repeat):
            repetition(rep)
        engine.dispose()

        median = {name: statistics.median(values) for name, values in rows.items()}

        def rate(seconds: float) -> float:
            return size_mb / seconds if seconds > 0 else float("inf")

        print(f"median of {args.repeat} runs{'':9}{'seconds':>9}{'MB/s':>9}   all runs (s)")
        for name, seconds in median.items():
            every = " ".join(f"{v:.2f}" for v in rows[name])
            print(f"{name:30}{seconds:9.2f}{rate(seconds):9.1f}   {every}")

        def ratios(bare_name: str, ibdesk_name: str) -> str:
            # ibdesk and bare restic of one round ran back to back, under the same load
            each = [b / i for b, i in zip(rows[bare_name], rows[ibdesk_name], strict=True)]
            listed = " ".join(f"{r:.2f}" for r in each)
            return f"each round {listed}; median of rounds {statistics.median(each):.2f}"

        b_ratio = median["bare restic backup"] / median["ibdesk backup run"]
        r_ratio = median["bare restic restore"] / median["ibdesk backup restore"]
        u_ratio = median["bare restic, unchanged"] / median["ibdesk backup, unchanged"]
        print(
            f"backup ratio ibdesk / bare restic:  {b_ratio:.2f} (goal >= 0.9; "
            f"{ratios('bare restic backup', 'ibdesk backup run')})"
        )
        print(
            f"restore ratio ibdesk / bare restic: {r_ratio:.2f} (goal >= 0.9; "
            f"{ratios('bare restic restore', 'ibdesk backup restore')})"
        )
        outside = {name: statistics.median(values) for name, values in inside.items()}
        print(
            "outside restic's own copy (median s): first backup ibdesk "
            f"{outside['ibdesk backup run']:.2f}, bare {outside['bare restic backup']:.2f}; "
            f"unchanged ibdesk {outside['ibdesk backup, unchanged']:.2f}, "
            f"bare {outside['bare restic, unchanged']:.2f}"
        )
        cp_ratio = median["cp -a"] / median["ibdesk backup run"]
        print(f"backup ratio ibdesk / cp -a:        {cp_ratio:.2f}")
        print(
            f"second unchanged backup: {median['ibdesk backup, unchanged']:.2f} s "
            f"({median['ibdesk backup, unchanged'] / median['ibdesk backup run']:.2f} of the "
            f"first; bare restic {median['bare restic, unchanged']:.2f} s, ratio {u_ratio:.2f})"
        )


if __name__ == "__main__":
    main()
