"""Migrations from an empty database, and the schema check's verdicts."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from ibdesk import schema
from ibdesk.db import DatabaseError, make_engine
from ibdesk.models import Base


def test_upgrade_creates_every_model_table(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url, create=True)
    assert schema.check(engine).state is schema.SchemaState.EMPTY
    result = schema.upgrade(engine)
    assert result.from_revision is None and result.changed
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert schema.check(engine).state is schema.SchemaState.CURRENT
    again = schema.upgrade(engine)
    assert not again.changed
    engine.dispose()


def test_migrations_match_models(engine: Engine) -> None:
    """Autogenerate finds nothing to add: the migrations and the models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": schema.VERSION_TABLE, "compare_type": True}
        )
        diff = [
            d
            for d in compare_metadata(context, Base.metadata)
            if not (
                isinstance(d, tuple)
                and d[0] == "remove_table"
                and d[1].name == schema.VERSION_TABLE
            )
        ]
    assert diff == []


def test_newer_schema_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999_future'"))
    status = schema.check(engine)
    assert status.state is schema.SchemaState.NEWER
    assert "newer" in status.message
    with pytest.raises(DatabaseError, match="newer"):
        schema.upgrade(engine)
    with engine.connect() as conn:
        assert (
            conn.execute(text(f"SELECT version_num FROM {schema.VERSION_TABLE}")).scalar()
            == "9999_future"
        )


def test_foreign_database_is_refused(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url, create=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount INTEGER)"))
    status = schema.check(engine)
    assert status.state is schema.SchemaState.FOREIGN
    with pytest.raises(DatabaseError, match="not an ImageBank"):
        schema.upgrade(engine)
    assert set(inspect(engine).get_table_names()) == {"invoices"}
    engine.dispose()


def test_counters_are_seeded(engine: Engine) -> None:
    with engine.connect() as conn:
        subjects = set(conn.execute(text("SELECT subject FROM stat_counter")).scalars())
    assert {
        "patient",
        "image_set",
        "signed_set",
        "intraoral",
        "panoramic",
        "photo",
        "video",
        "audio",
        "document",
    } == subjects


def test_upgrade_from_the_first_schema_keeps_data_and_counts(empty_db_url: str) -> None:
    from sqlalchemy.orm import Session

    from factories import make_media
    from ibdesk import statistics

    engine = make_engine(empty_db_url, create=True)
    schema.upgrade(engine, to="0001_initial")
    with Session(engine) as session:
        for _ in range(3):
            make_media(session)
    assert schema.check(engine).state is schema.SchemaState.OLDER
    result = schema.upgrade(engine)
    assert (result.from_revision, result.to_revision) == ("0001_initial", schema.head_revision())
    with Session(engine) as session:
        counts = statistics.counters(session)
        assert counts == statistics.recount(session)
        assert sum(c.live for s, c in counts.items() if s.startswith("m")) == 3
        make_media(session)
        assert statistics.counters(session) == statistics.recount(session)
    engine.dispose()
