"""Monthly media counters for the statistics chart; media looked up by path

Media added per month becomes a counter kept by the media triggers (subject "mYYYY-MM"),
so the chart of the last 24 months never scans the media table. Existing rows are counted
once here.

Revision ID: 0002_monthly_media_counters
Revises: 0001_initial
"""

from __future__ import annotations

from alembic import op

from ibdesk import counter_ddl

revision = "0002_monthly_media_counters"
down_revision = "0001_initial"

_LIVE, _DEAD = counter_ddl.LIVE, counter_ddl.DEAD
KIND = (
    "{r}.kind",
    _LIVE.format(r="{r}", v="1"),
    _DEAD.format(r="{r}", v="1"),
    _LIVE.format(r="{r}", v="{r}.byte_size"),
    _DEAD.format(r="{r}", v="{r}.byte_size"),
)
MONTH = ("{month}", *KIND[1:])
COUNTED = ("kind", "byte_size", "deleted_at", "created_at")


def _replace_triggers(
    contributions: list[counter_ddl.Contribution], counted: tuple[str, ...]
) -> None:
    dialect = op.get_context().dialect.name
    for statement in counter_ddl.drop_triggers(dialect, "media_item"):
        op.execute(statement)
    for statement in counter_ddl.create_triggers(dialect, "media_item", contributions, counted):
        op.execute(statement)


def upgrade() -> None:
    """Count media by month as they change, and count the existing ones once."""
    # The image-folder check looks files up by path.
    op.create_index("ix_media_item_path", "media_item", ["path"])
    _replace_triggers([KIND, MONTH], COUNTED)
    dialect = op.get_context().dialect.name
    month = counter_ddl.month_subject(dialect, "media_item")
    op.execute(
        f"INSERT INTO stat_delta ({counter_ddl.DELTA_COLUMNS}) "
        f"SELECT {month}, "
        "SUM(CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END), "
        "SUM(CASE WHEN deleted_at IS NULL THEN byte_size ELSE 0 END), "
        "SUM(CASE WHEN deleted_at IS NULL THEN 0 ELSE byte_size END) "
        f"FROM media_item GROUP BY {month}"
    )


def downgrade() -> None:
    """Go back to counting media by kind only."""
    op.drop_index("ix_media_item_path", "media_item")
    _replace_triggers([KIND], ("kind", "byte_size", "deleted_at"))
    op.execute("DELETE FROM stat_delta WHERE subject LIKE 'm%'")
    op.execute("DELETE FROM stat_counter WHERE subject LIKE 'm%'")
