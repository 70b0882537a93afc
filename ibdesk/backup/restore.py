"""Restore a backup into an empty database and an empty folder.

Live data is never overwritten by accident: a database with tables or a folder with files is
refused unless ``replace`` is given, and then what is replaced is backed up first (tagged
``before-restore``). The images are restored beside the target folder and moved in by one
rename, so the folder is never half old, half new; the database is checked against the
manifest before the restore counts as done. Until it does, the replaced database (the SQLite
file, the PostgreSQL schema) and folder are kept aside: a check that fails, an error or a
cancel puts them back as they were.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from ibdesk import audit, clinic_settings, config, display, folders, private
from ibdesk.backup import store
from ibdesk.backup.drill import (
    checked_dump,
    compare_database,
    compare_images,
    inside,
    sample_media,
    snapshot_paths,
    work_folder,
)
from ibdesk.backup.restic import Restic, ResticError
from ibdesk.backup.run import ID_TAG, Snapshot, find_snapshot, run_backup
from ibdesk.backup.staging import STAGING_NAME, Manifest, bring_back_keys, staging_path
from ibdesk.db import make_engine, session_scope
from ibdesk.errors import Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.logs import auditchain
from ibdesk.progress import Job, LogLine, Progress
from ibdesk.settings.dbadmin import pg_restore


@dataclass(frozen=True)
class RestoreSummary:
    """A finished restore."""

    backup_id: str
    snapshot: str
    database: str
    folder: str
    rows: int
    safety_backup: str

    def __str__(self) -> str:
        return _(
            "Backup %(id)s restored: %(rows)s rows into the database and the images into "
            "%(folder)s.",
            id=self.backup_id,
            rows=display.number(self.rows),
            folder=self.folder,
        )


def database_is_empty(engine: Engine) -> bool:
    """Return whether a database has no tables at all."""
    return not inspect(engine).get_table_names()


def folder_is_empty(folder: Path) -> bool:
    """Return whether a folder is missing or holds nothing."""
    return not folder.exists() or not any(folder.iterdir())


def restore(
    wanted: str,
    to_database: str,
    to_folder: Path,
    *,
    replace: bool = False,
    restic: Restic | None = None,
    actor: audit.Actor | None = None,
) -> Job[RestoreSummary]:
    """Restore one backup into a database URL and a folder (a job), recorded as ``actor``."""
    restic = restic or store.engine_or_refuse()
    folder = folders.expand(to_folder)
    if not folder.is_absolute():
        raise UserError(_("Give the folder to restore the images into as a full path."))
    folder = folder.resolve()
    url = make_url(to_database)
    new_file = url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists()
    target = make_engine(to_database, create=True)
    try:
        empty_db, empty_folder = database_is_empty(target), folder_is_empty(folder)
        _refuse_live_data(replace, empty_db, empty_folder, folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        # The whole snapshot lands beside the target folder (same disk, so the images go in
        # by one rename) in one restic run: one key derivation and one pass over the packs.
        work = work_folder("restore")
        try:
            landing = Path(tempfile.mkdtemp(prefix=".ibdesk-restore-", dir=folder.parent))
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
            raise
        try:
            snapshot, safety = yield from _restore_snapshot(
                restic, wanted, landing, target, folder, (empty_db, empty_folder)
            )
            staging, images = snapshot_paths(snapshot)
            yield Progress(1, 4, _("backup restored"))
            yield LogLine(_("Restoring the database of backup %(id)s…", id=snapshot.backup_id))
            dump, manifest = yield from _private_dump(landing, staging, work)
            # Until the end of this block, what was replaced is kept: any failure (a check,
            # an error, a cancel) puts the old database and folder back as they were.
            with _swapped_database(target, to_database, dump, manifest.backend) as target:
                _check_restored(target, manifest, landing, images)
                yield Progress(2, 4, _("database restored"))
                yield LogLine(_("Restoring the images into %(folder)s…", folder=str(folder)))
                with _swapped_folder(inside(landing, images), folder, landing):
                    yield Progress(3, 4, _("images restored"))
                    _record_restore(target, folder, snapshot, actor)
            if _is_this_computers_database(to_database):
                seq = int(manifest.chain.get("seq") or 0)
                chain = str(manifest.chain.get("hash") or "")
                auditchain.adopt_head(auditchain.Head(seq, chain) if seq else None)
            yield Progress(4, 4, _("images compared"))
        finally:
            shutil.rmtree(landing, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
        summary = RestoreSummary(
            snapshot.backup_id,
            snapshot.snapshot,
            make_url(to_database).render_as_string(hide_password=True),
            str(folder),
            sum(manifest.rows.values()),
            safety,
        )
        yield LogLine(str(summary))
        return summary
    except BaseException:
        if new_file:  # a file this restore made is not left behind when it fails
            target.dispose()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{url.database}{suffix}").unlink(missing_ok=True)
        raise
    finally:
        target.dispose()


def _is_this_computers_database(url: str) -> bool:
    """Return whether a URL names the clinic database this computer's configuration uses."""
    configured = make_url(config.resolve_database().url)
    target = make_url(url)
    if target.get_backend_name() != configured.get_backend_name():
        return False
    if target.get_backend_name() == "sqlite":
        return Path(str(target.database)).resolve() == Path(str(configured.database)).resolve()
    return (target.host, target.port or 5432, target.database) == (
        configured.host,
        configured.port or 5432,
        configured.database,
    )


def _refuse_live_data(replace: bool, empty_db: bool, empty_folder: bool, folder: Path) -> None:
    """Refuse a target that holds data, unless ``replace`` was given."""
    if not replace and not empty_db:
        raise Refused(
            _(
                "The target database already holds data; restore into an empty "
                "database, or add --replace to back it up first and replace it."
            )
        )
    if not replace and not empty_folder:
        raise Refused(
            _(
                "The folder %(folder)s is not empty; restore into an empty folder, or add "
                "--replace to back it up first and replace it.",
                folder=str(folder),
            )
        )


def _restore_snapshot(
    restic: Restic,
    wanted: str,
    landing: Path,
    target: Engine,
    folder: Path,
    empty: tuple[bool, bool],
) -> Job[tuple[Snapshot, str]]:
    """Restore the wanted snapshot into ``landing``, first backing up what it replaces.

    ``empty`` says whether the target database and folder are empty. Return the snapshot and
    the id of the safety backup ("" when nothing is replaced).
    """
    empty_db, empty_folder = empty
    safety = ""
    if empty_db and empty_folder and selector(wanted):
        snapshot = yield from _restore_by_id(restic, wanted, landing)
    else:
        snapshot = find_snapshot(restic, wanted)
        if not (empty_db and empty_folder):
            yield LogLine(_("Backing up what the restore replaces…"))
            safety = yield from _safety_backup(target, folder, restic, empty_db, empty_folder)
        yield LogLine(_("Restoring backup %(id)s…", id=snapshot.backup_id))
        restic.run(["restore", snapshot.snapshot, "--target", str(landing)])
    return snapshot, safety


def _private_dump(landing: Path, staging: str, work: Path) -> Job[tuple[Path, Manifest]]:
    """Move the restored staging folder into ``work``; return its checked dump and manifest."""
    # The dump leaves the folder beside the images (on a share's disk, perhaps) for
    # this computer's private data folder before it is read.
    restored = inside(landing, staging)
    if not restored.is_dir():
        raise UserError(_("This backup has no readable manifest; it was not made by ibdesk."))
    private_copy = work / STAGING_NAME
    shutil.move(restored, private_copy)
    dump, manifest = checked_dump(private_copy)
    for name in bring_back_keys(dump.parent):
        yield LogLine(_("Restored %(file)s into the configuration folder.", file=name))
    return dump, manifest


def _check_restored(target: Engine, manifest: Manifest, landing: Path, images: str) -> None:
    """Compare the restored database and a sample of the landed images; raise at a problem."""
    sample = sample_media(target, 50)
    with ThreadPoolExecutor(1) as pool:
        # The sample of images is hashed where restic put them (the very files the
        # rename below moves in) while the database is compared: file reads and
        # SHA-256 run outside the GIL. A wrong image stops the restore before the
        # folder is touched.
        checked = pool.submit(compare_images, inside(landing, images), sample)
        problems = compare_database(target, manifest) + checked.result()
    if problems:
        raise UserError(problems[0])


def _record_restore(
    target: Engine, folder: Path, snapshot: Snapshot, actor: audit.Actor | None
) -> None:
    """Point the restored clinic at its image folder and audit the restore."""
    with session_scope(target) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder), by="ibdesk")
        audit.system_event(
            session,
            actor or audit.local_admin(),
            "backup.restore",
            _(
                "Backup %(id)s restored into %(folder)s.",
                id=snapshot.backup_id,
                folder=str(folder),
            ),
        )


def _safety_backup(
    target: Engine, folder: Path, restic: Restic, empty_db: bool, empty_folder: bool
) -> Job[str]:
    if not empty_db:
        # The whole replaced clinic, as one ordinary backup of its own.
        spare = folder if not empty_folder else private.make_folder(private.data_dir() / "empty")
        summary = yield from run_backup(
            target, restic=restic, image_folder=spare, extra_tag="before-restore", retention=False
        )
        return summary.backup_id
    restic.run(["backup", "--tag", "ibdesk-before-restore", str(folder)])
    return "before-restore"


@contextmanager
def _swapped_database(target: Engine, url: str, dump: Path, backend: str) -> Iterator[Engine]:
    """Load the dump in place of the target's contents; yield the engine on it.

    The old contents are kept aside (the SQLite file renamed, the PostgreSQL schema renamed)
    and put back if the block fails, or dropped once it succeeded.
    """
    if target.dialect.name != backend:
        raise UserError(
            _(
                "This backup is of a %(backup)s database; restore it into %(backup)s.",
                backup=backend,
            )
        )
    if backend == "sqlite":
        with _swapped_sqlite(target, url, dump) as restored:
            yield restored
        return
    with _swapped_schema(target, dump) as restored:
        yield restored


@contextmanager
def _swapped_sqlite(target: Engine, url: str, dump: Path) -> Iterator[Engine]:
    path = Path(str(target.url.database))
    target.dispose()  # the last connection closed: SQLite folds its -wal into the file
    partial, kept = (path.with_name(path.name + suffix) for suffix in (".restoring", ".replaced"))
    shutil.copyfile(dump, partial)
    private.restrict(partial)
    for suffix in ("-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    had_file = path.exists()
    if had_file:
        os.replace(path, kept)
    os.replace(partial, path)
    restored = make_engine(url)
    try:
        yield restored
    except BaseException:
        restored.dispose()
        if had_file:
            os.replace(kept, path)
        else:
            path.unlink(missing_ok=True)
        raise
    kept.unlink(missing_ok=True)


@contextmanager
def _swapped_schema(target: Engine, dump: Path) -> Iterator[Engine]:
    kept = f"ibdesk_replaced_{secrets.token_hex(4)}"
    with target.begin() as conn:
        has_public = conn.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'")
        ).first()
        if has_public:
            conn.execute(text(f"ALTER SCHEMA public RENAME TO {kept}"))
        conn.execute(text("CREATE SCHEMA public"))
    target.dispose()  # no pooled connection keeps a plan of the old tables
    try:
        pg_restore(dump, target.url)
        yield target
    except BaseException:
        target.dispose()
        with target.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            if has_public:
                conn.execute(text(f"ALTER SCHEMA {kept} RENAME TO public"))
        target.dispose()
        raise
    if has_public:
        with target.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {kept} CASCADE"))


BACKUP_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")
SNAPSHOT_ID = re.compile(r"[0-9a-f]{8,64}")


def selector(wanted: str | None) -> list[str] | None:
    """Return restic's arguments that pick this backup (by its id tag or snapshot id)."""
    value = (wanted or "").strip()
    if BACKUP_ID.fullmatch(value):
        return ["latest", "--tag", ID_TAG + value]
    if SNAPSHOT_ID.fullmatch(value):
        return [value]
    return None


RESTORING = re.compile(r"<Snapshot ([0-9a-f]{8}) of ")


def _restore_by_id(restic: Restic, wanted: str, landing: Path) -> Job[Snapshot]:
    # Straight to the restore, without listing the snapshots first: every restic run opens
    # the repository with a deliberately slow key derivation, which on a small clinic is a
    # third of the restore. Where the snapshot keeps its two folders is then read from the
    # restored manifest when the backup was made on this computer, else from the listing.
    chosen = selector(wanted)
    assert chosen is not None
    yield LogLine(_("Restoring backup %(id)s…", id=wanted))
    try:
        said = restic.run(["restore", *chosen, "--target", str(landing)])
    except ResticError:
        find_snapshot(restic, wanted)  # "there is no backup …" when that is why
        raise
    found = RESTORING.search(said)
    staging = staging_path()
    try:
        manifest = Manifest.read(inside(landing, staging.as_posix()))
    except UserError:
        manifest = None
    if (
        found is not None
        and manifest is not None
        and (manifest.backup_id == wanted or wanted[:8] == found.group(1))
        and manifest.image_folder
        and inside(landing, Path(manifest.image_folder).as_posix()).is_dir()
    ):
        return Snapshot(
            snapshot=found.group(1),
            backup_id=manifest.backup_id,
            time=manifest.created[:19].replace("T", " "),
            tags=(),
            paths=(staging.as_posix(), Path(manifest.image_folder).as_posix()),
        )
    return find_snapshot(restic, wanted)


@contextmanager
def _swapped_folder(restored: Path, folder: Path, landing: Path) -> Iterator[None]:
    """Move the restored images in by one rename (the folder is never half old, half new);
    the old folder is kept beside it and put back if the block fails."""
    if not restored.is_dir():
        restored.mkdir(parents=True)
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.replaced")
        if old.exists():
            shutil.rmtree(old)
        os.replace(folder, old)
    os.replace(restored, folder)
    try:
        yield
    except BaseException:
        os.replace(folder, landing / ".ibdesk-not-restored")  # removed with the landing
        if old is not None:
            os.replace(old, folder)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
