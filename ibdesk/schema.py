"""The database schema's version: check it, and migrate it with Alembic."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from ibdesk.db import DatabaseError, explain
from ibdesk.i18n import gettext as _

VERSION_TABLE = "ibdesk_schema_version"
MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaState(enum.StrEnum):
    """How a database's schema relates to this program."""

    EMPTY = "empty"
    CURRENT = "current"
    OLDER = "older"
    NEWER = "newer"
    FOREIGN = "foreign"


@dataclass(frozen=True)
class SchemaStatus:
    """A database's schema state, with its revision and this program's."""

    state: SchemaState
    revision: str | None
    head: str

    @property
    def message(self) -> str:
        """Say in one sentence what the state means and what to do, in the window's words."""
        match self.state:
            case SchemaState.OLDER:
                return _(
                    "The database schema (%(revision)s) is older than this program's "
                    "(%(head)s); press [Update database] in General settings to update it.",
                    revision=self.revision,
                    head=self.head,
                )
            case SchemaState.EMPTY:
                return _(
                    "The database is empty; press [Update database] in General settings to "
                    "create the ImageBank tables."
                )
        return self.command_message

    @property
    def command_message(self) -> str:
        """Say the same for the command line, whose answer is a command."""
        match self.state:
            case SchemaState.CURRENT:
                return _(
                    "The database is an ImageBank 2.1 database with the current schema (%(head)s).",
                    head=self.head,
                )
            case SchemaState.OLDER:
                return _(
                    "The database schema (%(revision)s) is older than this program's "
                    "(%(head)s); run `ibdesk db upgrade` to update it.",
                    revision=self.revision,
                    head=self.head,
                )
            case SchemaState.NEWER:
                return _(
                    "The database schema (%(revision)s) is newer than this program "
                    "knows; install the newer ibdesk before using this database.",
                    revision=self.revision,
                )
            case SchemaState.EMPTY:
                return _(
                    "The database is empty; run `ibdesk db upgrade` to create the ImageBank tables."
                )
            case SchemaState.FOREIGN:
                return _(
                    "The database holds tables but is not an ImageBank 2.1 database; choose "
                    "another database or create a new one."
                )
        raise AssertionError(self.state)

    @property
    def usable(self) -> bool:
        """Return whether the program can work with the database as it is."""
        return self.state is SchemaState.CURRENT


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at ibdesk's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """Return the newest schema revision this program knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "ibdesk ships at least one migration"
    return head


def check(engine: Engine) -> SchemaStatus:
    """Tell whether the database's schema is empty, current, older, newer or foreign."""
    script = ScriptDirectory.from_config(alembic_config())
    head = head_revision()
    try:
        with engine.connect().execution_options(ibdesk_read_only=True) as conn:
            tables = set(inspect(conn).get_table_names())
            if VERSION_TABLE not in tables:
                state = SchemaState.FOREIGN if tables else SchemaState.EMPTY
                return SchemaStatus(state, None, head)
            revision = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE}
            ).get_current_revision()
    except DatabaseError:
        raise
    except Exception as error:
        raise DatabaseError(explain(error, engine.url)) from error
    if revision is None:
        return SchemaStatus(
            SchemaState.EMPTY if tables == {VERSION_TABLE} else SchemaState.FOREIGN, None, head
        )
    if revision == head:
        return SchemaStatus(SchemaState.CURRENT, revision, head)
    try:
        script.get_revision(revision)
    except Exception:
        return SchemaStatus(SchemaState.NEWER, revision, head)
    return SchemaStatus(SchemaState.OLDER, revision, head)


@dataclass(frozen=True)
class UpgradeResult:
    """What an upgrade did: from which revision to which."""

    from_revision: str | None
    to_revision: str

    @property
    def changed(self) -> bool:
        """Return whether any migration ran."""
        return self.from_revision != self.to_revision


def upgrade(engine: Engine, *, to: str = "head") -> UpgradeResult:
    """Migrate an empty or older ImageBank database to the current schema (or to `to`)."""
    status = check(engine)
    if status.state in (SchemaState.NEWER, SchemaState.FOREIGN):
        raise DatabaseError(status.message)
    if status.state is SchemaState.CURRENT and to == "head":
        return UpgradeResult(status.revision, status.head)
    cfg = alembic_config()
    try:
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, to)
            conn.commit()
    except Exception as error:
        raise DatabaseError(explain(error, engine.url)) from error
    return UpgradeResult(status.revision, head_revision() if to == "head" else to)


def offline_sql(dialect_name: str, dialect_opts: dict[str, object] | None = None) -> str:
    """Return the DDL every migration would run on a dialect, without a server."""
    import io

    buffer = io.StringIO()
    cfg = alembic_config()
    cfg.attributes.update(
        dialect_name=dialect_name, dialect_opts=dialect_opts or {}, output_buffer=buffer
    )
    command.upgrade(cfg, "head", sql=True)
    return buffer.getvalue()
