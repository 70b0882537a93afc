"""Backup and restore speed next to bare ``restic backup``/``restore`` and ``cp -a``, in one run.

    python benchmarks/backup.py [--patients N] [--media K]

Makes a demo clinic with real files on SQLite, then times, each on a fresh repository:
``ibdesk backup run`` (dump, manifest, one snapshot of staging + image folder) against a
bare ``restic backup`` of the same image folder and ``cp -a`` of it; a second, unchanged
backup (restic must not re-read unchanged files); and ``ibdesk backup restore`` into an
empty database and folder against a bare ``restic restore`` of the same snapshot. Figures are
MB/s of the image folder's size; the ratios are ibdesk over bare restic (goal ≥ 0.9) and
over ``cp -a``.
"""

from __future__ import annotations

import argparse
import os
import shutil
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
    """Return the seconds an action takes (after flushing earlier writes, so that one
    figure does not pay for the previous step's write-back)."""
    os.sync()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--media", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ibdesk-bench-backup-") as tmp:
        work = Path(tmp)
        os.environ["IBDESK_HOME"] = str(work / "home")
        from ibdesk import backup, clinic_settings, demo, schema
        from ibdesk.backup import restore, run, store
        from ibdesk.db import make_engine, session_scope
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

        backup.init(str(work / "repo-ibdesk"))
        restic = store.engine_or_refuse()
        bare = type(restic)(str(work / "repo-bare"), restic.password_file)
        bare.run(["init"])

        # The first seal of a demo clinic's audit events is the Logs tab's work, not the
        # backup's: done (and shown) apart, so the backup figure is the copy itself.
        from ibdesk.logs import auditchain

        t_seal = timed(lambda: auditchain.seal(engine))
        print(f"sealing the demo's audit events first: {t_seal:.2f} s")
        t_ibdesk = timed(lambda: run_to_end(run.run_backup(engine, retention=False)))
        t_bare = timed(lambda: bare.run(["backup", "--json", str(images)]))
        t_cp = timed(
            lambda: subprocess.run(["cp", "-a", str(images), str(work / "copy")], check=True)
        )
        t_second = timed(lambda: run_to_end(run.run_backup(engine, retention=False)))
        t_bare_second = timed(lambda: bare.run(["backup", "--json", str(images)]))

        snapshot = run.snapshots(restic)[0]
        target_url = f"sqlite:///{work / 'restored.sqlite3'}"
        t_restore = timed(
            lambda: run_to_end(restore.restore(snapshot.backup_id, target_url, work / "restored"))
        )
        t_bare_restore = timed(
            lambda: bare.run(["restore", "latest", "--target", str(work / "bare-restored")])
        )
        engine.dispose()
        shutil.rmtree(work / "copy", ignore_errors=True)

        def rate(seconds: float) -> float:
            return size_mb / seconds if seconds > 0 else float("inf")

        print(f"{'':28}{'seconds':>9}{'MB/s':>9}")
        for name, seconds in (
            ("ibdesk backup run", t_ibdesk),
            ("bare restic backup", t_bare),
            ("cp -a", t_cp),
            ("ibdesk backup, unchanged", t_second),
            ("bare restic, unchanged", t_bare_second),
            ("ibdesk backup restore", t_restore),
            ("bare restic restore", t_bare_restore),
        ):
            print(f"{name:28}{seconds:9.2f}{rate(seconds):9.1f}")
        print(f"backup ratio ibdesk / bare restic: {t_bare / t_ibdesk:.2f} (goal >= 0.9)")
        print(f"backup ratio ibdesk / cp -a:       {t_cp / t_ibdesk:.2f}")
        print(f"restore ratio ibdesk / bare restic: {t_bare_restore / t_restore:.2f}")
        print(
            f"second unchanged backup: {t_second:.2f} s "
            f"({t_second / t_ibdesk:.2f} of the first; bare restic {t_bare_second:.2f} s)"
        )


if __name__ == "__main__":
    main()
