"""Conversion from ImageBank 1.2: the source-key map, the issues found, the step reports

Revision ID: 0003_conversion
Revises: 0002_monthly_media_counters
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ibdesk.frozen_ddl import (
    TIMESTAMP,
    create_indexes,
    drop_indexes,
    id_column,
    primary_key,
    unique,
)

revision = "0003_conversion"
down_revision = "0002_monthly_media_counters"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "conversion_map",
        id_column(),
        sa.Column("source_table", sa.String(length=20), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.String(length=40), nullable=False),
        primary_key("conversion_map"),
        unique("conversion_map", "source_table", "source_key"),
    )
    op.create_table(
        "conversion_issue",
        id_column(),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("source_table", sa.String(length=20), nullable=False),
        sa.Column("source_key", sa.Unicode(length=400), nullable=False),
        sa.Column("column_name", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("rejected", sa.Boolean(), nullable=False),
        sa.Column("raw_value", sa.UnicodeText(), nullable=True),
        sa.Column("new_value", sa.UnicodeText(), nullable=True),
        primary_key("conversion_issue"),
    )
    create_indexes("conversion_issue", {"ix_conversion_issue_reason": ["reason", "id"]})
    op.create_table(
        "conversion_report",
        id_column(),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("source", sa.Unicode(length=400), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("report", sa.UnicodeText(), nullable=False),
        primary_key("conversion_report"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("conversion_report")
    drop_indexes("conversion_issue", "ix_conversion_issue_reason")
    op.drop_table("conversion_issue")
    op.drop_table("conversion_map")
