"""Building blocks the migrations share: frozen, like the migrations that use them.

A migration must run the same DDL for ever, whatever the models become, so it cannot use the
models' types. What several migrations spell alike lives here once instead: the two column
types, the constraint names of the naming convention, index batches, and the
``group_restriction`` table that revision 0001 creates and 0004's downgrade creates again.
Nothing here may change once a migration uses it; a new need gets a new name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime().with_variant(mssql.DATETIME2(), "mssql")


def id_column(name: str = "id", *, nullable: bool = False) -> sa.Column[int]:
    """Return a column of the 64-bit id type (SQLite: its INTEGER row id)."""
    return sa.Column(name, ID, nullable=nullable)


def primary_key(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    """Return ``table``'s primary key over ``columns`` (``id`` when none), named pk_<table>."""
    return sa.PrimaryKeyConstraint(*(columns or ("id",)), name=op.f(f"pk_{table}"))


def unique(table: str, *columns: str) -> sa.UniqueConstraint:
    """Return a unique constraint named uq_<table>_<columns>."""
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))


def foreign_key(
    table: str, column: str, target: str, *, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    """Return ``table.column`` → ``target.id``, named fk_<table>_<column>_<target>."""
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def create_indexes(table: str, indexes: dict[str, list[str]]) -> None:
    """Create plain (not unique) indexes on ``table``: name → columns."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, columns in indexes.items():
            batch_op.create_index(name, columns, unique=False)


def drop_indexes(table: str, *names: str) -> None:
    """Drop indexes of ``table`` in the order given."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in names:
            batch_op.drop_index(name)


def add_columns(table: str, *columns: sa.Column[object]) -> None:
    """Add columns to ``table`` (SQLite: by a batch rebuild)."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    """Drop columns of ``table`` in the order given (SQLite: by a batch rebuild)."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in names:
            batch_op.drop_column(name)


def create_group_restriction() -> None:
    """Create ImageBank 2.1's ``group_restriction`` table (revision 0001; 0004 drops it)."""
    table = "group_restriction"
    op.create_table(
        table,
        id_column(),
        id_column("group_id"),
        sa.Column("restriction", sa.String(length=40), nullable=False),
        foreign_key(table, "group_id", "user_group", ondelete="CASCADE"),
        primary_key(table),
        unique(table, "group_id", "restriction"),
    )
