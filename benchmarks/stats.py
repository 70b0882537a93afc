"""Statistics benchmark: generating the statistics at 100 000 and 10 million media rows,
next to the bare COUNT(*) queries on the same database in the same run.

    python benchmarks/stats.py [--backend sqlite|postgresql ...] [--sizes 100000,10000000]

Media rows are made inside the database (INSERT ... SELECT over a generated series), so the
triggers keep the counters as they would for workstations; the counters are then folded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import median

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from run import databases  # noqa: E402

from ibdesk import schema, statistics  # noqa: E402
from ibdesk.db import make_engine, session_scope  # noqa: E402

KINDS = "('intraoral','panoramic','photo','video','audio','document')"
BARE = (
    "SELECT kind, COUNT(*), SUM(byte_size) FROM media_item WHERE deleted_at IS NULL GROUP BY kind",
    "SELECT COUNT(*) FROM patient WHERE deleted_at IS NULL",
    "SELECT COUNT(*), SUM(CASE WHEN signed_at IS NULL THEN 0 ELSE 1 END) FROM image_set",
)


def fill(engine: Engine, rows: int) -> None:
    """Add one patient, one image set per 20 media, and `rows` media rows."""
    sqlite = engine.dialect.name == "sqlite"
    series = (
        (
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) "
            "SELECT n FROM s"
        )
        if sqlite
        else "SELECT n FROM generate_series(1, :n) AS s(n)"
    )
    now = "CURRENT_TIMESTAMP"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patient (personnummer, kind, first_name, last_name, name_key, "
                "address, postal_code, city, phone, note, created_at, created_by, modified_at, "
                "modified_by) "
                f"VALUES ('191212121212', 'personnummer', 'A', 'B', 'b a', '', '', '', '', '', "
                f"{now}, 'bench', {now}, 'bench')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO image_set (patient_id, taken_on, description, created_at, created_by) "
                f"SELECT 1, CURRENT_DATE, '', {now}, 'bench' FROM ({series}) x"
            ),
            {"n": max(1, rows // 20)},
        )
        kind = (
            "CASE n % 6 WHEN 0 THEN 'intraoral' WHEN 1 THEN 'panoramic' WHEN 2 THEN "
            "'photo' WHEN 3 THEN 'video' WHEN 4 THEN 'audio' ELSE 'document' END"
        )
        # Months spread over two years: created_at steps back one day per 10 000 rows.
        created = (
            "datetime('now', '-' || (n / 10000 % 730) || ' days')"
            if sqlite
            else "now() - ((n / 10000 % 730) || ' days')::interval"
        )
        conn.execute(
            text(
                "INSERT INTO media_item (image_set_id, patient_id, kind, path, byte_size, sha256, "
                "teeth, comment, created_at, created_by, modified_at) "
                f"SELECT 1 + (n % :sets), 1, {kind}, 'p/' || n, 1000 + n % 5000, "
                f"'{'0' * 64}', '', '', {created}, 'bench', {now} FROM ({series}) x"
            ),
            {"n": rows, "sets": max(1, rows // 20)},
        )
    with session_scope(engine) as session:
        statistics.fold(session)


def timings(fn: object, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--sizes", default="100000,10000000")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"{'backend':<11} {'media rows':>12} {'generate ms':>12} {'COUNT(*) ms':>12} "
        f"{'ratio':>8}  (medians of {args.rounds})"
    )
    for backend in args.backend or ["sqlite", "postgresql"]:
        with databases(backend) as new_db:
            for size in sizes:
                engine = make_engine(new_db(f"stats{size}"), create=True)
                schema.upgrade(engine)
                start = time.perf_counter()
                fill(engine, size)
                made = time.perf_counter() - start

                def generate(e: Engine = engine) -> None:
                    with session_scope(e) as session:
                        statistics.generate(session, image_folder=None)

                def bare(e: Engine = engine) -> None:
                    with e.connect() as conn:
                        for query in BARE:
                            conn.execute(text(query)).all()

                ours = median(timings(generate, args.rounds))
                base = median(timings(bare, max(3, args.rounds // 4)))
                print(
                    f"{backend:<11} {size:>12,} {ours:>12.2f} {base:>12.2f} "
                    f"{ours / base:>8.4f}  (filled in {made:.0f} s)"
                )
                engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
