"""SQL Server without a server: the migrations' DDL and the lookups' parameter types.

Every statement the program issues in the other tests is also compiled for SQL Server by
the ``engine`` fixture (see conftest.py); here the DDL and the VARCHAR-index trap.
"""

from __future__ import annotations

import re

import pyodbc
import pytest
from sqlalchemy import select

from ibdesk import schema
from ibdesk.db import make_engine, mssql_dialect, odbc_drivers
from ibdesk.models import AuditEvent, MediaItem, Patient, SeatActivation


@pytest.fixture(scope="module")
def ddl() -> str:
    return schema.offline_sql("mssql")


def test_migrations_compile_for_a_current_server(ddl: str) -> None:
    assert "CREATE TABLE patient" in ddl
    assert re.search(r"personnummer VARCHAR\(12\) NOT NULL", ddl)
    assert re.search(r"first_name NVARCHAR\(100\) NOT NULL", ddl)
    assert re.search(r"note NVARCHAR\(max\) NOT NULL", ddl)
    assert re.search(r"created_on DATE NOT NULL", ddl)
    assert re.search(r"created_at DATETIME2 NOT NULL", ddl)
    assert " IMAGE" not in ddl and " TEXT" not in ddl and "NTEXT" not in ddl


def test_filtered_unique_index_for_seats(ddl: str) -> None:
    assert re.search(
        r"CREATE UNIQUE INDEX uq_seat_activation_machine ON seat_activation \(mac, machine_id\)"
        r" WHERE mac IS NOT NULL",
        ddl,
    )


def test_counter_triggers_are_statement_level_and_no_identity_insert(ddl: str) -> None:
    for table in ("media_item", "patient", "image_set"):
        assert f"CREATE TRIGGER trg_{table}_count ON {table} AFTER INSERT, UPDATE, DELETE" in ddl
    assert "FROM inserted r" in ddl and "FROM deleted r" in ddl
    assert "IDENTITY_INSERT" not in ddl


def test_version_table_is_ibdesks(ddl: str) -> None:
    assert f"CREATE TABLE {schema.VERSION_TABLE}" in ddl
    assert "VALUES ('0001_initial')" in ddl


def _dbapi_types(statement: object) -> dict[str, object]:
    dialect = mssql_dialect()
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    return {
        name: bind.type.dialect_impl(dialect).get_dbapi_type(pyodbc)
        for name, bind in compiled.binds.items()
    }


@pytest.mark.parametrize(
    "statement",
    [
        select(Patient).where(Patient.personnummer == "191212121212"),
        select(Patient).where(Patient.personnummer >= "1912", Patient.personnummer < "1913"),
        select(AuditEvent).where(AuditEvent.personnummer == "191212121212"),
        select(MediaItem).where(MediaItem.sha256 == "a" * 64),
        select(SeatActivation).where(SeatActivation.mac == "AA:BB:CC:DD:EE:FF"),
    ],
    ids=["pn-equal", "pn-prefix", "audit-pn", "sha256", "mac"],
)
def test_ascii_lookups_bind_as_varchar(statement: object) -> None:
    """VARCHAR columns get VARCHAR parameters: an NVARCHAR one would turn seeks into scans."""
    types = _dbapi_types(statement)
    assert types and set(types.values()) == {pyodbc.SQL_VARCHAR}


def test_text_people_write_binds_as_nvarchar() -> None:
    types = _dbapi_types(select(Patient).where(Patient.name_key >= "öberg"))
    assert set(types.values()) == {pyodbc.SQL_WVARCHAR}


def test_paging_uses_offset_fetch_or_top() -> None:
    sql = str(
        select(Patient.id)
        .order_by(Patient.id)
        .limit(50)
        .offset(100)
        .compile(dialect=mssql_dialect())
    )
    assert "OFFSET" in sql and "FETCH" in sql and "ROW_NUMBER" not in sql


def test_installed_odbc_drivers_are_listed() -> None:
    drivers = odbc_drivers()
    assert "FreeTDS" in drivers
    assert any(name.startswith("PostgreSQL") for name in drivers)


def test_mssql_url_uses_pyodbc_with_a_timeout() -> None:
    engine = make_engine(
        "mssql+pyodbc://sa:secret@sqlserver.klinik.local:1433/ImageBank"
        "?driver=ODBC+Driver+18+for+SQL+Server"
    )
    assert engine.dialect.name == "mssql" and engine.dialect.driver == "pyodbc"
    assert engine.url.query["timeout"] == "5"
    engine.dispose()


def test_passwords_never_shown_in_urls() -> None:
    from ibdesk.db import display_url
    from ibdesk.settings.connection import ServerSpec, url

    spec = ServerSpec("mssql", host="srv", user="sa", password="hemligt;}", driver="FreeTDS")
    shown = display_url(url(spec, "ImageBank"))
    assert "hemligt" not in shown and "PWD=***" in shown and "UID=sa" in shown
    assert display_url("postgresql://anna:hemligt@srv/ib") == "postgresql://anna:***@srv/ib"
