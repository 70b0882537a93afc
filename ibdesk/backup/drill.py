"""Verify a backup: ``restic check``, then a restore drill into a scratch database.

The drill restores the dump of one backup, loads it into a scratch database (a SQLite file,
or a scratch PostgreSQL database on the clinic's server), compares its row counts with the
manifest, checks the audit chain against the head the backup recorded, and compares the
SHA-256 of a sample of images restored from the same snapshot with their rows. The time it
took is how long the database part of a real restore takes.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from ibdesk import audit, display, private, safefiles
from ibdesk.backup import store
from ibdesk.backup.restic import (
    MissingRepository,
    RepositoryLocked,
    Restic,
    ResticError,
    WrongPassword,
)
from ibdesk.backup.run import Snapshot, find_snapshot
from ibdesk.backup.staging import STAGING_NAME, Manifest, row_counts, sha256_of
from ibdesk.db import make_engine, session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.logs import auditchain
from ibdesk.models import MediaItem
from ibdesk.progress import Job, LogLine, Progress, run_to_end
from ibdesk.settings.dbadmin import new_postgresql_database, pg_restore

SAMPLE = 20


@dataclass
class DrillReport:
    """The outcome of a verify: the repository check and the restore drill."""

    backup_id: str
    snapshot: str
    checked_data: str
    rows: int = 0
    images_checked: int = 0
    chain_events: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether nothing was wrong."""
        return not self.problems

    def __str__(self) -> str:
        if not self.ok:
            return self.problems[0]
        return _(
            "Backup %(id)s verified: %(rows)s rows and %(images)s sample images match; the "
            "restore drill took %(seconds)s s.",
            id=self.backup_id,
            rows=display.number(self.rows),
            images=display.number(self.images_checked),
            seconds=display.number(self.seconds, decimals=1),
        )


def work_folder(name: str) -> Path:
    """Return a new private working folder under the data folder."""
    parent = private.make_folder(private.data_dir() / "backup-work")
    return Path(tempfile.mkdtemp(prefix=name + "-", dir=parent))


def snapshot_paths(snapshot: Snapshot) -> tuple[str, str]:
    """Return the staging folder's and the image folder's paths as the snapshot holds them."""
    staging = next((p for p in snapshot.paths if p.rstrip("/").endswith("/" + STAGING_NAME)), None)
    images = next((p for p in snapshot.paths if p != staging), None)
    if staging is None or images is None:
        raise UserError(
            _("Backup %(id)s was not made by ibdesk: it has no database.", id=snapshot.snapshot)
        )
    return staging, images


def inside(target: Path, snapshot_path: str) -> Path:
    """Return where restic restores a snapshot path under a target folder."""
    return target.joinpath(*[part for part in snapshot_path.split("/") if part])


def fetch_database(restic: Restic, snapshot: Snapshot, into: Path) -> tuple[Path, Manifest]:
    """Restore a snapshot's dump and manifest into a folder and check the dump's SHA-256."""
    staging, _images = snapshot_paths(snapshot)
    restic.run(["restore", snapshot.snapshot, "--target", str(into), "--include", staging])
    return checked_dump(inside(into, staging))


def checked_dump(folder: Path) -> tuple[Path, Manifest]:
    """Read a restored staging folder's manifest and check its dump's SHA-256."""
    manifest = Manifest.read(folder)
    dump = folder / manifest.dump
    if not dump.is_file() or sha256_of(dump) != manifest.dump_sha256:
        raise UserError(
            _(
                "The database dump of backup %(id)s does not match its manifest.",
                id=manifest.backup_id,
            )
        )
    return dump, manifest


def fetch_images(restic: Restic, snapshot: Snapshot, paths: list[str], into: Path) -> Path:
    """Restore some images (relative paths) of a snapshot into a folder; return their root."""
    _staging, images = snapshot_paths(snapshot)
    if paths:
        args = ["restore", snapshot.snapshot, "--target", str(into)]
        for relative in paths:
            args += ["--include", f"{images.rstrip('/')}/{relative}"]
        restic.run(args)
    return inside(into, images)


@contextmanager
def scratch_database(dump: Path, manifest: Manifest, server: URL | None) -> Iterator[Engine]:
    """Load a dump into a scratch database and drop it afterwards."""
    if manifest.backend == "sqlite":
        engine = make_engine(f"sqlite:///{dump}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    if server is None or server.get_backend_name() != "postgresql":
        raise UserError(_("The restore drill of a PostgreSQL backup needs the PostgreSQL server."))
    name = f"ibdesk_drill_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with new_postgresql_database(admin, name, keep=False):
            pg_restore(dump, server.set(database=name))
            engine = make_engine(server.set(database=name))
            try:
                yield engine
            finally:
                engine.dispose()
    finally:
        admin.dispose()


def compare_database(engine: Engine, manifest: Manifest) -> list[str]:
    """Compare a restored database with its manifest: rows of every table, the audit chain."""
    problems = []
    with engine.connect() as conn:
        rows = row_counts(conn)
    for table, expected in sorted(manifest.rows.items()):
        if rows.get(table) != expected:
            problems.append(
                _(
                    "The restored table %(table)s has %(found)s rows; the backup recorded "
                    "%(expected)s.",
                    table=table,
                    found=rows.get(table, 0),
                    expected=expected,
                )
            )
    seq = int(manifest.chain.get("seq") or 0)
    head = auditchain.Head(
        seq, str(manifest.chain.get("hash") or "") if seq else auditchain.GENESIS
    )
    if seq:
        with Session(engine) as session:
            report, _lines = run_to_end(auditchain.verify_steps(session, expected_head=head))
        if not report.ok:
            problems.append(
                _("The restored audit log is broken: %(problem)s", problem=report.problem)
            )
    return problems


def sample_media(engine: Engine, count: int) -> list[tuple[str, int, str]]:
    """Return (path, size, SHA-256) of up to ``count`` media rows, drawn at random."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(MediaItem.path, MediaItem.byte_size, MediaItem.sha256)
            .order_by(func.random())
            .limit(count)
        ).all()
    return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]


def compare_images(root: Path, sample: list[tuple[str, int, str]]) -> list[str]:
    """Check restored images against their rows; return the problems."""
    problems = []
    for relative, size, digest in sample:
        try:
            safefiles.hash_verified(root, relative, size=size, sha256=digest)
        except safefiles.FileProblem as problem:
            problems.append(_("A restored image is wrong: %(problem)s.", problem=str(problem)))
    return problems


def verify(
    restic: Restic | None = None,
    wanted: str | None = None,
    *,
    server: str | URL | None = None,
    read_data: str = "10%",
    sample: int = SAMPLE,
    log_engine: Engine | None = None,
    patience_s: float = 15.0,
    actor: audit.Actor | None = None,
) -> Job[DrillReport]:
    """Check the repository, then drill a restore of one backup (the newest by default).

    The outcome goes to the system log of ``log_engine`` under ``actor`` (by default the
    operating-system account running the program, as for ``ibdesk backup verify``).
    """
    restic = restic or store.engine_or_refuse()
    who = actor or audit.local_admin()
    yield LogLine(
        _("Checking the backup repository (reading %(part)s of its data)…", part=read_data)
    )
    restic.run(["unlock"])
    check_args = (
        ["check", "--read-data"]
        if read_data == "100%"
        else ["check", f"--read-data-subset={read_data}"]
    )
    try:
        _check(restic, check_args, patience_s)
    except (RepositoryLocked, WrongPassword, MissingRepository) as error:
        _log(log_engine, who, "backup.verify.failed", str(error))
        raise
    except ResticError as error:
        problem = _(
            "The backup repository is damaged: restic check found errors (%(detail)s).",
            detail=str(error),
        )
        _log(log_engine, who, "backup.verify.failed", problem)
        raise UserError(problem) from error
    yield Progress(1, 4, _("repository checked"))
    snapshot = find_snapshot(restic, wanted)
    report = DrillReport(snapshot.backup_id, snapshot.snapshot, read_data)
    started = time.monotonic()
    work = work_folder("drill")
    try:
        yield LogLine(_("Restoring backup %(id)s into a scratch database…", id=snapshot.backup_id))
        dump, manifest = fetch_database(restic, snapshot, work)
        with scratch_database(
            dump, manifest, make_url(server) if isinstance(server, str) else server
        ) as scratch:
            yield Progress(2, 4, _("database restored"))
            report.problems += compare_database(scratch, manifest)
            report.rows = sum(manifest.rows.values())
            report.chain_events = int(manifest.chain.get("seq") or 0)
            chosen = sample_media(scratch, sample)
        yield Progress(3, 4, _("database compared"))
        root = fetch_images(restic, snapshot, [c[0] for c in chosen], work / "images")
        report.problems += compare_images(root, chosen)
        report.images_checked = len(chosen)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.seconds = round(time.monotonic() - started, 2)
    yield Progress(4, 4, _("images compared"))
    for problem in report.problems:
        yield LogLine(problem, "error")
    _log(log_engine, who, "backup.verify" if report.ok else "backup.verify.failed", str(report))
    if not report.ok:
        raise UserError(str(report))
    store.record(
        "verify",
        store.LastRun(
            report.backup_id,
            report.snapshot,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            seconds=report.seconds,
            files=report.images_checked,
            detail=str(report),
        ),
    )
    yield LogLine(str(report))
    return report


def _check(restic: Restic, args: list[str], patience_s: float) -> None:
    # A check needs the repository alone; a listing on the page holds a shared lock for a
    # moment, so wait a little before calling the repository busy.
    deadline = time.monotonic() + patience_s
    while True:
        try:
            restic.run(args)
            return
        except RepositoryLocked:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def _log(engine: Engine | None, actor: audit.Actor, action: str, detail: str) -> None:
    if engine is None:
        return
    try:
        with session_scope(engine) as session:
            level = "error" if action.endswith("failed") else "info"
            audit.system_event(session, actor, action, detail, level=level)
    except Exception:  # the log must not hide the verify's own outcome
        pass
