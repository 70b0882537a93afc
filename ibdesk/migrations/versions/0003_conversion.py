"""Conversion from ImageBank 1.2: the source-key map, the issues found, the step reports

Revision ID: 0003_conversion
Revises: 0002_monthly_media_counters
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision = "0003_conversion"
down_revision = "0002_monthly_media_counters"
branch_labels = None
depends_on = None

# Frozen copies of the model's types: a migration must not change when the models do.
TIMESTAMP = sa.DateTime().with_variant(mssql.DATETIME2(), "mssql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "conversion_map",
        sa.Column("id", ID, nullable=False),
        sa.Column("source_table", sa.String(length=20), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_map")),
        sa.UniqueConstraint(
            "source_table", "source_key", name=op.f("uq_conversion_map_source_table_source_key")
        ),
    )
    op.create_table(
        "conversion_issue",
        sa.Column("id", ID, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("source_table", sa.String(length=20), nullable=False),
        sa.Column("source_key", sa.Unicode(length=400), nullable=False),
        sa.Column("column_name", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("rejected", sa.Boolean(), nullable=False),
        sa.Column("raw_value", sa.UnicodeText(), nullable=True),
        sa.Column("new_value", sa.UnicodeText(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_issue")),
    )
    with op.batch_alter_table("conversion_issue", schema=None) as batch_op:
        batch_op.create_index("ix_conversion_issue_reason", ["reason", "id"], unique=False)
    op.create_table(
        "conversion_report",
        sa.Column("id", ID, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("source", sa.Unicode(length=400), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("report", sa.UnicodeText(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_report")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("conversion_report")
    with op.batch_alter_table("conversion_issue", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_issue_reason")
    op.drop_table("conversion_issue")
    op.drop_table("conversion_map")
