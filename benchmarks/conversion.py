"""Conversion throughput next to bare copies of the same rows and files, in one run.

    python benchmarks/conversion.py [--patients 10000] [--keep DIR] [--pg URL]

Builds an ImageBank 1.2 installation with the shared builder (SQLite, real files), then
times in the same run:

* files: ``cp -al`` of the 1.2 image folder (hard links, what step 3 does at best) against
  step 3 (image sets and media: every file linked, hashed and checked, a row per item);
* rows: a bare copy of every 1.2 table into a new SQLite file (``ATTACH`` + ``INSERT ...
  SELECT``) against steps 2 and 4 (patients, users, settings, the log; the map and the
  issues are written with them, and step 4 also seals the audit chain and reconciles).

With ``--pg URL`` (a PostgreSQL superuser URL) the 1.2 database and the 2.1 target are
PostgreSQL databases made on that server instead, and the bare row copy is ``COPY ... TO
STDOUT`` piped into ``COPY ... FROM STDIN`` of a third database.

Printed: rows/s and files/s of each and the ratios (conversion over bare copy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TABLES = ("Installningar", "Anvandare", "Patienter", "Status", "Bilder", "Logg")


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


def main() -> None:
    """Build, copy bare, convert, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="build here and keep it (else a temp folder)")
    parser.add_argument("--pg", help="a PostgreSQL superuser URL: run on PostgreSQL there")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="ibdesk-conversion-bench-"))
    os.environ["IBDESK_HOME"] = str(base / "home")

    import legacy12
    from sqlalchemy.orm import Session

    from ibdesk import clinic_settings, conversion, schema
    from ibdesk.db import make_engine
    from ibdesk.progress import run_to_end

    out = base / "legacy12"
    pg_source = _pg_database(args.pg, "bench_legacy12") if args.pg else None
    if pg_source or not (out / "manifest.json").exists():
        started = time.perf_counter()
        legacy12.build(out, patients=args.patients, url=pg_source)
        print(f"built {args.patients} patients in {time.perf_counter() - started:.1f} s")
    for leftover in ("bare.sqlite", "bare-files", "target.sqlite3", "images21", "home"):
        path = base / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    if pg_source:
        rows, rows_s = bare_rows_pg(pg_source, _pg_database(args.pg, "bench_bare"))
    else:
        rows, rows_s = bare_rows(out / "imagebank12.sqlite", base / "bare.sqlite")
    files, files_s = bare_files(out / "Bilder", base / "bare-files")

    target_url = (
        _pg_database(args.pg, "bench_target") if args.pg else f"sqlite:///{base / 'target.sqlite3'}"
    )
    engine = make_engine(target_url, create=True)
    schema.upgrade(engine)
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(base / "images21"))
        session.commit()
    source = conversion.open_source(legacy12.source_url(out, pg_source), out / "Bilder")
    times = {}
    results = {}
    for step in (2, 3, 4):
        started = time.perf_counter()
        results[step], _log = run_to_end(conversion.run_step(engine, source, step))
        times[step] = time.perf_counter() - started
    source.close()
    rec = results[4]["reconciliation"]
    step_rows = sum(rec["tables"][t]["read"] for t in TABLES if t not in ("Status", "Bilder"))
    placed = rec["folder"]["placed"]
    conv_rows = step_rows / (times[2] + times[4])
    conv_files = placed / times[3]
    print(
        f"bare rows   : {rows:>9} rows  {rows / rows_s:>10.0f} rows/s  "
        + ("(COPY)" if args.pg else "(ATTACH + INSERT...SELECT)")
    )
    print(f"steps 2 + 4 : {step_rows:>9} rows  {conv_rows:>10.0f} rows/s")
    print(f"bare files  : {files:>9} files {files / files_s:>10.0f} files/s (cp -al)")
    print(f"step 3      : {placed:>9} files {conv_files:>10.0f} files/s")
    print(f"ratio rows  : {conv_rows / (rows / rows_s):.4f}")
    print(f"ratio files : {conv_files / (files / files_s):.4f}")
    print(f"accounted   : {rec['accounted']}, passed: {rec['passed']}")
    engine.dispose()
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
