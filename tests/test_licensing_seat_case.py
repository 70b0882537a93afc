"""Machine IDs are shown as the workstation reported them; the folded key keeps one seat each.

On SQLite and PostgreSQL: claims, heartbeats, release and the Licensing tab, and the
migration that added the column (0005_seat_reported_case) on a database holding seats.
"""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from factories import make_license
from ibdesk import licensing, schema
from ibdesk.audit import Actor
from ibdesk.db import make_engine
from ibdesk.licensing import seats
from ibdesk.models import SeatActivation, SystemEvent
from webfixtures import HX, app, client

__all__ = ["app", "client"]  # fixtures, imported for pytest to find

ADMIN = Actor(user="admin", machine="SERVER")
MAC = "02:00:00:00:00:01"


@pytest.fixture
def licensed(session: Session, vendor_key: Ed25519PrivateKey) -> Session:
    licensing.install_license(session, make_license(vendor_key, seats=3), ADMIN)
    session.commit()
    return session


def test_the_reported_spelling_is_kept_and_the_key_folded(licensed: Session) -> None:
    seat = seats.claim_seat(licensed, MAC, "  WS-0001 ", "RUM-1")
    licensed.commit()
    assert (seat.machine_id, seat.machine_key) == ("WS-0001", "ws-0001")
    row = licensed.scalars(select(SeatActivation).where(SeatActivation.id == seat.id)).one()
    assert (row.machine_id, row.machine_id_reported) == ("ws-0001", "WS-0001")
    assert [s.machine_id for s in seats.list_seats(licensed)] == ["WS-0001"]
    logged = licensed.scalars(select(SystemEvent.detail).where(SystemEvent.action == "seat.claim"))
    assert "machine ID WS-0001" in logged.one()


def test_another_case_is_the_same_machine(licensed: Session) -> None:
    first = seats.claim_seat(licensed, MAC, "WS-0001", "RUM-1")
    again = seats.claim_seat(licensed, MAC, "ws-0001", "RUM-1")
    licensed.commit()
    assert again.id == first.id and len(seats.list_seats(licensed)) == 1
    assert again.machine_id == "ws-0001"  # the workstation's latest report is shown
    beat = seats.heartbeat(licensed, MAC, "Ws-0001")
    assert beat.id == first.id and beat.machine_id == "ws-0001"
    freed = seats.release_seat(licensed, first.id, ADMIN)
    licensed.commit()
    assert freed.machine_id == "ws-0001" and seats.list_seats(licensed) == []
    row = licensed.scalars(select(SeatActivation).where(SeatActivation.id == first.id)).one()
    assert row.machine_id is None and row.machine_id_reported is None


def test_the_licensing_tab_shows_the_reported_case(client: FlaskClient, licensed: Session) -> None:
    seat = seats.claim_seat(licensed, MAC, "WS-0001", "RUM-1")
    licensed.commit()
    page = client.get("/licensing/").get_data(as_text=True)
    row = page[page.index(f'<tr id="seat-{seat.id}"') :]
    row = row[: row.index("</tr>")]
    assert "WS-0001" in row and "ws-0001" not in row
    ask = client.get(f"/licensing/seats/{seat.id}/remove", headers=HX)
    assert "machine ID WS-0001" in ask.get_data(as_text=True)


def _alembic(engine: Engine, action: str, to: str) -> None:
    cfg = schema.alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, to)
        conn.commit()


def test_the_migration_keeps_held_seats(empty_db_url: str, backend: str) -> None:
    engine = make_engine(empty_db_url, create=True)
    try:
        schema.upgrade(engine, to="0004_user_groups")
        now = dt.datetime(2026, 11, 30, 8, 0)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO seat_activation (slot, mac, machine_id, hostname, first_seen, "
                    "last_seen) VALUES (1, :mac, 'ws-0001', 'RUM-1', :now, :now)"
                ),
                {"mac": MAC, "now": now},
            )
        schema.upgrade(engine)
        assert schema.check(engine).revision == schema.head_revision()
        with Session(engine) as session:
            (held,) = seats.list_seats(session)
        assert (held.machine_id, held.machine_key, held.hostname) == ("ws-0001", "ws-0001", "RUM-1")
        _alembic(engine, "downgrade", "0004_user_groups")
        columns = {c["name"] for c in inspect(engine).get_columns("seat_activation")}
        assert "machine_id_reported" not in columns and "machine_id" in columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT machine_id FROM seat_activation")).scalar() == (
                "ws-0001"
            )
        _alembic(engine, "upgrade", "head")
        columns = {c["name"] for c in inspect(engine).get_columns("seat_activation")}
        assert "machine_id_reported" in columns
    finally:
        engine.dispose()
