"""ImageBank 2.1 schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27 22:51:14.384810
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

from ibdesk import counter_ddl

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the model's types: a migration must not change when the models do.
TIMESTAMP = sa.DateTime().with_variant(mssql.DATETIME2(), "mssql")

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


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_event_seq")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_action", ["action", "id"], unique=False)
        batch_op.create_index("ix_audit_event_at", ["at", "id"], unique=False)
        batch_op.create_index("ix_audit_event_patient", ["patient_id", "id"], unique=False)
        batch_op.create_index("ix_audit_event_personnummer", ["personnummer", "id"], unique=False)
        batch_op.create_index("ix_audit_event_user", ["user_name", "id"], unique=False)

    op.create_table(
        "license",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license")),
    )
    op.create_table(
        "login_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("user_name", sa.Unicode(length=100), nullable=False),
        sa.Column("machine", sa.Unicode(length=100), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Unicode(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_event")),
    )
    with op.batch_alter_table("login_event", schema=None) as batch_op:
        batch_op.create_index("ix_login_event_at", ["at", "id"], unique=False)
        batch_op.create_index("ix_login_event_user", ["user_name", "id"], unique=False)

    op.create_table(
        "patient",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient")),
        sa.UniqueConstraint("personnummer", name=op.f("uq_patient_personnummer")),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index("ix_patient_deleted_at", ["deleted_at"], unique=False)
        batch_op.create_index("ix_patient_name_key", ["name_key", "id"], unique=False)

    op.create_table(
        "seat_activation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=True),
        sa.Column("machine_id", sa.String(length=64), nullable=True),
        sa.Column("hostname", sa.Unicode(length=100), nullable=True),
        sa.Column("first_seen", TIMESTAMP, nullable=True),
        sa.Column("last_seen", TIMESTAMP, nullable=True),
        sa.CheckConstraint("slot >= 1", name=op.f("ck_seat_activation_slot_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_activation")),
        sa.UniqueConstraint("slot", name=op.f("uq_seat_activation_slot")),
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

    op.create_table(
        "setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.UnicodeText(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("updated_by", sa.Unicode(length=100), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_setting")),
    )
    op.create_table(
        "stat_counter",
        sa.Column("subject", sa.String(length=20), nullable=False),
        sa.Column("live_count", sa.BigInteger(), nullable=False),
        sa.Column("deleted_count", sa.BigInteger(), nullable=False),
        sa.Column("live_bytes", sa.BigInteger(), nullable=False),
        sa.Column("deleted_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_stat_counter")),
    )
    op.create_table(
        "stat_delta",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subject", sa.String(length=20), nullable=False),
        sa.Column("live_count", sa.BigInteger(), nullable=False),
        sa.Column("deleted_count", sa.BigInteger(), nullable=False),
        sa.Column("live_bytes", sa.BigInteger(), nullable=False),
        sa.Column("deleted_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stat_delta")),
    )
    op.create_table(
        "system_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("user_name", sa.Unicode(length=100), nullable=False),
        sa.Column("machine", sa.Unicode(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.UnicodeText(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_event")),
    )
    with op.batch_alter_table("system_event", schema=None) as batch_op:
        batch_op.create_index("ix_system_event_at", ["at", "id"], unique=False)

    op.create_table(
        "user_group",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.Unicode(length=100), nullable=False),
        sa.Column("description", sa.Unicode(length=400), nullable=False),
        sa.Column("ad_dn", sa.Unicode(length=400), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_group")),
        sa.UniqueConstraint("name", name=op.f("uq_user_group_name")),
    )
    op.create_table(
        "group_restriction",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("restriction", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["user_group.id"],
            name=op.f("fk_group_restriction_group_id_user_group"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_restriction")),
        sa.UniqueConstraint(
            "group_id", "restriction", name=op.f("uq_group_restriction_group_id_restriction")
        ),
    )
    op.create_table(
        "image_set",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("description", sa.Unicode(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.Unicode(length=100), nullable=False),
        sa.Column("signed_at", TIMESTAMP, nullable=True),
        sa.Column("signed_by", sa.Unicode(length=100), nullable=True),
        sa.Column("signature_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_image_set_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_set")),
    )
    with op.batch_alter_table("image_set", schema=None) as batch_op:
        batch_op.create_index("ix_image_set_patient", ["patient_id", "id"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.Unicode(length=100), nullable=False),
        sa.Column("display_name", sa.Unicode(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_login_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("source IN ('local', 'ad')", name=op.f("ck_user_account_source_valid")),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["user_group.id"],
            name=op.f("fk_user_account_group_id_user_group"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    op.create_table(
        "media_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "image_set_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
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
        sa.ForeignKeyConstraint(
            ["image_set_id"],
            ["image_set.id"],
            name=op.f("fk_media_item_image_set_id_image_set"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_media_item_patient_id_patient")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_item")),
    )
    with op.batch_alter_table("media_item", schema=None) as batch_op:
        batch_op.create_index("ix_media_item_created", ["created_at"], unique=False)
        batch_op.create_index("ix_media_item_kind_created", ["kind", "created_at"], unique=False)
        batch_op.create_index("ix_media_item_patient", ["patient_id", "id"], unique=False)
        batch_op.create_index("ix_media_item_set", ["image_set_id", "id"], unique=False)
        batch_op.create_index("ix_media_item_sha256", ["sha256"], unique=False)

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
    create_counter_triggers()


def downgrade() -> None:
    """Revert this revision."""
    drop_counter_triggers()
    with op.batch_alter_table("media_item", schema=None) as batch_op:
        batch_op.drop_index("ix_media_item_sha256")
        batch_op.drop_index("ix_media_item_set")
        batch_op.drop_index("ix_media_item_patient")
        batch_op.drop_index("ix_media_item_kind_created")
        batch_op.drop_index("ix_media_item_created")

    op.drop_table("media_item")
    op.drop_table("user_account")
    with op.batch_alter_table("image_set", schema=None) as batch_op:
        batch_op.drop_index("ix_image_set_patient")

    op.drop_table("image_set")
    op.drop_table("group_restriction")
    op.drop_table("user_group")
    with op.batch_alter_table("system_event", schema=None) as batch_op:
        batch_op.drop_index("ix_system_event_at")

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
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_name_key")
        batch_op.drop_index("ix_patient_deleted_at")

    op.drop_table("patient")
    with op.batch_alter_table("login_event", schema=None) as batch_op:
        batch_op.drop_index("ix_login_event_user")
        batch_op.drop_index("ix_login_event_at")

    op.drop_table("login_event")
    op.drop_table("license")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_user")
        batch_op.drop_index("ix_audit_event_personnummer")
        batch_op.drop_index("ix_audit_event_patient")
        batch_op.drop_index("ix_audit_event_at")
        batch_op.drop_index("ix_audit_event_action")

    op.drop_table("audit_event")
