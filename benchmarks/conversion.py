"""Conversion throughput next to bare copies of the same rows and files, in one run.

    python benchmarks/conversion.py [--patients 10000 ...] [--pg] [--keep DIR]

For each size (default 2 500 and 10 000 patients) a child process builds an ImageBank 1.2
installation with the shared builder (real files), then times in the same run:

* files: ``cp -al`` of the 1.2 image folder (hard links, what step 3 does at best) against
  step 3 (image sets and media: every file linked, hashed and checked, a row per item);
* the least a converter must do, as context for the ratios: every file hard-linked and read
  once for its SHA-256 from Python, and every 1.2 row read into Python in the converter's
  batches (no check, no write);
* rows: a bare copy of every 1.2 table (SQLite: ``ATTACH`` + ``INSERT ... SELECT`` into a
  new file; PostgreSQL: ``COPY ... TO STDOUT`` piped into ``COPY ... FROM STDIN`` of another
  database) against steps 2 and 4 (patients, users, settings, the log; the map and the
  issues are written with them, and step 4 also seals the audit chain and reconciles).

With ``--pg`` the 1.2 database and the 2.1 target are PostgreSQL databases on a throwaway
cluster this script starts itself (tests/pgserver.py). Printed per size: rows/s and files/s
of each, the ratios (conversion over bare copy), and the conversion's peak memory (resident
set sampled while each step runs, the resident set before step 1, and the process's
ru_maxrss), which should stay flat as the size grows: rows are read and written one batch at
a time, and file names are compared in a temporary database (ibdesk/conversion/names.py).
The 1.2 build runs in a process of its own, so its memory is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TABLES = ("Installningar", "Anvandare", "Patienter", "Status", "Bilder", "Logg")
PAGE = os.sysconf("SC_PAGE_SIZE")


def resident() -> int:
    """Return this process's resident set now, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * PAGE


class PeakRss:
    """Samples the resident set of this process and its helpers every 50 ms; keeps the highest.

    Helpers are every process below this one (a fork server and what it forked: the demo's
    row builder, the export's encoders), summed with this one's at each sample.
    """

    def __init__(self) -> None:
        """Start sampling on a daemon thread."""
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from processes import descendants  # tests/processes.py

        me = os.getpid()
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, sum(_rss(pid) for pid in {me} | descendants(me)))

    def stop(self) -> int:
        """Stop sampling; return the peak in bytes."""
        self._stop.set()
        self._thread.join()
        return self.peak


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * PAGE
    except OSError:  # it has just ended
        return 0


def bare_rows(source: Path, target: Path) -> tuple[int, float]:
    """Copy every 1.2 table with ATTACH + INSERT ... SELECT; return rows and seconds."""
    db = sqlite3.connect(target)
    started = time.perf_counter()
    db.execute("ATTACH DATABASE ? AS src", (f"file:{source}?mode=ro",))
    rows = 0
    for table in TABLES:
        ddl = db.execute(
            "SELECT sql FROM src.sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()[0]
        db.execute(ddl)
        rows += db.execute(f'INSERT INTO main."{table}" SELECT * FROM src."{table}"').rowcount
    db.commit()
    elapsed = time.perf_counter() - started
    db.close()
    return rows, elapsed


def _pg_database(admin_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def bare_rows_pg(source_url: str, target_url: str) -> tuple[int, float]:
    """Copy every 1.2 table with COPY TO STDOUT piped into COPY FROM STDIN."""
    import psycopg
    from sqlalchemy import create_engine

    from ibdesk.conversion import source as legacy

    legacy.meta.create_all(create_engine(target_url))

    def dsn(url: str) -> str:
        return url.replace("postgresql+psycopg://", "postgresql://")

    rows = 0
    with psycopg.connect(dsn(source_url)) as src, psycopg.connect(dsn(target_url)) as dst:
        started = time.perf_counter()
        for table in TABLES:
            with (
                src.cursor().copy(f'COPY "{table}" TO STDOUT') as out,
                dst.cursor().copy(f'COPY "{table}" FROM STDIN') as into,
            ):
                for data in out:
                    into.write(data)
            rows += int(src.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])  # type: ignore[index]
        dst.commit()
        elapsed = time.perf_counter() - started
    return rows, elapsed


def bare_files(folder: Path, target: Path) -> tuple[int, float]:
    """Hard-link the folder with ``cp -al``; return files and seconds."""
    started = time.perf_counter()
    subprocess.run(["cp", "-al", str(folder), str(target)], check=True)
    elapsed = time.perf_counter() - started
    files = sum(len(names) for _dir, _dirs, names in os.walk(target))
    return files, elapsed


def linked_and_hashed(folder: Path, target: Path) -> tuple[int, float]:
    """Hard-link every file from Python and read it once for its SHA-256: the least step 3
    must do per file (it also checks, places by the 2.1 layout and writes a row each)."""
    import hashlib

    buffer = bytearray(4 << 20)
    view = memoryview(buffer)
    files = 0
    started = time.perf_counter()
    for here, _dirs, names in os.walk(folder):
        out = target / Path(here).relative_to(folder)
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            os.link(os.path.join(here, name), out / name)
            digest = hashlib.sha256()
            with open(os.path.join(here, name), "rb") as fh:
                while n := fh.readinto(view):
                    digest.update(view[:n])
            files += 1
    return files, time.perf_counter() - started


def rows_read(source: Any) -> tuple[int, float]:
    """Read every 1.2 row into Python in the converter's batches: the least steps 2 and 4
    must do per row before any check or write."""
    from ibdesk.conversion.source import TABLES as LEGACY

    rows = 0
    started = time.perf_counter()
    for table in LEGACY:
        for batch in source.rows(table, 2000):
            rows += len(batch)
    return rows, time.perf_counter() - started


def one(patients: int, base: Path, pg: str | None) -> dict[str, Any]:
    """Build, copy bare, convert one size; return the figures."""
    os.environ["IBDESK_HOME"] = str(base / "home")

    import legacy12
    from sqlalchemy.orm import Session

    from ibdesk import clinic_settings, conversion, schema
    from ibdesk.db import make_engine
    from ibdesk.progress import run_to_end

    out = base / "legacy12"
    pg_source = _pg_database(pg, "bench_legacy12") if pg else None
    if pg_source or not (out / "manifest.json").exists():
        # In a process of its own: the builder's memory is not the conversion's.
        started = time.perf_counter()
        script = (
            "import sys, pathlib, legacy12; legacy12.build(pathlib.Path(sys.argv[1]), "
            "patients=int(sys.argv[2]), url=sys.argv[3] or None)"
        )
        subprocess.run(
            [sys.executable, "-c", script, str(out), str(patients), pg_source or ""],
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "tests")},
        )
        print(f"built {patients} patients in {time.perf_counter() - started:.1f} s", flush=True)
    for leftover in (
        "bare.sqlite",
        "bare-files",
        "hashed-files",
        "target.sqlite3",
        "images21",
        "home",
    ):
        path = base / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    if pg_source and pg:
        rows, rows_s = bare_rows_pg(pg_source, _pg_database(pg, "bench_bare"))
    else:
        rows, rows_s = bare_rows(out / "imagebank12.sqlite", base / "bare.sqlite")
    files, files_s = bare_files(out / "Bilder", base / "bare-files")
    hashed, hashed_s = linked_and_hashed(out / "Bilder", base / "hashed-files")

    target_url = _pg_database(pg, "bench_target") if pg else f"sqlite:///{base / 'target.sqlite3'}"
    engine = make_engine(target_url, create=True)
    schema.upgrade(engine)
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(base / "images21"))
        session.commit()
    source = conversion.open_source(legacy12.source_url(out, pg_source), out / "Bilder")
    read, read_s = rows_read(source)
    times = {}
    results = {}
    before = resident()
    step_peaks = {}
    for step in (1, 2, 3, 4):
        sampler = PeakRss()
        started = time.perf_counter()
        results[step], _log = run_to_end(conversion.run_step(engine, source, step))
        times[step] = time.perf_counter() - started
        step_peaks[step] = sampler.stop()
    peak = max(step_peaks.values())
    source.close()
    engine.dispose()
    rec = results[4]["reconciliation"]
    step_rows = sum(rec["tables"][t]["read"] for t in TABLES if t not in ("Status", "Bilder"))
    return {
        "patients": patients,
        "bare_rows": rows,
        "bare_rows_s": rows_s,
        "bare_files": files,
        "bare_files_s": files_s,
        "hashed_files": hashed,
        "hashed_files_s": hashed_s,
        "read_rows": read,
        "read_rows_s": read_s,
        "rows": step_rows,
        "rows_s": times[2] + times[4],
        "files": rec["folder"]["placed"],
        "files_s": times[3],
        "analyse_s": times[1],
        "peak_rss": peak,
        "rss_before": before,
        "step_peaks": step_peaks,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "accounted": rec["accounted"],
        "passed": rec["passed"],
    }


def report(r: dict[str, Any], pg: bool) -> None:
    """Print one size's figures."""
    conv_rows = r["rows"] / r["rows_s"]
    bare_rows_rate = r["bare_rows"] / r["bare_rows_s"]
    conv_files = r["files"] / r["files_s"]
    bare_files_rate = r["bare_files"] / r["bare_files_s"]
    how = "(COPY)" if pg else "(ATTACH + INSERT...SELECT)"
    print(f"--- {r['patients']} patients " + ("(PostgreSQL)" if pg else "(SQLite)"))
    print(f"bare rows   : {r['bare_rows']:>9} rows  {bare_rows_rate:>10.0f} rows/s  {how}")
    print(f"steps 2 + 4 : {r['rows']:>9} rows  {conv_rows:>10.0f} rows/s  ({r['rows_s']:.1f} s)")
    print(f"bare files  : {r['bare_files']:>9} files {bare_files_rate:>10.0f} files/s (cp -al)")
    print(f"step 3      : {r['files']:>9} files {conv_files:>10.0f} files/s ({r['files_s']:.1f} s)")
    read_rate = r["read_rows"] / r["read_rows_s"]
    hashed_rate = r["hashed_files"] / r["hashed_files_s"]
    print(f"rows read   : {r['read_rows']:>9} rows  {read_rate:>10.0f} rows/s  (into Python only)")
    print(f"link + hash : {r['hashed_files']:>9} files {hashed_rate:>10.0f} files/s (from Python)")
    print(
        f"ratio rows  : {conv_rows / bare_rows_rate:.4f}  "
        f"(to rows read alone: {conv_rows / read_rate:.3f})"
    )
    print(
        f"ratio files : {conv_files / bare_files_rate:.4f}  "
        f"(to link + hash alone: {conv_files / hashed_rate:.3f})"
    )
    print(
        f"peak memory : {r['peak_rss'] / 2**20:.0f} MiB resident while converting "
        f"(ru_maxrss {r['maxrss'] / 2**20:.0f} MiB)"
    )
    steps = ", ".join(f"{step}: {b / 2**20:.0f}" for step, b in r["step_peaks"].items())
    print(f"memory/step : {steps} MiB (resident before step 1: {r['rss_before'] / 2**20:.0f} MiB)")
    print(f"accounted   : {r['accounted']}, passed: {r['passed']}", flush=True)


def main() -> None:
    """Run each size in its own process; print the figures and how memory grew."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, action="append", help="a size (repeatable)")
    parser.add_argument("--keep", type=Path, help="build here and keep it (else a temp folder)")
    parser.add_argument("--pg", action="store_true", help="run on a throwaway PostgreSQL")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pg-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.patients or [2_500, 10_000]
    if args.one:
        assert args.keep is not None
        print("RESULT " + json.dumps(one(sizes[0], args.keep, args.pg_url)), flush=True)
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="ibdesk-conversion-bench-"))
    server = None
    if args.pg:
        import pgserver

        server = pgserver.start()
    results = []
    try:
        for size in sizes:
            command = [sys.executable, __file__, "--one", "--patients", str(size)]
            command += ["--keep", str(root / f"p{size}")]
            if server is not None:
                command += ["--pg-url", server.url()]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.split("RESULT ", 1)[1])
            results.append(result)
            report(result, args.pg)
    finally:
        if server is not None:
            server.stop()
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    if len(results) > 1:
        small, big = results[0], results[-1]
        print(
            f"memory      : {small['peak_rss'] / 2**20:.0f} MiB at {small['patients']} patients, "
            f"{big['peak_rss'] / 2**20:.0f} MiB at {big['patients']} "
            f"({big['patients'] / small['patients']:.0f}x the rows: "
            f"{big['peak_rss'] / small['peak_rss']:.2f}x the memory)"
        )


if __name__ == "__main__":
    main()
