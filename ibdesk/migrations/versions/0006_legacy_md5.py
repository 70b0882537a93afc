"""A converted 1.2 account's MD5 password, kept only until its one-time upgrade at sign-in

Revision ID: 0006_legacy_md5
Revises: 0005_seat_reported_case
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_legacy_md5"
down_revision = "0005_seat_reported_case"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legacy_md5", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("legacy_md5")
