"""Alembic environment, run by ibdesk.schema: online with an open connection, or offline
(``sql=True``) to print the DDL for a dialect, which is how the SQL Server migrations are
checked without a server."""

from __future__ import annotations

from alembic import context

from ibdesk.db import prepare_mssql_dialect
from ibdesk.models import Base
from ibdesk.schema import VERSION_TABLE

config = context.config

if context.is_offline_mode():
    context.configure(
        dialect_name=config.attributes.get("dialect_name", "mssql"),
        dialect_opts=config.attributes.get("dialect_opts", {}),
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        transaction_per_migration=True,
        output_buffer=config.attributes.get("output_buffer"),
    )
    if context.get_context().dialect.name == "mssql":
        prepare_mssql_dialect(context.get_context().dialect)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is None:
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
