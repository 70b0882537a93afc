"""Attach an existing 2.1 database on PostgreSQL from a dump (``pg_dump -Fc``).

PostgreSQL has no "attach": the database comes back from a dump, such as the ones General
settings' [Backup now] and the Backup tab write. The dump is read first (``pg_restore
--list``: a custom-format dump holding ImageBank's tables), then a new database is created,
restored into in one transaction and its schema checked; only then does the program use it.
Anything that fails on the way drops the new database again: nothing half-made stays. The
password reaches ``pg_restore`` through ``PGPASSWORD``, never its command line, and no
shell is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from ibdesk import config, schema
from ibdesk.audit import Actor, system_event
from ibdesk.db import make_engine, session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.progress import Job, LogLine
from ibdesk.settings import backup as dbbackup
from ibdesk.settings.connection import ServerSpec, check_database_name, url
from ibdesk.settings.dbadmin import (
    _admin_engine,
    list_databases,
    new_postgresql_database,
    pg_restore,
)

# The lines of ``pg_restore --list`` that only an ImageBank 2.x database's dump has.
IMAGEBANK_ENTRIES = (f"TABLE public {schema.VERSION_TABLE} ", "TABLE public patient ")


@dataclass(frozen=True)
class AttachedDump:
    """A database restored from a dump and checked: its URL, schema state and dump entries."""

    url: URL
    status: schema.SchemaStatus
    entries: int


def check_dump(dump: Path) -> int:
    """Say whether a file is a ``pg_dump -Fc`` dump of an ImageBank database; count its entries."""
    if not dump.is_file():
        raise UserError(_("%(path)s is not a file; choose a dump made by pg_dump -Fc.", path=dump))
    # The whole path: a file named like "-x" must not reach pg_restore as an option.
    listing = dbbackup.run_pg_tool("pg_restore", "--list", str(dump.resolve()))
    if listing.returncode != 0:
        raise UserError(
            _(
                "%(path)s is not a PostgreSQL dump that pg_restore can read; choose a file "
                "made by pg_dump -Fc (such as one from Backup now).",
                path=dump,
            )
        )
    lines = [line for line in listing.stdout.splitlines() if line and not line.startswith(";")]
    if not all(any(entry in line for line in lines) for entry in IMAGEBANK_ENTRIES):
        raise UserError(
            _(
                "%(path)s is a PostgreSQL dump, but not of an ImageBank 2.x database.",
                path=dump,
            )
        )
    return len(lines)


def attach_dump_job(
    spec: ServerSpec, dump: Path, name: str, *, actor: Actor | None = None, use: bool = True
) -> Job[AttachedDump]:
    """Check the dump and the name, then return the job restoring it into a new database.

    With ``actor``, the new database's system log records where it came from. Refused
    before anything is made: a file that is not an ImageBank dump, a name that is not safe
    or already taken on the server, a missing ``pg_restore``.
    """
    name = check_database_name(name)
    spec = spec.check()
    if spec.backend != "postgresql":
        raise UserError(_("A dump can be attached on PostgreSQL only."))
    entries = check_dump(dump)
    if name in list_databases(spec):
        raise UserError(
            _(
                "A database named %(name)s already exists on %(label)s; choose another name.",
                name=name,
                label=spec.label,
            )
        )
    return _attach_dump(spec, dump, name, entries, actor, use)


def _attach_dump(
    spec: ServerSpec, dump: Path, name: str, entries: int, actor: Actor | None, use: bool
) -> Job[AttachedDump]:
    target = url(spec, name)
    yield LogLine(_("Creating the database %(name)s on %(label)s.", name=name, label=spec.label))
    admin = _admin_engine(spec)
    # Failed or cancelled, the half-restored database goes again.
    try:
        with new_postgresql_database(admin, name, keep=True):
            yield LogLine(
                _("Restoring %(path)s into %(name)s with pg_restore…", path=dump, name=name)
            )
            pg_restore(dump, target)
            engine = make_engine(target)
            try:
                status = schema.check(engine)
            finally:
                engine.dispose()
            if status.state in (
                schema.SchemaState.FOREIGN,
                schema.SchemaState.EMPTY,
                schema.SchemaState.NEWER,
            ):
                raise UserError(status.message)
            if actor is not None and status.state is schema.SchemaState.CURRENT:
                _record(target, actor, f"{dump} ({entries} entries)")
            if use:
                config.set_database_url(target.render_as_string(hide_password=False))
    finally:
        admin.dispose()
    yield LogLine(_("Restored %(count)s entries; %(state)s", count=entries, state=status.message))
    return AttachedDump(target, status, entries)


def _record(target: URL, actor: Actor, detail: str) -> None:
    """Note the attach in the new database's own system log."""
    engine = make_engine(target)
    try:
        with session_scope(engine) as session:
            system_event(session, actor, "db.attach", detail)
    finally:
        engine.dispose()


def dumps_in(folder: Path, limit: int = 50) -> list[Path]:
    """List the newest dumps (``*.dump``) in a folder, to offer when attaching."""
    try:
        found = [path for path in folder.glob("*.dump") if path.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)[:limit]
