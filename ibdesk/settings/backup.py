"""Verified backups of the database: SQLite's online backup API, PostgreSQL's pg_dump.

A backup is written under a temporary name, checked (SQLite: integrity check of the copy;
PostgreSQL: ``pg_restore --list``) and only then given its final name, so a file that looks
finished always is. SQL Server backs up on the server itself: its statements are built here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, folders, private
from ibdesk.audit import Actor, system_event
from ibdesk.db import DatabaseError, explain, session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.progress import Job, LogLine
from ibdesk.settings.connection import database_name, mssql_name


@dataclass(frozen=True)
class BackupResult:
    """A finished, verified backup."""

    path: Path
    bytes: int
    verified: str


def _stamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def backup(engine: Engine, folder: Path) -> BackupResult:
    """Back the database up into a folder and verify the copy; nothing half-written stays."""
    check_backup_folder(engine, folder)
    backend = engine.dialect.name
    name = backup_stem(engine.url.database)
    if backend == "sqlite":
        return _backup_sqlite(engine, unused_path(folder / f"{name}-{_stamp()}.sqlite3"))
    if backend == "postgresql":
        return _backup_postgresql(engine, unused_path(folder / f"{name}-{_stamp()}.dump"))
    raise UserError(
        _(
            "SQL Server writes its backups itself, on the server's own disk: `ibdesk db "
            "backup --to FOLDER` (a folder on that server) prints the statements to run there."
        )
    )


def backup_stem(database: str | None) -> str:
    """Return the start of a backup's file name: the database's, without folder or suffix.

    A SQLite path may be a Windows one (``C:\\Users\\j.doe\\imagebank.sqlite3``) whatever
    the computer: both separators end a folder's name, so the copy stays in its folder.
    """
    stem = PureWindowsPath(database or "").name.split(".")[0]
    stem = re.sub(r"[^\w\-]", "_", stem)
    return stem or "imagebank"


def _new_private_file(path: Path) -> None:
    # Created empty and this account's only before a byte is written: a copy of patient
    # data is never readable by others, not even while it is being written.
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, private.FILE_MODE)
    try:
        if os.name == "posix":
            os.fchmod(fd, private.FILE_MODE)  # whatever the umask
    finally:
        os.close(fd)


def check_backup_folder(engine: Engine, folder: Path) -> None:
    """Refuse a backup folder that is missing, read-only, a system folder or on the share."""
    if not folders.is_folder(folder):
        raise UserError(
            _("The backup folder %(folder)s does not exist; create it first.", folder=folder)
        )
    if not os.access(folder, os.W_OK):
        raise UserError(
            _("The backup folder %(folder)s is not writable by this program.", folder=folder)
        )
    _refuse_shared(engine, folder)


def _refuse_shared(engine: Engine, folder: Path) -> None:
    # A backup holds every patient: never in a system folder, never on the share that every
    # workstation (and everyone who can reach the share) reads.
    folders.refuse_dangerous(folder, _("backup folder"))
    try:
        with Session(engine) as session:
            images = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    except SQLAlchemyError:  # a database not yet migrated has no image folder yet
        images = None
    if images and folders.is_folder(images) and folders.is_inside(folder, images):
        raise UserError(
            _(
                "The backup folder %(folder)s is inside the shared image folder %(images)s, "
                "where every workstation could read the whole database; choose a folder "
                "outside it.",
                folder=folder,
                images=images,
            )
        )


def _backup_sqlite(engine: Engine, target: Path) -> BackupResult:
    source = str(engine.url.database)
    partial = target.with_name(target.name + ".part")
    try:
        _new_private_file(partial)
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
            # A self-contained file: no -wal beside the copy.
            dst.execute("PRAGMA journal_mode = DELETE")
        with closing(sqlite3.connect(partial)) as check:
            verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise DatabaseError(
                _("The backup copy failed its integrity check: %(verdict)s.", verdict=verdict)
            )
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise DatabaseError(explain(error, engine.url)) from error
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, target.stat().st_size, "integrity check ok")


def _pg_env(parsed: URL) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PGHOST=parsed.host or "localhost",
        PGPORT=str(parsed.port or 5432),
        PGUSER=parsed.username or "",
        PGDATABASE=parsed.database or "",
        PGCONNECT_TIMEOUT="5",
    )
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return env


# Debian keeps the PostgreSQL client programs here, off the PATH.
PG_INSTALL = Path("/usr/lib/postgresql")


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        candidates = sorted(PG_INSTALL.glob(f"*/bin/{name}"))
        if not candidates:
            raise UserError(
                _("%(name)s is not installed; install the postgresql-client package.", name=name)
            )
        found = str(candidates[-1])
    return found


def run_pg_tool(
    name: str, *args: str, target: URL | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL client program (no shell), its output captured as text.

    With ``target`` it connects to that database: server, login and password reach it
    through its environment, never its command line.
    """
    return subprocess.run(
        [_pg_tool(name), *args],
        env=_pg_env(target) if target is not None else None,
        capture_output=True,
        text=True,
        check=False,
    )


def dump_postgresql(database: URL, target: Path, *options: str) -> str:
    """Write a ``pg_dump -Fc`` of a database (this account's only); return its table of contents.

    The dump is written under a temporary name and read back by ``pg_restore --list``
    before it gets its final name, so a file that looks finished always is.
    """
    partial = target.with_name(target.name + ".part")
    try:
        _new_private_file(partial)  # pg_dump writes into it, keeping its mode
        done = run_pg_tool("pg_dump", "-Fc", *options, "-f", str(partial), target=database)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [_("no message")])[-1]
            raise DatabaseError(_("pg_dump failed: %(detail)s", detail=last))
        listing = run_pg_tool("pg_restore", "--list", str(partial))
        if listing.returncode != 0 or "TABLE DATA public patient" not in listing.stdout:
            raise DatabaseError(_("The dump could not be read back by pg_restore --list."))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return listing.stdout


def _backup_postgresql(engine: Engine, target: Path) -> BackupResult:
    listing = dump_postgresql(engine.url, target)
    entries = sum(1 for line in listing.splitlines() if line and not line.startswith(";"))
    return BackupResult(target, target.stat().st_size, f"pg_restore --list: {entries} entries")


def mssql_backup_statements(database: str, path: str) -> list[str]:
    """Return SQL Server's verified copy-only backup statements."""
    quoted = path.replace("'", "''")
    name = mssql_name(database)
    return [
        f"BACKUP DATABASE {name} TO DISK = N'{quoted}' WITH COPY_ONLY, CHECKSUM, INIT",
        f"RESTORE VERIFYONLY FROM DISK = N'{quoted}' WITH CHECKSUM",
    ]


def default_backup_folder() -> Path:
    """Return this computer's own backup folder, created when missing."""

    return private.make_folder(private.data_dir() / "backups")


def mssql_backup_note() -> str:
    """Return what to do with the statements of ``mssql_backup_plan``."""
    return _(
        "SQL Server writes its backups itself, on the server's own disk: run these "
        "statements on the server (SQL Server Management Studio or sqlcmd). The second "
        "one verifies the copy."
    )


def mssql_backup_plan(target: URL | str, server_folder: str) -> list[str]:
    """Return the statements that back up a SQL Server database into a folder on the server."""
    name = database_name(target)
    folder = server_folder.strip().rstrip("\\/")
    if not folder:
        raise UserError(_("Type the folder on the SQL Server machine for the backup file."))
    return mssql_backup_statements(name, f"{folder}\\{name}-{_stamp()}.bak")


def unused_path(path: Path) -> Path:
    """Return the path, or the same name with -2, -3... when taken (a backup never replaces one)."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def backup_job(engine: Engine, folder: Path, actor: Actor) -> Job[BackupResult]:
    """Back the database up and verify the copy, as a long job; the system log records it."""
    check_backup_folder(engine, folder)  # a wrong folder is refused before anything is said
    yield LogLine(_("Backing the database up into %(folder)s…", folder=folder))
    result = backup(engine, folder)
    yield LogLine(
        _(
            "Backup written to %(path)s; verified: %(verified)s.",
            path=result.path,
            verified=result.verified,
        )
    )
    with session_scope(engine) as session:
        system_event(session, actor, "db.backup", f"{result.path} ({result.verified})")
    return result
