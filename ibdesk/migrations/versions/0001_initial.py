"""ImageBank 2.1 schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27 22:51:14.384810
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ibdesk import counter_ddl
from ibdesk.frozen_ddl import (
    TIMESTAMP,
    create_group_restriction,
    create_indexes,
    drop_indexes,
    foreign_key,
    id_column,
    primary_key,
    unique,
)

revision = "0001_initial"
down_revision = None


COUNTER_SUBJECTS = (
    "patient",
    "image_set",
    "signed_set",
    "intraoral",
    "panoramic",
    "photo",
    "video",
    "audio",
    "document",
)
_LIVE = counter_ddl.LIVE
_DEAD = counter_ddl.DEAD
# Per table: what one row adds to the counters (see ibdesk.counter_ddl).
CONTRIBUTIONS: dict[str, list[counter_ddl.Contribution]] = {
    "media_item": [
        (
            "{r}.kind",
            _LIVE.format(r="{r}", v="1"),
            _DEAD.format(r="{r}", v="1"),
            _LIVE.format(r="{r}", v="{r}.byte_size"),
            _DEAD.format(r="{r}", v="{r}.byte_size"),
        )
    ],
    "patient": [
        (
            "'patient'",
            _LIVE.format(r="{r}", v="1"),
            _DEAD.format(r="{r}", v="1"),
            "0",
            "0",
        )
    ],
    "image_set": [
        ("'image_set'", "1", "0", "0", "0"),
        ("'signed_set'", "CASE WHEN {r}.signed_at IS NULL THEN 0 ELSE 1 END", "0", "0", "0"),
    ],
}
# Columns whose change moves a row between counters (others leave counts alone).
COUNTED_COLUMNS = {
    "media_item": ("kind", "byte_size", "deleted_at"),
    "patient": ("deleted_at",),
    "image_set": ("signed_at",),
}


def create_counter_triggers() -> None:
    """Install the triggers that keep the statistics counters as rows change."""
    dialect = op.get_context().dialect.name
    for table, contributions in CONTRIBUTIONS.items():
        for statement in counter_ddl.create_triggers(
            dialect, table, contributions, COUNTED_COLUMNS[table]
        ):
            op.execute(statement)


def drop_counter_triggers() -> None:
    """Remove the counter triggers (and PostgreSQL's trigger functions)."""
    dialect = op.get_context().dialect.name
    for table in CONTRIBUTIONS:
        for statement in counter_ddl.drop_triggers(dialect, table):
            op.execute(statement)


def _create_logs_and_license() -> None:
    """Create the audit and login logs and the license table."""
    op.create_table(
        "audit_event",
        id_column(),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("user_name", sa.Unicode(length=100), nullable=False),
        sa.Column("machine", sa.Unicode(length=100), nullable=False),
        sa.Column("patient_id", sa.BigInteger(), nullable=True),
        sa.Column("personnummer", sa.String(length=12), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=True),
        sa.Column("changes", sa.UnicodeText(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("chain_hash", sa.String(length=64), nullable=True),
        primary_key("audit_event"),
        unique("audit_event", "seq"),
    )
    create_indexes(
        "audit_event",
        {
            "ix_audit_event_action": ["action", "id"],
            "ix_audit_event_at": ["at", "id"],
            "ix_audit_event_patient": ["patient_id", "id"],
            "ix_audit_event_personnummer": ["personnummer", "id"],
            "ix_audit_event_user": ["user_name", "id"],
        },
    )

    op.create_table(
        "license",
        id_column(),
        sa.Column("license_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("licensee", sa.Unicode(length=200), nullable=False),
        sa.Column("org_number", sa.String(length=20), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("document", sa.UnicodeText(), nullable=False),
        sa.Column("installed_at", TIMESTAMP, nullable=False),
        sa.Column("installed_by", sa.Unicode(length=100), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        primary_key("license"),
    )
    op.create_table(
        "login_event",
        id_column(),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("user_name", sa.Unicode(length=100), nullable=False),
        sa.Column("machine", sa.Unicode(length=100), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Unicode(length=200), nullable=False),
        primary_key("login_event"),
    )
    create_indexes(
        "login_event",
        {"ix_login_event_at": ["at", "id"], "ix_login_event_user": ["user_name", "id"]},
    )


def _create_patient_and_seats() -> None:
    """Create the patient and seat tables."""
    op.create_table(
        "patient",
        id_column(),
        sa.Column("personnummer", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("first_name", sa.Unicode(length=100), nullable=False),
        sa.Column("last_name", sa.Unicode(length=100), nullable=False),
        sa.Column("name_key", sa.Unicode(length=201), nullable=False),
        sa.Column("address", sa.Unicode(length=200), nullable=False),
        sa.Column("postal_code", sa.Unicode(length=10), nullable=False),
        sa.Column("city", sa.Unicode(length=100), nullable=False),
        sa.Column("phone", sa.Unicode(length=40), nullable=False),
        sa.Column("note", sa.UnicodeText(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.Unicode(length=100), nullable=False),
        sa.Column("modified_at", TIMESTAMP, nullable=False),
        sa.Column("modified_by", sa.Unicode(length=100), nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.Column("deleted_by", sa.Unicode(length=100), nullable=True),
        sa.CheckConstraint(
            "kind IN ('personnummer', 'samordningsnummer', 'reserve')",
            name=op.f("ck_patient_kind_valid"),
        ),
        primary_key("patient"),
        unique("patient", "personnummer"),
    )
    create_indexes(
        "patient",
        {"ix_patient_deleted_at": ["deleted_at"], "ix_patient_name_key": ["name_key", "id"]},
    )

    op.create_table(
        "seat_activation",
        id_column(),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=True),
        sa.Column("machine_id", sa.String(length=64), nullable=True),
        sa.Column("hostname", sa.Unicode(length=100), nullable=True),
        sa.Column("first_seen", TIMESTAMP, nullable=True),
        sa.Column("last_seen", TIMESTAMP, nullable=True),
        sa.CheckConstraint("slot >= 1", name=op.f("ck_seat_activation_slot_positive")),
        primary_key("seat_activation"),
        unique("seat_activation", "slot"),
    )
    with op.batch_alter_table("seat_activation", schema=None) as batch_op:
        batch_op.create_index(
            "uq_seat_activation_machine",
            ["mac", "machine_id"],
            unique=True,
            sqlite_where=sa.text("mac IS NOT NULL"),
            postgresql_where=sa.text("mac IS NOT NULL"),
            mssql_where=sa.text("mac IS NOT NULL"),
        )


def _create_settings_and_counters() -> None:
    """Create the settings, the statistics counters and deltas, and the system log."""
    op.create_table(
        "setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.UnicodeText(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("updated_by", sa.Unicode(length=100), nullable=False),
        primary_key("setting", "key"),
    )
    op.create_table(
        "stat_counter",
        sa.Column("subject", sa.String(length=20), nullable=False),
        sa.Column("live_count", sa.BigInteger(), nullable=False),
        sa.Column("deleted_count", sa.BigInteger(), nullable=False),
        sa.Column("live_bytes", sa.BigInteger(), nullable=False),
        sa.Column("deleted_bytes", sa.BigInteger(), nullable=False),
        primary_key("stat_counter", "subject"),
    )
    op.create_table(
        "stat_delta",
        id_column(),
        sa.Column("subject", sa.String(length=20), nullable=False),
        sa.Column("live_count", sa.BigInteger(), nullable=False),
        sa.Column("deleted_count", sa.BigInteger(), nullable=False),
        sa.Column("live_bytes", sa.BigInteger(), nullable=False),
        sa.Column("deleted_bytes", sa.BigInteger(), nullable=False),
        primary_key("stat_delta"),
    )
    op.create_table(
        "system_event",
        id_column(),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("user_name", sa.Unicode(length=100), nullable=False),
        sa.Column("machine", sa.Unicode(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.UnicodeText(), nullable=False),
        primary_key("system_event"),
    )
    create_indexes("system_event", {"ix_system_event_at": ["at", "id"]})


def _create_groups_sets_and_accounts() -> None:
    """Create user groups with their restrictions, image sets and accounts."""
    op.create_table(
        "user_group",
        id_column(),
        sa.Column("name", sa.Unicode(length=100), nullable=False),
        sa.Column("description", sa.Unicode(length=400), nullable=False),
        sa.Column("ad_dn", sa.Unicode(length=400), nullable=True),
        primary_key("user_group"),
        unique("user_group", "name"),
    )
    create_group_restriction()
    op.create_table(
        "image_set",
        id_column(),
        id_column("patient_id"),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("description", sa.Unicode(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.Unicode(length=100), nullable=False),
        sa.Column("signed_at", TIMESTAMP, nullable=True),
        sa.Column("signed_by", sa.Unicode(length=100), nullable=True),
        sa.Column("signature_digest", sa.String(length=64), nullable=True),
        foreign_key("image_set", "patient_id", "patient", ondelete="CASCADE"),
        primary_key("image_set"),
    )
    create_indexes("image_set", {"ix_image_set_patient": ["patient_id", "id"]})

    op.create_table(
        "user_account",
        id_column(),
        sa.Column("username", sa.Unicode(length=100), nullable=False),
        sa.Column("display_name", sa.Unicode(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        id_column("group_id", nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_login_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("source IN ('local', 'ad')", name=op.f("ck_user_account_source_valid")),
        foreign_key("user_account", "group_id", "user_group", ondelete="SET NULL"),
        primary_key("user_account"),
        unique("user_account", "username"),
    )


def _create_media() -> None:
    """Create the media table: one row per file in the image folder."""
    op.create_table(
        "media_item",
        id_column(),
        id_column("image_set_id"),
        id_column("patient_id"),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("path", sa.Unicode(length=400), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("bit_depth", sa.Integer(), nullable=True),
        sa.Column("teeth", sa.String(length=200), nullable=False),
        sa.Column("taken_at", TIMESTAMP, nullable=True),
        sa.Column("comment", sa.UnicodeText(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.Unicode(length=100), nullable=False),
        sa.Column("modified_at", TIMESTAMP, nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.Column("deleted_by", sa.Unicode(length=100), nullable=True),
        sa.CheckConstraint(
            "kind IN ('intraoral', 'panoramic', 'photo', 'video', 'audio', 'document')",
            name=op.f("ck_media_item_kind_valid"),
        ),
        sa.CheckConstraint("byte_size >= 0", name=op.f("ck_media_item_byte_size_positive")),
        foreign_key("media_item", "image_set_id", "image_set", ondelete="CASCADE"),
        foreign_key("media_item", "patient_id", "patient"),
        primary_key("media_item"),
    )
    create_indexes(
        "media_item",
        {
            "ix_media_item_created": ["created_at"],
            "ix_media_item_kind_created": ["kind", "created_at"],
            "ix_media_item_patient": ["patient_id", "id"],
            "ix_media_item_set": ["image_set_id", "id"],
            "ix_media_item_sha256": ["sha256"],
        },
    )


def _seed_counters() -> None:
    """Give every counter subject its row, at zero."""
    counters = sa.table(
        "stat_counter",
        sa.column("subject", sa.String),
        *(
            sa.column(name, sa.BigInteger)
            for name in ("live_count", "deleted_count", "live_bytes", "deleted_bytes")
        ),
    )
    # Plain INSERTs: bulk_insert would wrap them in SET IDENTITY_INSERT on SQL Server,
    # which fails on a table without an identity column.
    for subject in COUNTER_SUBJECTS:
        op.execute(
            counters.insert().values(
                subject=subject, live_count=0, deleted_count=0, live_bytes=0, deleted_bytes=0
            )
        )


def upgrade() -> None:
    """Apply this revision."""
    _create_logs_and_license()
    _create_patient_and_seats()
    _create_settings_and_counters()
    _create_groups_sets_and_accounts()
    _create_media()
    _seed_counters()
    create_counter_triggers()


def downgrade() -> None:
    """Revert this revision."""
    drop_counter_triggers()
    drop_indexes(
        "media_item",
        "ix_media_item_sha256",
        "ix_media_item_set",
        "ix_media_item_patient",
        "ix_media_item_kind_created",
        "ix_media_item_created",
    )

    op.drop_table("media_item")
    op.drop_table("user_account")
    drop_indexes("image_set", "ix_image_set_patient")

    op.drop_table("image_set")
    op.drop_table("group_restriction")
    op.drop_table("user_group")
    drop_indexes("system_event", "ix_system_event_at")

    op.drop_table("system_event")
    op.drop_table("stat_delta")
    op.drop_table("stat_counter")
    op.drop_table("setting")
    with op.batch_alter_table("seat_activation", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_seat_activation_machine",
            sqlite_where=sa.text("mac IS NOT NULL"),
            postgresql_where=sa.text("mac IS NOT NULL"),
            mssql_where=sa.text("mac IS NOT NULL"),
        )

    op.drop_table("seat_activation")
    drop_indexes("patient", "ix_patient_name_key", "ix_patient_deleted_at")

    op.drop_table("patient")
    drop_indexes("login_event", "ix_login_event_user", "ix_login_event_at")

    op.drop_table("login_event")
    op.drop_table("license")
    drop_indexes(
        "audit_event",
        "ix_audit_event_user",
        "ix_audit_event_personnummer",
        "ix_audit_event_patient",
        "ix_audit_event_at",
        "ix_audit_event_action",
    )

    op.drop_table("audit_event")
