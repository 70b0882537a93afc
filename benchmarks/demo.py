"""Time for ``ibdesk demo`` to write 2 million media rows, on SQLite and on PostgreSQL.

    python benchmarks/demo.py [--media 2000000] [--per-patient 20] [--backend sqlite ...]

The goal is under 2 minutes per backend. Each backend gets a fresh, upgraded database
(PostgreSQL: a throwaway cluster this script starts, tests/pgserver.py). Printed next to the
demo's time: the same number of rows written bare in the same run (plain rows into a table
with no index or trigger: COPY on PostgreSQL, executemany on SQLite), as a ratio, and the
peak resident memory, which stays flat because the rows are built and written a chunk of
patients at a time (into the fresh database all in one transaction, whose secondary
indexes are built once after the rows: ibdesk/bulkload.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from conversion import PeakRss  # noqa: E402
from run import databases  # noqa: E402
from sqlalchemy import Column, Integer, MetaData, String, Table  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from ibdesk import bulkwrite, demo, schema  # noqa: E402
from ibdesk.db import make_engine  # noqa: E402
from ibdesk.progress import run_to_end  # noqa: E402

GOAL_S = 120.0


def bare(url: str, rows: int) -> float:
    """Write ``rows`` plain rows through the bulk path into a bare table; return seconds."""
    engine = make_engine(url, create=True)
    meta = MetaData()
    table = Table(
        "bench_plain",
        meta,
        Column("id", Integer, primary_key=True),
        Column("a", String(64)),
        Column("b", Integer),
        Column("c", String(200)),
    )
    meta.create_all(engine)

    class Plain:
        __table__ = table

    start = time.perf_counter()
    done = 0
    while done < rows:
        part = min(20_000, rows - done)
        with Session(engine) as session:
            batch = [
                {"id": done + i + 1, "a": f"{i:064d}", "b": i, "c": "Storgatan 1, Stockholm"}
                for i in range(part)
            ]
            bulkwrite.insert_rows(session, Plain, batch, returning=False)
            session.commit()
        done += part
    engine.dispose()
    return time.perf_counter() - start


def main() -> int:
    """Run the demo on each backend; print its time, the bare baseline and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=int, default=2_000_000)
    parser.add_argument("--per-patient", type=int, default=20)
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    patients = max(1, args.media // args.per_patient)
    for backend in args.backend or ["sqlite", "postgresql"]:
        with databases(backend) as new_db:
            engine = make_engine(new_db("demo"), create=True)
            schema.upgrade(engine)
            sampler = PeakRss()
            summary, _ = run_to_end(
                demo.generate(
                    engine, demo.DemoOptions(patients=patients, media_per_patient=args.per_patient)
                )
            )
            peak = sampler.stop()
            engine.dispose()
            base = bare(new_db("plain"), summary.rows)
            print(
                f"{backend:<10} demo: {summary.media:,} media ({summary.rows:,} rows) in "
                f"{summary.seconds:.1f} s = {summary.media / summary.seconds:,.0f} media/s, "
                f"{summary.rows / summary.seconds:,.0f} rows/s; 2,000,000 media at this rate: "
                f"{summary.seconds * 2_000_000 / summary.media:.0f} s (goal < {GOAL_S:.0f} s)",
                flush=True,
            )
            print(
                f"{backend:<10} bare: the same {summary.rows:,} plain rows in {base:.1f} s; "
                f"ratio bare/demo {base / summary.seconds:.2f}; "
                f"peak memory {peak / 2**20:.0f} MiB",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
