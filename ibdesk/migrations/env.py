"""Alembic environment: run by ibdesk.schema with a connection already open."""

from __future__ import annotations

from alembic import context

from ibdesk.models import Base
from ibdesk.schema import VERSION_TABLE

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # pragma: no cover - ibdesk always passes a connection
    raise RuntimeError("ibdesk migrations run through `ibdesk db upgrade`, not alembic")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
