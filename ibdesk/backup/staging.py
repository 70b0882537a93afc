"""One point in time: the database dumped into a staging folder, with its manifest.

The dump is consistent while workstations keep working (SQLite's online backup API,
``pg_dump -Fc``), verified by ``ibdesk.settings.backup`` and given a fixed name so restic
sees the same paths every night (and so picks the last snapshot as the parent and does not
re-read unchanged images). The manifest records what a restore must give back: the row
count of every table, the audit chain's newest sequence number and hash, the dump's SHA-256,
and the program and schema versions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    column,
    create_engine,
    func,
    inspect,
    literal,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.pool import NullPool

import ibdesk
from ibdesk import config, private
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.logs import auditchain
from ibdesk.models import Base
from ibdesk.schema import VERSION_TABLE
from ibdesk.settings import backup as dbbackup
from ibdesk.settings.connection import database_name

STAGING_NAME = "ibdesk-database"  # the folder's name inside every snapshot
MANIFEST = "manifest.json"
DUMP_NAMES = {"sqlite": "imagebank.sqlite3", "postgresql": "imagebank.dump"}


def sha256_of(path: Path) -> str:
    """Return a file's SHA-256."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def staging_path() -> Path:
    """Return where this computer stages the database for a backup (nothing is made)."""
    return private.data_dir() / "backup-staging" / STAGING_NAME


def staging_folder() -> Path:
    """Return the staging folder (always the same path), emptied and private."""
    folder = staging_path()
    if folder.exists():
        shutil.rmtree(folder)
    return private.make_folder(folder)


def mssql_statements(database: str, path: str) -> list[str]:
    """Return SQL Server's backup: copy-only (the clinic's own chain is untouched), checked."""
    return dbbackup.mssql_backup_statements(database, path)


@dataclass(frozen=True)
class Dumped:
    """The dump and what it holds, counted in the same snapshot of the database."""

    path: Path
    rows: dict[str, int]
    chain: dict[str, Any]
    revision: str = ""


def dump(engine: Engine, folder: Path) -> Dumped:
    """Dump the database into the folder under its fixed name, with its row counts."""
    backend = engine.dialect.name
    if backend not in DUMP_NAMES:
        name = database_name(engine.url)
        raise UserError(
            _(
                "SQL Server writes its backups itself; run this on the server, then back up "
                "the file: %(statement)s",
                statement=mssql_statements(name, f"{name}.bak")[0],
            )
        )
    target = folder / DUMP_NAMES[backend]
    if backend == "sqlite":
        made = dbbackup.backup(engine, folder)
        os.replace(made.path, target)
        private.restrict(target)
        # Counted in the dump itself, opened read-only and without the program's pragmas
        # (which would turn the copy to WAL, a write, after its integrity check).
        copy = create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True),
            poolclass=NullPool,
        )
        try:
            with copy.connect() as conn:
                rows, chain, revision = row_counts(conn), chain_head(conn), _revision(conn)
        finally:
            copy.dispose()
        return Dumped(target, rows, chain, revision)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # pg_dump reads the very snapshot the counts are taken in.
            snapshot = str(conn.scalar(text("SELECT pg_export_snapshot()")))
            rows, chain, revision = row_counts(conn), chain_head(conn), _revision(conn)
            dbbackup.dump_postgresql(engine.url, target, f"--snapshot={snapshot}")
    _globals(engine, folder)
    return Dumped(target, rows, chain, revision)


def _revision(conn: Connection) -> str:
    # Read from the dumped database itself (cheaper than loading Alembic's scripts).
    if VERSION_TABLE not in inspect(conn).get_table_names():
        return ""
    return str(conn.scalar(select(column("version_num")).select_from(table(VERSION_TABLE))) or "")


KEYS_FOLDER = "config"


def keep_keys(folder: Path) -> list[str]:
    """Copy the audit chain's key and head into the staging folder (the repository is
    encrypted): a server rebuilt from the backup can still check the audit log."""
    kept = []
    target = private.make_folder(folder / KEYS_FOLDER)
    for name in (auditchain.KEY_FILE, auditchain.HEAD_FILE):
        source = config.config_dir() / name
        if source.is_file():
            shutil.copyfile(source, target / name)
            private.restrict(target / name)
            kept.append(name)
    return kept


def bring_back_keys(folder: Path) -> list[str]:
    """Put a restored backup's audit key and head into the configuration folder when absent."""
    restored: list[str] = []
    source = folder / KEYS_FOLDER
    if not source.is_dir():
        return restored
    home = config.config_dir()
    home.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        target = home / path.name
        if path.is_file() and not target.exists():
            shutil.copyfile(path, target)
            private.restrict(target)
            restored.append(path.name)
    return restored


def _globals(engine: Engine, folder: Path) -> None:
    # Roles, for a server rebuilt from nothing; an ordinary login may not read them all,
    # and the database dump restores without them, so a refusal is not a failure.
    target = folder / "globals.sql"
    done = dbbackup.run_pg_tool(
        "pg_dumpall", "--globals-only", "--no-role-passwords", target=engine.url
    )
    if done.returncode == 0:
        target.write_text(done.stdout, encoding="utf-8")
        private.restrict(target)


def row_counts(conn: Connection) -> dict[str, int]:
    """Return the number of rows of every table of the program's schema that exists."""
    present = set(inspect(conn).get_table_names())
    names = [name for name in sorted(Base.metadata.tables) if name in present]
    if not names:
        return {}
    # One statement for every table (a backup and a restore both count them all).
    counts = union_all(
        *(
            select(literal(name).label("name"), func.count().label("rows")).select_from(table(name))
            for name in names
        )
    )
    return {str(name): int(rows or 0) for name, rows in conn.execute(counts)}


def chain_head(conn: Connection) -> dict[str, Any]:
    """Return the audit chain's newest sealed sequence number and hash."""
    last = auditchain.last_sealed(conn)
    if last is None:
        return {"seq": 0, "hash": ""}
    return {"seq": last[0], "hash": last[1]}


@dataclass(frozen=True)
class Manifest:
    """What one backup holds and what its restore must give back."""

    backup_id: str
    created: str
    backend: str
    dump: str
    dump_sha256: str
    dump_bytes: int
    rows: dict[str, int]
    chain: dict[str, Any]
    program: str
    schema: str
    image_folder: str
    image_name: str

    def write(self, folder: Path) -> Path:
        """Write the manifest beside the dump."""
        path = folder / MANIFEST
        path.write_text(json.dumps(self.__dict__, indent=2, sort_keys=True), encoding="utf-8")
        private.restrict(path)
        return path

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """Read a manifest restored from a snapshot."""
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as error:
            raise UserError(
                _("This backup has no readable manifest; it was not made by ibdesk.")
            ) from error


def make_manifest(engine: Engine, backup_id: str, dumped: Dumped, image_folder: Path) -> Manifest:
    """Describe the database as it was dumped."""
    return Manifest(
        backup_id=backup_id,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        backend=engine.dialect.name,
        dump=dumped.path.name,
        dump_sha256=sha256_of(dumped.path),
        dump_bytes=dumped.path.stat().st_size,
        rows=dumped.rows,
        chain=dumped.chain,
        program=ibdesk.__version__,
        schema=dumped.revision,
        image_folder=str(image_folder),
        image_name=image_folder.name,
    )
