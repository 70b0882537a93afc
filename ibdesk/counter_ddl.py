"""DDL of the triggers that keep the statistics counters, for each backend.

Migrations call these with the contributions they define (what one row of a table adds to
which counter), so each migration states its own triggers; this module only knows how to
spell a trigger on SQLite (row level), PostgreSQL (statement level over transition tables)
and SQL Server (statement level over the inserted/deleted pseudo-tables). Writers only
ever insert ``stat_delta`` rows: no hot counter row, no lock waits, no deadlocks.
"""

from __future__ import annotations

from collections.abc import Sequence

# (subject, live count, deleted count, live bytes, deleted bytes): SQL expressions over the
# row alias {r}; a subject may also use {month}, the dialect's "YYYY-MM" of {r}.created_at.
Contribution = tuple[str, str, str, str, str]
DELTA_COLUMNS = "subject, live_count, deleted_count, live_bytes, deleted_bytes"
LIVE = "CASE WHEN {r}.deleted_at IS NULL THEN {v} ELSE 0 END"
DEAD = "CASE WHEN {r}.deleted_at IS NULL THEN 0 ELSE {v} END"
_MONTH_SUBJECT = {
    "sqlite": "'m' || strftime('%Y-%m', {r}.created_at)",
    "postgresql": "'m' || to_char({r}.created_at, 'YYYY-MM')",
    "mssql": "'m' + CONVERT(CHAR(7), {r}.created_at, 126)",
}


def _fill(expression: str, dialect: str, alias: str) -> str:
    month = _MONTH_SUBJECT[dialect].format(r=alias)
    return expression.replace("{month}", month).format(r=alias)


def _sqlite(table: str, contributions: Sequence[Contribution], counted: Sequence[str]) -> list[str]:
    def inserts(alias: str, sign: str) -> str:
        out = []
        for contribution in contributions:
            subject, *values = (_fill(c, "sqlite", alias) for c in contribution)
            signed = ", ".join(f"{sign}({v})" for v in values)
            out.append(f"INSERT INTO stat_delta ({DELTA_COLUMNS}) VALUES ({subject}, {signed});")
        return " ".join(out)

    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in counted)
    return [
        f"CREATE TRIGGER trg_{table}_count_ins AFTER INSERT ON {table} "
        f"BEGIN {inserts('NEW', '+')} END",
        f"CREATE TRIGGER trg_{table}_count_del AFTER DELETE ON {table} "
        f"BEGIN {inserts('OLD', '-')} END",
        f"CREATE TRIGGER trg_{table}_count_upd AFTER UPDATE ON {table} WHEN {changed} "
        f"BEGIN {inserts('OLD', '-')} {inserts('NEW', '+')} END",
    ]


def _summed_insert(
    dialect: str, contributions: Sequence[Contribution], sources: Sequence[tuple[str, str]]
) -> str:
    branches = []
    for source, sign in sources:
        for contribution in contributions:
            subject, *values = (_fill(c, dialect, "r") for c in contribution)
            cols = ", ".join(f"{sign}({v}) AS c{i}" for i, v in enumerate(values, 1))
            branches.append(f"SELECT {subject} AS subject, {cols} FROM {source} r")
    return (
        f"INSERT INTO stat_delta ({DELTA_COLUMNS}) "
        "SELECT subject, SUM(c1), SUM(c2), SUM(c3), SUM(c4) FROM ("
        + " UNION ALL ".join(branches)
        + ") x GROUP BY subject "
        "HAVING SUM(c1) <> 0 OR SUM(c2) <> 0 OR SUM(c3) <> 0 OR SUM(c4) <> 0"
    )


def _postgresql(table: str, contributions: Sequence[Contribution]) -> list[str]:
    statements = []
    events = {
        "ins": ("INSERT", "REFERENCING NEW TABLE AS new_rows", [("new_rows", "+")]),
        "del": ("DELETE", "REFERENCING OLD TABLE AS old_rows", [("old_rows", "-")]),
        "upd": (
            "UPDATE",
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
            [("old_rows", "-"), ("new_rows", "+")],
        ),
    }
    for suffix, (event, referencing, sources) in events.items():
        function = f"ibdesk_{table}_count_{suffix}"
        statements.append(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{_summed_insert('postgresql', contributions, sources)}; RETURN NULL; END $$"
        )
        statements.append(
            f"CREATE TRIGGER trg_{table}_count_{suffix} AFTER {event} ON {table} "
            f"{referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


def _mssql(table: str, contributions: Sequence[Contribution]) -> list[str]:
    body = _summed_insert("mssql", contributions, [("deleted", "-"), ("inserted", "+")])
    return [
        f"CREATE TRIGGER trg_{table}_count ON {table} AFTER INSERT, UPDATE, DELETE AS "
        f"BEGIN SET NOCOUNT ON; {body}; END"
    ]


def create_triggers(
    dialect: str, table: str, contributions: Sequence[Contribution], counted: Sequence[str]
) -> list[str]:
    """Return the statements creating a table's counter triggers on a backend."""
    if dialect == "sqlite":
        return _sqlite(table, contributions, counted)
    if dialect == "postgresql":
        return _postgresql(table, contributions)
    if dialect == "mssql":
        return _mssql(table, contributions)
    raise ValueError(f"no counter triggers for {dialect}")


def drop_triggers(dialect: str, table: str) -> list[str]:
    """Return the statements removing a table's counter triggers (and trigger functions)."""
    if dialect == "mssql":
        return [f"DROP TRIGGER trg_{table}_count"]
    statements = []
    for suffix in ("ins", "del", "upd"):
        on = f" ON {table}" if dialect == "postgresql" else ""
        statements.append(f"DROP TRIGGER trg_{table}_count_{suffix}{on}")
        if dialect == "postgresql":
            statements.append(f"DROP FUNCTION ibdesk_{table}_count_{suffix}()")
    return statements


def month_subject(dialect: str, alias: str) -> str:
    """Return the dialect's expression for a row's month counter subject ("mYYYY-MM")."""
    return _MONTH_SUBJECT[dialect].format(r=alias)
