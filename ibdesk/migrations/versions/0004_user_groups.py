"""User groups with rights, many groups per user, lockout, Active Directory pinning

A group now gives rights from a fixed catalogue (``group_right``) instead of listing
restrictions; a user belongs to any number of groups (``user_group_member``). The one group
each user had becomes a membership, and every former administrator (``is_admin``) becomes a
member of the seeded "Administrators" group. A group of ImageBank 2.1 keeps every right but
*administer* except those its restrictions named. Seeded groups: Administrators (every
right), Clinicians, Reception.

Revision ID: 0004_user_groups
Revises: 0003_conversion
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ibdesk.frozen_ddl import (
    TIMESTAMP,
    create_group_restriction,
    foreign_key,
    id_column,
    primary_key,
    unique,
)

revision = "0004_user_groups"
down_revision = "0003_conversion"

RIGHTS = (
    "view_patients",
    "edit_identity",
    "add_images",
    "delete_media",
    "sign",
    "export",
    "administer",
)
SEEDS = {
    "Administrators": ("Everything, including users, groups and settings.", RIGHTS),
    "Clinicians": (
        "Dentists and dental nurses: patients, images, signing and export.",
        ("view_patients", "edit_identity", "add_images", "delete_media", "sign", "export"),
    ),
    "Reception": ("Front desk: find and register patients.", ("view_patients", "edit_identity")),
}
# Plain INSERT ... SELECT statements, so the migration also runs offline (--sql).
GROUP = sa.table("user_group", sa.column("id"), sa.column("name"), sa.column("description"))
RIGHT = sa.table("group_right", sa.column("group_id"), sa.column("right_name"))
RESTRICTION = sa.table("group_restriction", sa.column("group_id"), sa.column("restriction"))
STAGED_MEMBER = sa.table("staged_member_0003", sa.column("user_id"), sa.column("group_id"))
ACCOUNT = sa.table("user_account", sa.column("id"), sa.column("group_id"), sa.column("is_admin"))


def _create_rights() -> None:
    """Create the rights table, and the staging table for memberships."""
    op.create_table(
        "group_right",
        id_column(),
        id_column("group_id"),
        sa.Column("right_name", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "right_name IN (" + ", ".join(f"'{r}'" for r in RIGHTS) + ")",
            name=op.f("ck_group_right_right_name_valid"),
        ),
        foreign_key("group_right", "group_id", "user_group", ondelete="CASCADE"),
        primary_key("group_right"),
        unique("group_right", "group_id", "right_name"),
    )
    # Memberships wait in a staging table without keys while user_account is rebuilt: on
    # SQLite the rebuild drops the table, which would cascade to real memberships.
    op.create_table(
        "staged_member_0003",
        id_column("user_id"),
        id_column("group_id"),
    )


def _grant_rights() -> None:
    """Give 2.1's groups the rights their restrictions allow; seed the three groups."""
    seed_names = [name.lower() for name in SEEDS]
    for name in RIGHTS[:-1]:  # ImageBank 2.1's groups: every right their restrictions allow
        restricted = sa.exists().where(
            RESTRICTION.c.group_id == GROUP.c.id, RESTRICTION.c.restriction == name
        )
        chosen = sa.select(GROUP.c.id, sa.literal(name)).where(
            sa.func.lower(GROUP.c.name).not_in(seed_names), ~restricted
        )
        op.execute(RIGHT.insert().from_select(["group_id", "right_name"], chosen))
    for name, (description, rights) in SEEDS.items():
        taken = sa.exists().where(sa.func.lower(GROUP.c.name) == name.lower())
        op.execute(
            GROUP.insert().from_select(
                ["name", "description"],
                sa.select(sa.literal(name), sa.literal(description)).where(~taken),
            )
        )
        for granted in rights:
            have = sa.exists().where(RIGHT.c.group_id == GROUP.c.id, RIGHT.c.right_name == granted)
            chosen = sa.select(GROUP.c.id, sa.literal(granted)).where(
                sa.func.lower(GROUP.c.name) == name.lower(), ~have
            )
            op.execute(RIGHT.insert().from_select(["group_id", "right_name"], chosen))


def _stage_memberships() -> None:
    """Stage each user's one group, and every former administrator's Administrators."""
    op.execute(
        STAGED_MEMBER.insert().from_select(
            ["user_id", "group_id"],
            sa.select(ACCOUNT.c.id, ACCOUNT.c.group_id).where(ACCOUNT.c.group_id.is_not(None)),
        )
    )
    admin_group = (
        sa.select(GROUP.c.id)
        .where(sa.func.lower(GROUP.c.name) == "administrators")
        .scalar_subquery()
    )
    admins = sa.select(ACCOUNT.c.id, admin_group).where(
        ACCOUNT.c.is_admin == sa.true(),
        sa.or_(ACCOUNT.c.group_id.is_(None), ACCOUNT.c.group_id != admin_group),
    )
    op.execute(STAGED_MEMBER.insert().from_select(["user_id", "group_id"], admins))


def _rebuild_accounts() -> None:
    """Drop the old group columns and restrictions; add lockout and AD pinning."""
    op.drop_table("group_restriction")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint("fk_user_account_group_id_user_group", type_="foreignkey")
        batch_op.drop_column("group_id")
        batch_op.drop_column("is_admin")
        batch_op.add_column(
            sa.Column("failed_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("first_failed_at", TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column("locked_until", TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column("ad_guid", sa.String(length=36), nullable=True))
        batch_op.create_index("ix_user_account_ad_guid", ["ad_guid"])
        batch_op.create_check_constraint("username_lower", "username = LOWER(username)")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.alter_column("failed_count", server_default=None)


def _move_memberships() -> None:
    """Create the memberships table and move the staged rows into it."""
    op.create_table(
        "user_group_member",
        id_column("user_id"),
        id_column("group_id"),
        foreign_key("user_group_member", "group_id", "user_group", ondelete="CASCADE"),
        foreign_key("user_group_member", "user_id", "user_account", ondelete="CASCADE"),
        primary_key("user_group_member", "user_id", "group_id"),
    )
    op.create_index("ix_user_group_member_group_id", "user_group_member", ["group_id"])

    staged = sa.table("staged_member_0003", sa.column("user_id"), sa.column("group_id"))
    op.execute(
        sa.table("user_group_member", sa.column("user_id"), sa.column("group_id"))
        .insert()
        .from_select(["user_id", "group_id"], sa.select(staged.c.user_id, staged.c.group_id))
    )
    op.drop_table("staged_member_0003")


def upgrade() -> None:
    """Create rights and memberships, move the old data over and seed the three groups."""
    _create_rights()
    _grant_rights()
    _stage_memberships()
    _rebuild_accounts()
    _move_memberships()


def downgrade() -> None:
    """Go back to one group per user with restrictions and an administrator flag."""
    member = sa.table("user_group_member", sa.column("user_id"), sa.column("group_id"))
    right = sa.table("group_right", sa.column("group_id"), sa.column("right_name"))
    op.create_table("staged_admin_0003", id_column("user_id"))
    op.execute(
        sa.table("staged_admin_0003", sa.column("user_id"))
        .insert()
        .from_select(
            ["user_id"],
            sa.select(member.c.user_id)
            .join_from(member, right, member.c.group_id == right.c.group_id)
            .where(right.c.right_name == "administer")
            .distinct(),
        )
    )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint("username_lower", type_="check")
        batch_op.drop_index("ix_user_account_ad_guid")
        batch_op.drop_column("ad_guid")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("first_failed_at")
        batch_op.drop_column("failed_count")
        batch_op.add_column(
            sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(id_column("group_id", nullable=True))
        batch_op.create_foreign_key(
            "fk_user_account_group_id_user_group",
            "user_group",
            ["group_id"],
            ["id"],
            ondelete="SET NULL",
        )
    account = sa.table("user_account", sa.column("id"), sa.column("is_admin"))
    staged = sa.table("staged_admin_0003", sa.column("user_id"))
    op.execute(
        account.update()
        .where(account.c.id.in_(sa.select(staged.c.user_id)))
        .values(is_admin=sa.true())
    )
    op.drop_table("staged_admin_0003")
    create_group_restriction()
    op.drop_index("ix_user_group_member_group_id", "user_group_member")
    op.drop_table("user_group_member")
    op.drop_table("group_right")
