"""Patients and Logs benchmark: search and log paging on a large clinic, next to the same
bare SQL run directly in the same run.

    python benchmarks/logs.py [--backend sqlite|postgresql ...] [--patients 100000]
                              [--events 5000000]

Patients and audit events are made inside the database (INSERT ... SELECT over a series).
Printed: search p50/p95 by personnummer prefix and by name, and the first and 1000th page of
the patient log (keyset paging), each with the bare query's time and the ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from run import databases  # noqa: E402

from ibdesk import logs, patients, personnummer, schema  # noqa: E402
from ibdesk.db import make_engine, session_scope  # noqa: E402

LAST = (
    "andersson",
    "johansson",
    "karlsson",
    "nilsson",
    "eriksson",
    "larsson",
    "olsson",
    "persson",
    "svensson",
    "gustafsson",
    "öberg",
    "åberg",
    "ström",
    "sjöberg",
)


def fill(engine: Engine, patients_n: int, events_n: int) -> None:
    """Make patients with 12-digit numbers and names, and audit events spread over them."""
    sqlite = engine.dialect.name == "sqlite"
    series = (
        (
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) "
            "SELECT n FROM s"
        )
        if sqlite
        else "SELECT n FROM generate_series(1, :n) AS s(n)"
    )
    last = (
        "CASE n % 14 " + " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(LAST)) + " END"
    )

    def pad(expr: str, width: int) -> str:
        return (
            f"substr('0000' || ({expr}), -{width}, {width})"
            if sqlite
            else f"lpad(({expr})::text, {width}, '0')"
        )

    # Unique 12-digit numbers with real dates: 19YYMMDD + a 4-digit serial.
    number = (
        f"'19' || (40 + n % 60) || {pad('1 + n / 60 % 12', 2)} || "
        f"{pad('1 + n / 720 % 28', 2)} || {pad('n / 20160', 4)}"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patient (personnummer, kind, first_name, last_name, name_key, "
                "address, postal_code, city, phone, note, created_at, created_by, modified_at, "
                f"modified_by) SELECT {number}, 'personnummer', 'Anna', {last}, "
                f"{last} || ' anna ' || n, '', '', '', '', '', CURRENT_TIMESTAMP, 'bench', "
                f"CURRENT_TIMESTAMP, 'bench' FROM ({series}) x"
            ),
            {"n": patients_n},
        )
        conn.execute(
            text(
                "INSERT INTO audit_event (at, user_name, machine, patient_id, personnummer, "
                "action, entity, entity_id, changes) "
                "SELECT CURRENT_TIMESTAMP, 'user' || (n % 20), 'RUM-' || (n % 9), 1 + n % :p, "
                "(SELECT personnummer FROM patient WHERE id = 1 + n % :p), "
                "CASE n % 3 WHEN 0 THEN 'media.add' WHEN 1 THEN 'patient.view' "
                "ELSE 'media.update' END, 'media', n, '{}' FROM (" + series + ") x"
            ),
            {"n": events_n, "p": patients_n},
        )


def valid_number(session: object, number: str) -> str:
    """Give one patient (and its events) a number with a correct check digit; return it."""
    import datetime as dt

    born = dt.date(int(number[:4]), int(number[4:6]), int(number[6:8]))
    valid = personnummer.generate(random.Random(1), birth_date=born, female=True)
    conn = session.connection()  # type: ignore[attr-defined]
    for table in ("patient", "audit_event"):
        conn.execute(
            text(f"UPDATE {table} SET personnummer = :v WHERE personnummer = :o"),
            {"v": valid, "o": number},
        )
    return valid


def measure(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def row(backend: str, what: str, ours: float, bare: float) -> None:
    print(f"{backend:<11} {what:<30} {ours:>10.2f} {bare:>10.2f} {ours / bare:>7.2f}")


def bench(backend: str, engine: Engine, args: argparse.Namespace, rng: random.Random) -> None:
    """Measure search and log paging on a filled database."""
    with engine.connect() as conn:
        numbers = list(
            conn.execute(text("SELECT personnummer FROM patient ORDER BY id LIMIT 2000")).scalars()
        )
    prefixes = [rng.choice(numbers)[:8] for _ in range(args.rounds)]
    names = [rng.choice(LAST)[:4] for _ in range(args.rounds)]
    bare_pn = text(
        "SELECT id, personnummer, kind, first_name, last_name, deleted_at "
        "FROM patient WHERE personnummer >= :lo AND personnummer < :hi "
        "ORDER BY personnummer LIMIT 51"
    )
    bare_name = text(
        "SELECT id, personnummer, kind, first_name, last_name, deleted_at, "
        "name_key FROM patient WHERE name_key >= :lo AND name_key < :hi "
        "ORDER BY name_key, id LIMIT 51"
    )
    with session_scope(engine) as session:
        it = iter(prefixes)
        ours = measure(lambda: patients.search(session, next(it)), args.rounds)
        it = iter(prefixes)
        conn = session.connection()
        bare = measure(
            lambda: conn.execute(
                bare_pn, {"lo": (p := next(it)), "hi": p[:-1] + chr(ord(p[-1]) + 1)}
            ).all(),
            args.rounds,
        )
        row(backend, "search by number p50", pct(ours, 50), pct(bare, 50))
        row(backend, "search by number p95", pct(ours, 95), pct(bare, 95))
        it = iter(names)
        ours = measure(lambda: patients.search(session, next(it)), args.rounds)
        it = iter(names)
        bare = measure(
            lambda: conn.execute(bare_name, {"lo": (p := next(it)), "hi": p + "\uffff"}).all(),
            args.rounds,
        )
        row(backend, "search by name p50", pct(ours, 50), pct(bare, 50))
        row(backend, "search by name p95", pct(ours, 95), pct(bare, 95))
        flt = logs.AuditFilter()
        first = measure(lambda: logs.audit_page(session, flt), 20)
        bare_page = text("SELECT * FROM audit_event WHERE id < :c ORDER BY id DESC LIMIT 101")
        top = conn.execute(text("SELECT MAX(id) + 1 FROM audit_event")).scalar()
        bare_first = measure(lambda: conn.execute(bare_page, {"c": top}).all(), 20)
        row(backend, "log page 1", statistics.median(first), statistics.median(bare_first))
        cursor = None
        for _ in range(999):
            cursor = logs.audit_page(session, flt, cursor=cursor).next_cursor
            session.expunge_all()
        deep = measure(lambda: logs.audit_page(session, flt, cursor=cursor), 20)
        bare_deep = measure(lambda: conn.execute(bare_page, {"c": cursor}).all(), 20)
        row(backend, "log page 1000", statistics.median(deep), statistics.median(bare_deep))
        number = valid_number(session, numbers[0])
        pflt = logs.AuditFilter(personnummer=number)
        mine = measure(lambda: logs.audit_page(session, pflt), 20)
        bare_mine = measure(
            lambda: conn.execute(
                text(
                    "SELECT * FROM audit_event WHERE personnummer = :p ORDER BY id DESC LIMIT 101"
                ),
                {"p": number},
            ).all(),
            20,
        )
        row(
            backend,
            "one patient's log page 1",
            statistics.median(mine),
            statistics.median(bare_mine),
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    print(f"{'backend':<11} {'figure (ms)':<30} {'ibdesk':>10} {'bare SQL':>10} {'ratio':>7}")
    for backend in args.backend or ["sqlite", "postgresql"]:
        with databases(backend) as new_db:
            engine = make_engine(new_db("logs"), create=True)
            schema.upgrade(engine)
            start = time.perf_counter()
            fill(engine, args.patients, args.events)
            print(
                f"{backend:<11} filled {args.patients:,} patients, {args.events:,} events in "
                f"{time.perf_counter() - start:.0f} s"
            )
            bench(backend, engine, args, rng)
            engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
