"""Seats: claims, heartbeats, release, tampering, and oversubscription under real concurrency."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.dialects import mssql
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ibdesk import licensing, vendor
from ibdesk.audit import Actor
from ibdesk.db import make_engine
from ibdesk.errors import NotFound, Refused
from ibdesk.licensing import seats
from ibdesk.models import License, SeatActivation, SystemEvent

ADMIN = Actor(user="admin", machine="SERVER")
TODAY = dt.date.today()
CLAIMANTS = 50
SEATS = 10
ROUNDS = 3


@pytest.fixture
def vendor_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ed25519PrivateKey:
    """Make a vendor key and trust it through IBDESK_TRUST_KEY."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "test-vendor.pub"
    path.write_bytes(vendor.public_pem(key))
    monkeypatch.setenv("IBDESK_TRUST_KEY", str(path))
    return key


def install(
    session: Session, key: Ed25519PrivateKey, seat_count: int = SEATS, **overrides: Any
) -> None:
    text = vendor.issue_license(
        key,
        licensee="Folktandvården Exempelstad AB",
        org_number="556012-5790",
        seats=seat_count,
        created=overrides.pop("created", TODAY - dt.timedelta(days=30)),
        **overrides,
    )
    licensing.install_license(session, text.encode(), ADMIN)
    session.commit()


def mac_of(n: int) -> str:
    return f"02:00:00:{n >> 16 & 0xFF:02X}:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}"


def claim(session: Session, n: int, **kwargs: Any) -> seats.SeatInfo:
    seat = seats.claim_seat(session, mac_of(n), f"machine-{n}", f"RUM-{n}", **kwargs)
    session.commit()
    return seat


@pytest.fixture
def licensed(session: Session, vendor_key: Ed25519PrivateKey) -> Session:
    """A session on a database with a 10-seat license installed."""
    install(session, vendor_key)
    return session


def held_count(session: Session) -> int:
    query = select(func.count()).select_from(SeatActivation).where(SeatActivation.mac.is_not(None))
    return int(session.execute(query).scalar_one())


# --- identities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "AA-BB-CC-DD-EE-0F",
        "aa:bb:cc:dd:ee:0f",
        "aabb.ccdd.ee0f",
        "AABBCCDDEE0F",
        "  aa:BB:cc:DD:ee:0f  ",
    ],
)
def test_mac_addresses_are_normalised(text: str) -> None:
    assert seats.normalize_mac(text) == "AA:BB:CC:DD:EE:0F"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "AA:BB:CC:DD:EE",
        "AA:BB-CC:DD:EE:FF",
        "GG:BB:CC:DD:EE:FF",
        "aabb.ccdd.eeff.0011",
        "00:00:00:00:00:00",
        "ff:ff:ff:ff:ff:ff",
        "AA:BB:CC:DD:EE:FF:00",
        "a:b:c:d:e:f",
        "über-mac",
        "AABBCCDDEEF",
    ],
)
def test_garbage_mac_addresses_are_refused_in_one_sentence(text: str) -> None:
    with pytest.raises(seats.SeatError) as caught:
        seats.normalize_mac(text)
    assert str(caught.value).endswith(".") and "\n" not in str(caught.value)


@given(st.binary(min_size=6, max_size=6).filter(lambda b: b not in (bytes(6), b"\xff" * 6)))
def test_every_spelling_of_a_mac_gives_the_same_address(raw: bytes) -> None:
    hexed = raw.hex()
    spellings = [
        ":".join(hexed[i : i + 2] for i in range(0, 12, 2)),
        "-".join(hexed[i : i + 2] for i in range(0, 12, 2)).upper(),
        ".".join(hexed[i : i + 4] for i in range(0, 12, 4)),
        hexed,
    ]
    assert {seats.normalize_mac(s) for s in spellings} == {
        ":".join(hexed[i : i + 2] for i in range(0, 12, 2)).upper()
    }


def test_machine_id_and_hostname_are_checked(licensed: Session) -> None:
    with pytest.raises(seats.SeatError, match="machine ID"):
        seats.claim_seat(licensed, mac_of(1), "has space", "RUM-1")
    with pytest.raises(seats.SeatError, match="host name"):
        seats.claim_seat(licensed, mac_of(1), "m1", "   ")
    assert held_count(licensed) == 0


# --- claims ---------------------------------------------------------------------------------


def test_a_claim_takes_the_lowest_free_slot_and_is_logged(licensed: Session) -> None:
    first = claim(licensed, 1)
    second = claim(licensed, 2)
    assert (first.slot, second.slot) == (1, 2)
    assert first.mac == mac_of(1) and first.machine_id == "machine-1" and first.hostname == "RUM-1"
    assert first.first_seen is not None and first.first_seen == first.last_seen
    events = list(licensed.scalars(select(SystemEvent).where(SystemEvent.action == "seat.claim")))
    assert len(events) == 2 and "RUM-1" in events[0].detail and mac_of(1) in events[0].detail


def test_the_same_machine_gets_its_own_seat_back(licensed: Session) -> None:
    seat = claim(licensed, 1)
    again = seats.claim_seat(
        licensed, mac_of(1).lower().replace(":", "-"), "MACHINE-1", "RUM-1-renamed"
    )
    licensed.commit()
    assert (again.id, again.slot) == (seat.id, seat.slot)
    assert again.hostname == "RUM-1-renamed"
    assert again.last_seen is not None and seat.last_seen is not None
    assert again.last_seen >= seat.last_seen and again.first_seen == seat.first_seen
    assert held_count(licensed) == 1


def test_same_mac_other_machine_id_is_another_machine(licensed: Session) -> None:
    one = claim(licensed, 1)
    other = seats.claim_seat(licensed, mac_of(1), "machine-1-reinstalled", "RUM-1")
    assert other.id != one.id


def test_a_claim_past_the_seat_count_is_refused(licensed: Session) -> None:
    for n in range(SEATS):
        claim(licensed, n)
    with pytest.raises(Refused) as caught:
        claim(licensed, 99)
    assert str(caught.value) == (
        "All 10 seats of the clinic's license are in use; ask the administrator to free the "
        "seat of a computer that is no longer used."
    )
    licensed.rollback()
    assert claim(licensed, 3).slot == 4  # a machine that holds a seat still gets it


def test_heartbeat_updates_last_seen_and_fails_after_release(licensed: Session) -> None:
    seat = claim(licensed, 1)
    beat = seats.heartbeat(licensed, mac_of(1), "machine-1")
    licensed.commit()
    assert beat.id == seat.id and beat.last_seen is not None and seat.last_seen is not None
    assert beat.last_seen >= seat.last_seen
    seats.release_seat(licensed, seat.id, ADMIN)
    licensed.commit()
    with pytest.raises(Refused, match="holds no seat"):
        seats.heartbeat(licensed, mac_of(1), "machine-1")


def test_release_frees_the_seat_and_is_a_system_event(licensed: Session) -> None:
    claim(licensed, 1)
    seat = claim(licensed, 2)
    freed = seats.release_seat(licensed, seat.id, ADMIN)
    licensed.commit()
    assert freed.hostname == "RUM-2"
    assert [s.hostname for s in seats.list_seats(licensed)] == ["RUM-1"]
    (event,) = licensed.scalars(select(SystemEvent).where(SystemEvent.action == "seat.release"))
    assert event.user_name == "admin" and event.machine == "SERVER"
    assert "RUM-2" in event.detail and mac_of(2) in event.detail and "machine-2" in event.detail
    assert claim(licensed, 3).slot == 2
    with pytest.raises(NotFound, match="no seat with ID 999"):
        seats.release_seat(licensed, 999, ADMIN)
    free_id = licensed.scalar(select(SeatActivation.id).where(SeatActivation.mac.is_(None)))
    assert free_id is not None
    with pytest.raises(Refused, match="already free"):
        seats.release_seat(licensed, free_id, ADMIN)


def test_list_seats_shows_every_held_seat(licensed: Session) -> None:
    for n in (5, 6, 7):
        claim(licensed, n)
    listed = seats.list_seats(licensed)
    assert [(s.slot, s.hostname, s.mac, s.machine_id) for s in listed] == [
        (1, "RUM-5", mac_of(5), "machine-5"),
        (2, "RUM-6", mac_of(6), "machine-6"),
        (3, "RUM-7", mac_of(7), "machine-7"),
    ]
    assert all(s.first_seen and s.last_seen for s in listed)
    info = licensing.current_license(licensed)
    assert info is not None and info.active_seats == 3


# --- what the workstation checks itself -----------------------------------------------------


def test_no_license_no_seat(session: Session) -> None:
    with pytest.raises(Refused, match="No license is installed"):
        claim(session, 1)


def test_an_expired_license_grants_no_seat(session: Session, vendor_key: Ed25519PrivateKey) -> None:
    install(session, vendor_key, expires=TODAY + dt.timedelta(days=5))
    claim(session, 1)
    with pytest.raises(Refused, match="expired on"):
        claim(session, 2, today=TODAY + dt.timedelta(days=6))
    session.rollback()
    with pytest.raises(Refused, match="expired on"):
        seats.heartbeat(session, mac_of(1), "machine-1", today=TODAY + dt.timedelta(days=6))


def test_a_seat_count_edited_in_the_database_grants_nothing(licensed: Session) -> None:
    licensed.execute(update(License).values(seats=20))
    licensed.execute(insert(SeatActivation), [{"slot": s} for s in range(11, 21)])
    licensed.commit()
    granted = [claim(licensed, n) for n in range(SEATS)]
    assert sorted(s.slot for s in granted) == list(range(1, 11))
    with pytest.raises(Refused, match="All 10 seats"):
        claim(licensed, 50)


def test_a_machine_put_in_a_slot_beyond_the_license_is_moved_back_inside(
    licensed: Session,
) -> None:
    licensed.execute(
        insert(SeatActivation).values(
            slot=11, mac=mac_of(77), machine_id="machine-77", hostname="SMUGGLED"
        )
    )
    licensed.commit()
    for n in range(SEATS):
        claim(licensed, n)
    with pytest.raises(Refused, match="All 10 seats"):
        claim(licensed, 77)
    licensed.rollback()
    seats.release_seat(licensed, seats.list_seats(licensed)[0].id, ADMIN)
    licensed.commit()
    assert claim(licensed, 77).slot == 1
    assert held_count(licensed) == 10


def test_a_document_edited_in_the_database_grants_nothing(licensed: Session) -> None:
    row = licensed.scalars(select(License)).one()
    row.document = row.document.replace("seats: 10", "seats: 99")
    licensed.commit()
    with pytest.raises(Refused, match="changed since the vendor signed it"):
        claim(licensed, 1)


def test_a_workstation_that_does_not_trust_the_key_grants_nothing(
    licensed: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IBDESK_TRUST_KEY")
    with pytest.raises(Refused, match="does not trust"):
        claim(licensed, 1)


def test_claim_statements_compile_for_sql_server() -> None:
    dialect = mssql.dialect()
    for skip_locked in (True, False):
        sql = str(
            seats.free_slot_query(10, skip_locked=skip_locked).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        assert "SELECT TOP 1 seat_activation.id" in sql and "ORDER BY seat_activation.slot" in sql
        assert ("WITH (UPDLOCK, READPAST, ROWLOCK)" in sql) is skip_locked
        assert "FOR UPDATE" not in sql


# --- concurrency ----------------------------------------------------------------------------


@pytest.fixture
def engines(db_url: str) -> Iterator[Callable[[int], list[Engine]]]:
    """Make engines of their own (one connection each) for the threads of a test."""
    made: list[Engine] = []

    def make(count: int) -> list[Engine]:
        batch = [make_engine(db_url, poolclass=NullPool) for _ in range(count)]
        made.extend(batch)
        return batch

    yield make
    for engine in made:
        engine.dispose()


def _run_together(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job on its own thread, released at the same instant."""
    barrier = threading.Barrier(len(jobs))

    def start(job: Callable[[], Any]) -> Any:
        barrier.wait(timeout=60)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(start, job) for job in jobs]
        return [future.result(timeout=300) for future in futures]


def _claimer(engine: Engine, n: int) -> Callable[[], seats.SeatInfo | str]:
    connection = engine.connect()  # connected before the barrier, so claims start together

    def job() -> seats.SeatInfo | str:
        try:
            with Session(connection) as session:
                try:
                    seat = seats.claim_seat(session, mac_of(n), f"machine-{n}", f"WS-{n}")
                    session.commit()
                    return seat
                except Refused as error:
                    session.rollback()
                    return str(error)
        finally:
            connection.close()

    return job


def test_fifty_claimants_for_ten_seats_get_exactly_ten(
    licensed: Session, engines: Callable[[int], list[Engine]]
) -> None:
    for round_number in range(ROUNDS):
        base = 1000 * (round_number + 1)
        pool = engines(CLAIMANTS)
        results = _run_together([_claimer(pool[i], base + i) for i in range(CLAIMANTS)])
        granted = [r for r in results if isinstance(r, seats.SeatInfo)]
        refused = [r for r in results if isinstance(r, str)]
        assert len(granted) == SEATS, f"round {round_number}"
        assert sorted(s.slot for s in granted) == list(range(1, SEATS + 1))
        assert len({s.mac for s in granted}) == SEATS
        assert len(refused) == CLAIMANTS - SEATS
        assert all(r.startswith("All 10 seats") for r in refused)
        licensed.rollback()
        assert held_count(licensed) == SEATS
        assert {(s.mac, s.slot) for s in seats.list_seats(licensed)} == {
            (s.mac, s.slot) for s in granted
        }
        for seat in granted:
            seats.release_seat(licensed, seat.id, ADMIN)
        licensed.commit()


def test_a_machine_claiming_twice_at_once_holds_one_seat(
    licensed: Session, engines: Callable[[int], list[Engine]]
) -> None:
    machines = 15
    pool = engines(machines * 2)
    results = _run_together([_claimer(pool[i], i % machines) for i in range(machines * 2)])
    by_machine: dict[str, set[int]] = {}
    for result in results:
        if isinstance(result, seats.SeatInfo):
            by_machine.setdefault(result.mac, set()).add(result.id)
    assert all(len(ids) == 1 for ids in by_machine.values())
    assert len(by_machine) == SEATS
    licensed.rollback()
    assert held_count(licensed) == SEATS


def _releaser(engine: Engine, seat_id: int) -> Callable[[], str]:
    def job() -> str:
        with Session(engine) as session:
            seats.release_seat(session, seat_id, ADMIN)
            session.commit()
        return "released"

    return job


def _watch(engine: Engine, stop: threading.Event, seen: list[tuple[int, int]]) -> None:
    """Count held seats and slot rows, again and again, until told to stop."""
    reader = engine.execution_options(ibdesk_read_only=True)
    while not stop.is_set():
        with Session(reader) as session:
            held = held_count(session)
            slots = session.execute(select(func.count()).select_from(SeatActivation)).scalar_one()
            seen.append((held, slots))


def test_releases_racing_claims_never_leave_more_than_the_seat_count(
    licensed: Session, engines: Callable[[int], list[Engine]]
) -> None:
    for round_number in range(ROUNDS):
        base = 10_000 * (round_number + 1)
        holders = [claim(licensed, base + n) for n in range(SEATS)]
        pool = engines(SEATS + 30 + 1)
        stop = threading.Event()
        seen: list[tuple[int, int]] = []
        jobs: list[Callable[[], Any]] = [_releaser(pool[i], holders[i].id) for i in range(SEATS)]
        jobs += [_claimer(pool[SEATS + i], base + 500 + i) for i in range(30)]
        watcher = threading.Thread(target=_watch, args=(pool[-1], stop, seen))
        watcher.start()
        try:
            results = _run_together(jobs)
        finally:
            stop.set()
            watcher.join(timeout=60)
        assert results[:SEATS] == ["released"] * SEATS
        granted = [r for r in results[SEATS:] if isinstance(r, seats.SeatInfo)]
        licensed.rollback()
        listed = seats.list_seats(licensed)
        assert len(listed) == len(granted) <= SEATS
        assert len({s.slot for s in listed}) == len(listed)
        assert {s.mac for s in listed} == {s.mac for s in granted}
        assert seen and max(h for h, _ in seen) <= SEATS
        assert {slots for _, slots in seen} == {SEATS}
        for seat in listed:
            seats.release_seat(licensed, seat.id, ADMIN)
        licensed.commit()
