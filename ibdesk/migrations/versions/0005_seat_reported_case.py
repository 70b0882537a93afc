"""Seats keep the machine ID as the workstation reported it ("WS-0001"), beside the folded key

The folded (lower-case) ``machine_id`` stays the key that keeps one machine to one seat;
``machine_id_reported`` is only what the Licensing tab shows. Seats held before this
revision show their folded key until the workstation next claims its seat.

Revision ID: 0005_seat_reported_case
Revises: 0004_user_groups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_seat_reported_case"
down_revision = "0004_user_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column holding the machine ID as reported."""
    with op.batch_alter_table("seat_activation") as batch:
        batch.add_column(sa.Column("machine_id_reported", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Drop the column holding the machine ID as reported."""
    with op.batch_alter_table("seat_activation") as batch:
        batch.drop_column("machine_id_reported")
