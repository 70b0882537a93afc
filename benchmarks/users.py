"""Sign-in and the users list, each next to the bare operation it is built on, in one run.

    python benchmarks/users.py [--rounds N] [--accounts K]

Local sign-in (``ibdesk.users.accounts.authenticate``: the look-up, Argon2id verify, the
login-log row and the commit) next to one bare ``argon2`` verify with the same parameters;
and one page of the users list (``list_users`` with its count and groups) at K accounts
(default 10 000) next to the bare ``SELECT ... ORDER BY username LIMIT 50`` on the same
SQLite file. With Samba installed, also AD sign-in (``authenticate`` for an AD user over
LDAPS: a verified TLS handshake, the user's bind, their entry and nested groups, the account
row and the login log) next to the bare ldap3 bind over the same LDAPS, against the test DC
of ``tests/adserver.py`` on loopback. Prints p50 and p95 of each and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _times(action: Callable[[], object], rounds: int) -> list[float]:
    found = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        found.append((time.perf_counter() - start) * 1000)
    return found


def _line(name: str, values: list[float], bare: list[float]) -> str:
    p50, p95 = statistics.median(values), statistics.quantiles(values, n=20)[-1]
    b50, b95 = statistics.median(bare), statistics.quantiles(bare, n=20)[-1]
    return (
        f"{name:<22} p50 {p50:8.2f} ms  p95 {p95:8.2f} ms   bare p50 {b50:8.2f} ms  "
        f"p95 {b95:8.2f} ms   ratio p50 {p50 / b50:5.2f}"
    )


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()

    from argon2 import PasswordHasher
    from sqlalchemy import insert, text
    from sqlalchemy.orm import Session

    from ibdesk import schema
    from ibdesk.audit import Actor
    from ibdesk.db import make_engine
    from ibdesk.models import UserAccount, utcnow
    from ibdesk.users import accounts, lists, passwords

    password = "blå tandborste i glaset"
    # (Samba's last child may still write its folder for a moment after the DC stopped.)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'users.sqlite3'}", create=True)
        schema.upgrade(engine)
        with Session(engine) as session:
            accounts.create_user(session, "anna", password, actor=Actor("bench"), is_admin=True)
            now = utcnow()
            rows = [
                {
                    "username": f"user{n:05}",
                    "display_name": f"Användare {n}",
                    "source": "local",
                    "active": True,
                    "created_at": now,
                    "failed_count": 0,
                }
                for n in range(args.accounts)
            ]
            session.execute(insert(UserAccount), rows)
            session.commit()
        hasher = PasswordHasher(
            time_cost=passwords.TIME_COST,
            memory_cost=passwords.MEMORY_KIB,
            parallelism=passwords.PARALLELISM,
        )
        stored = hasher.hash(password)

        def sign_in() -> None:
            with Session(engine) as session:
                assert accounts.authenticate(session, "anna", password, "BENCH").ok
                session.commit()

        def verify() -> None:
            hasher.verify(stored, password)

        def page() -> None:
            with Session(engine) as session:
                lists.list_users(session, "", 100)

        def bare_page() -> None:
            with engine.connect() as conn:
                conn.execute(
                    text("SELECT * FROM user_account ORDER BY username LIMIT 50 OFFSET 4950")
                ).all()

        print(
            f"Argon2id t={passwords.TIME_COST} m={passwords.MEMORY_KIB} KiB "
            f"p={passwords.PARALLELISM}; {args.accounts} accounts; {args.rounds} rounds"
        )
        print(_line("local sign-in", _times(sign_in, args.rounds), _times(verify, args.rounds)))
        print(
            _line("users list, page 100", _times(page, args.rounds), _times(bare_page, args.rounds))
        )
        _active_directory(engine, Path(folder), args.rounds)
        engine.dispose()


def _active_directory(engine: object, folder: Path, rounds: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import adserver
    from sqlalchemy.orm import Session

    from ibdesk.audit import Actor
    from ibdesk.users import accounts, directory

    if not adserver.installed():
        print("AD sign-in: not measured (Samba is not installed)")
        return
    dc = adserver.start(Path(tempfile.gettempdir()), folder / "samba")
    try:
        settings = directory.ADSettings(
            enabled=True,
            servers=(dc.address,),
            ca_pem=dc.certs.ca.read_text(encoding="utf-8"),
            base_dn=adserver.BASE_DN,
            mappings=(
                directory.Mapping(f"CN=IB Admins,CN=Users,{adserver.BASE_DN}", "Administrators"),
            ),
        )
        with Session(engine) as session:  # type: ignore[call-overload]
            directory.save_settings(session, Actor("bench"), settings)
            session.commit()

        def ad_sign_in() -> None:
            with Session(engine) as session:  # type: ignore[call-overload]
                assert accounts.authenticate(session, "adadmin", adserver.PASSWORD, "BENCH").ok
                session.commit()

        def bare_bind() -> None:
            directory.close(directory.connect(settings, "adadmin@ib.test", adserver.PASSWORD))

        print(_line("AD sign-in (LDAPS)", _times(ad_sign_in, rounds), _times(bare_bind, rounds)))
    finally:
        dc.stop()


if __name__ == "__main__":
    main()
