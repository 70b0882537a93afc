"""Seats keep the machine ID as the workstation reported it ("WS-0001"), beside the folded key

The folded (lower-case) ``machine_id`` stays the key that keeps one machine to one seat;
``machine_id_reported`` is only what the Licensing tab shows. Seats held before this
revision show their folded key until the workstation next claims its seat.

Revision ID: 0005_seat_reported_case
Revises: 0004_user_groups
"""

from __future__ import annotations

import sqlalchemy as sa

from ibdesk.frozen_ddl import add_columns, drop_columns

revision = "0005_seat_reported_case"
down_revision = "0004_user_groups"


def upgrade() -> None:
    """Add the column holding the machine ID as reported."""
    add_columns(
        "seat_activation", sa.Column("machine_id_reported", sa.String(length=64), nullable=True)
    )


def downgrade() -> None:
    """Drop the column holding the machine ID as reported."""
    drop_columns("seat_activation", "machine_id_reported")
