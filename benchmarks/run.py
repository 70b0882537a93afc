"""ibdesk benchmarks: each figure printed next to a baseline measured in the same run.

    python benchmarks/run.py [--backend sqlite|postgresql ...] [--patients N] [--media K]

- demo generation: rows/s of `ibdesk demo` next to a bare executemany of the same number of
  plain rows into a table with no indexes or triggers (the fastest a client can insert);
- db upgrade on an empty database next to `metadata.create_all()` (bare DDL, no Alembic).

PostgreSQL runs on a throwaway cluster this script starts itself (tests/pgserver.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import pgserver  # noqa: E402
from ibdesk import demo, schema  # noqa: E402
from ibdesk.db import make_engine  # noqa: E402
from ibdesk.models import Base  # noqa: E402
from ibdesk.progress import run_to_end  # noqa: E402


@contextmanager
def databases(backend: str) -> Iterator[Callable[[str], str]]:
    """Yield a function making a new empty database URL on the backend."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ibdesk-bench-") as folder:
            yield lambda name: f"sqlite:///{folder}/{name}.sqlite3"
        return
    server = pgserver.start()
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")

    def make(name: str) -> str:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        return server.url(name)

    try:
        yield make
    finally:
        admin.dispose()
        server.stop()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_upgrade(new_db: Callable[[str], str], rounds: int = 3) -> tuple[float, float]:
    """Return the best seconds of `db upgrade` and of bare create_all on empty databases."""
    ours, bare = [], []
    for i in range(rounds):
        engine = make_engine(new_db(f"upg{i}"), create=True)
        ours.append(timed(lambda e=engine: schema.upgrade(e)))
        engine.dispose()
        engine = make_engine(new_db(f"bare{i}"), create=True)
        bare.append(timed(lambda e=engine: Base.metadata.create_all(e)))
        engine.dispose()
    return min(ours), min(bare)


def bare_insert_rate(engine: Engine, rows: int) -> float:
    """Insert plain rows with executemany in 10 000-row transactions; return rows/s."""
    table = Table(
        "bench_plain",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("a", String(64)),
        Column("b", Integer),
        Column("c", String(200)),
    )
    table.create(engine)
    batch = [{"a": f"{i:064d}", "b": i, "c": "Storgatan 1, 11122 Stockholm"} for i in range(10_000)]
    start = time.perf_counter()
    done = 0
    while done < rows:
        part = batch[: min(10_000, rows - done)]
        with engine.begin() as conn:
            conn.execute(insert(table), part)
        done += len(part)
    return rows / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--media", type=int, default=20, help="media per patient")
    args = parser.parse_args()
    print(f"{'backend':<11} {'figure':<34} {'ibdesk':>14} {'baseline':>14} {'ratio':>7}")
    for backend in args.backend or ["sqlite", "postgresql"]:
        with databases(backend) as new_db:
            ours, bare = bench_upgrade(new_db)
            print(
                f"{backend:<11} {'db upgrade, empty db (s)':<34} {ours:>14.3f} {bare:>14.3f} "
                f"{ours / bare:>7.2f}  (Alembic + triggers vs create_all)"
            )
            engine = make_engine(new_db("demo"), create=True)
            schema.upgrade(engine)
            summary, _ = run_to_end(
                demo.generate(
                    engine, demo.DemoOptions(patients=args.patients, media_per_patient=args.media)
                )
            )
            rate = summary.rows / summary.seconds
            engine.dispose()
            engine = make_engine(new_db("plain"), create=True)
            base = bare_insert_rate(engine, min(summary.rows, 500_000))
            engine.dispose()
            print(
                f"{backend:<11} {'demo rows/s':<34} {rate:>14,.0f} {base:>14,.0f} "
                f"{rate / base:>7.2f}  ({summary.patients:,} patients, {summary.media:,} "
                f"media, {summary.rows:,} rows in {summary.seconds:.1f} s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
