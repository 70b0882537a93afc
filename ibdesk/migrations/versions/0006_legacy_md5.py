"""A converted 1.2 account's MD5 password, kept only until its one-time upgrade at sign-in

Revision ID: 0006_legacy_md5
Revises: 0005_seat_reported_case
"""

from __future__ import annotations

import sqlalchemy as sa

from ibdesk.frozen_ddl import add_columns, drop_columns

revision = "0006_legacy_md5"
down_revision = "0005_seat_reported_case"


def upgrade() -> None:
    """Apply this revision."""
    add_columns("user_account", sa.Column("legacy_md5", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    drop_columns("user_account", "legacy_md5")
