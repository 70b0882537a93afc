"""Making a backup: the database dump, its manifest and the image folder in one snapshot.

A backup is a long job (a generator of progress and log lines). Only when restic reports
the finished snapshot is the backup remembered as good; a run that is cancelled, killed or
fails leaves the previous good backup as the last one, and restic has written no snapshot.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from ibdesk import audit, clinic_settings, display, filelock, folders, private
from ibdesk.backup import store
from ibdesk.backup.restic import Restic, ResticError, explain
from ibdesk.backup.staging import (
    STAGING_NAME,
    dump,
    keep_keys,
    make_manifest,
    staging_folder,
    staging_path,
)
from ibdesk.db import session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.logs import auditchain
from ibdesk.progress import Job, LogLine, Progress

TAG = "ibdesk"
ID_TAG = "ibdesk-"
# 14 daily, 8 weekly, 24 monthly; also the two newest (a second run on one day must not
# forget the night's backup before it is verified) and every safety copy taken by a restore.
KEEP = (
    "--keep-daily",
    "14",
    "--keep-weekly",
    "8",
    "--keep-monthly",
    "24",
    "--keep-last",
    "2",
    "--keep-tag",
    "before-restore",
)
PRUNE_EVERY = dt.timedelta(days=7)
STEPS = 1000  # progress units of the snapshot part


@dataclass(frozen=True)
class BackupSummary:
    """A finished, good backup."""

    backup_id: str
    snapshot: str
    files: int
    bytes: int
    added: int
    seconds: float
    unmodified: int = 0
    copy_seconds: float = 0.0  # restic's own time for the snapshot (its summary)

    def __str__(self) -> str:
        return _(
            "Backup %(id)s is complete: snapshot %(snapshot)s, %(files)s files.",
            id=self.backup_id,
            snapshot=self.snapshot,
            files=display.number(self.files),
        )


def new_backup_id() -> str:
    """Return a new backup's id: its UTC time and a random suffix."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def image_folder_of(engine: Engine) -> Path:
    """Return the clinic's image folder from the database, or say why there is none."""
    with session_scope(engine, read_only=True) as session:
        value = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    if not value:
        raise UserError(_("The image folder is not set; set it in General settings first."))
    return Path(value)


def check_image_folder(folder: Path) -> Path:
    """Refuse an image folder that vanished (an unplugged disk, a renamed share)."""
    if not folder.is_dir():
        raise UserError(
            _(
                "The image folder %(folder)s has vanished (is its disk connected?); nothing "
                "was backed up and nothing was changed.",
                folder=str(folder),
            )
        )
    if folder.name == STAGING_NAME:
        raise UserError(_("The image folder may not be named %(name)s.", name=STAGING_NAME))
    return folder.resolve()


def refuse_inside(repository: str, image_folder: Path) -> None:
    """Refuse a repository inside the image folder (it would back itself up)."""
    if not store.is_local(repository):
        return
    target = folders.resolve(repository)
    folder = folders.resolve(image_folder)
    if target.is_relative_to(folder):
        raise UserError(
            _(
                "The backup target %(target)s lies inside the image folder %(folder)s; "
                "choose a place outside it, best on another disk.",
                target=str(target),
                folder=str(folder),
            )
        )


def check_repository(restic: Restic) -> None:
    """Refuse a local repository whose folder holds no restic repository (no key derivation)."""
    if store.is_local(restic.repository) and not (Path(restic.repository) / "config").is_file():
        raise explain("Is there a repository at the following location?", restic.repository)


def run_backup(
    engine: Engine,
    *,
    restic: Restic | None = None,
    image_folder: Path | None = None,
    extra_tag: str = "",
    actor: audit.Actor | None = None,
    retention: bool = True,
) -> Job[BackupSummary]:
    """Back up the database and the image folder as one snapshot (a job)."""
    engine_ = restic or store.engine_or_refuse()
    who = actor or audit.local_admin()
    # One backup at a time on this computer: the window's and a scheduled one share the
    # staging folder, which each empties first.
    lock = private.make_folder(staging_path().parent) / ".lock"
    busy = _("Another backup is running on this computer; wait for it to finish, then try again.")
    try:
        with filelock.held(lock, busy):
            summary = yield from _backup(engine, engine_, image_folder, extra_tag)
    except UserError as error:
        _log(engine, who, "backup.failed", str(error), "error")
        raise
    _log(engine, who, "backup.run", str(summary))
    if retention:
        yield from apply_retention(engine_)
    return summary


def _log(engine: Engine, actor: audit.Actor, action: str, detail: str, level: str = "info") -> None:
    try:
        with session_scope(engine) as session:
            audit.system_event(session, actor, action, detail, level=level)
    except Exception:  # the log must not hide the backup's own outcome
        pass


def _backup(
    engine: Engine, restic: Restic, image_folder: Path | None, extra_tag: str
) -> Job[BackupSummary]:
    started = time.monotonic()
    folder = check_image_folder(image_folder or image_folder_of(engine))
    refuse_inside(restic.repository, folder)
    # A local repository that is not there (an unplugged disk) is refused before the dump.
    # Whether the password opens it is left to the backup itself: asking restic first would
    # cost a second, deliberately slow key derivation on every run (the probe this replaced
    # was a third of an unchanged backup's time), and a refusal then still changes nothing.
    check_repository(restic)
    backup_id = new_backup_id()
    yield LogLine(_("Backup %(id)s: sealing the audit log…", id=backup_id))
    auditchain.seal(engine)
    yield LogLine(_("Dumping the database…"))
    staging = staging_folder()
    dumped = dump(engine, staging)
    manifest = make_manifest(engine, backup_id, dumped, folder)
    manifest.write(staging)
    keep_keys(staging)
    yield LogLine(
        _(
            "Database dumped: %(rows)s rows in %(tables)s tables.",
            rows=display.number(sum(manifest.rows.values())),
            tables=display.number(len(manifest.rows)),
        )
    )
    # A backup takes a shared lock: locks left by a killed run do not stop it (verify,
    # which needs the repository alone, removes the stale ones first).
    yield LogLine(_("Copying the database and the image folder %(folder)s…", folder=str(folder)))
    tags = [TAG, ID_TAG + backup_id] + ([extra_tag] if extra_tag else [])
    args = ["backup", "--tag", ",".join(tags), str(staging), str(folder)]
    if os.name == "nt":
        args.insert(1, "--use-fs-snapshot")  # VSS: files the workstations hold open
    summary: dict[str, object] | None = None
    copying = _("copying files")  # once: restic reports progress several times a second
    for message in restic.stream(args):
        kind = message.get("message_type")
        if kind == "status":
            done = int(float(message.get("percent_done") or 0) * STEPS)
            yield Progress(done, STEPS, copying)
        elif kind == "summary":
            summary = message
        elif kind == "error":
            error = message.get("error") or {}
            text = error.get("message") if isinstance(error, dict) else str(error)
            yield LogLine(
                _("Not read: %(item)s (%(error)s)", item=message.get("item"), error=text), "warning"
            )
    if summary is None or not summary.get("snapshot_id"):
        raise ResticError(_("restic ended without making a snapshot; nothing was recorded."))
    result = BackupSummary(
        backup_id=backup_id,
        snapshot=str(summary["snapshot_id"]),
        files=_int(summary.get("total_files_processed")),
        bytes=_int(summary.get("total_bytes_processed")),
        added=_int(summary.get("data_added")),
        seconds=round(time.monotonic() - started, 2),
        unmodified=_int(summary.get("files_unmodified")),
        copy_seconds=_seconds(summary.get("total_duration")),
    )
    yield Progress(STEPS, STEPS, copying)
    store.record(
        "backup",
        store.LastRun(
            backup_id,
            result.snapshot,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            result.bytes,
            result.files,
            result.seconds,
        ),
    )
    yield LogLine(str(result))
    return result


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _seconds(value: object) -> float:
    return round(float(value), 2) if isinstance(value, int | float) else 0.0


def apply_retention(restic: Restic, now: dt.datetime | None = None) -> Job[None]:
    """Forget old snapshots (14 daily, 8 weekly, 24 monthly); prune once a week."""
    moment = now or dt.datetime.now(dt.UTC)
    previous = store.last("prune")
    prune = previous is None or moment - previous.when >= PRUNE_EVERY
    args = ["forget", "--tag", TAG, *KEEP] + (["--prune"] if prune else [])
    try:
        restic.run(args)
    except ResticError as error:
        yield LogLine(_("Old backups were not thinned out: %(error)s", error=str(error)), "warning")
        return
    if prune:
        store.record("prune", store.LastRun("", "", moment.isoformat(timespec="seconds")))
    yield LogLine(_("Old backups thinned out (14 daily, 8 weekly, 24 monthly kept)."))


@dataclass(frozen=True)
class Snapshot:
    """One finished backup in the repository."""

    snapshot: str
    backup_id: str
    time: str
    tags: tuple[str, ...]
    paths: tuple[str, ...]


def snapshots(restic: Restic) -> list[Snapshot]:
    """Return the repository's finished backups, newest first (restic lists only complete ones)."""
    found = restic.json(["snapshots", "--tag", TAG]) or []
    items = []
    for raw in found:
        tags = tuple(raw.get("tags") or ())
        backup_id = next((t[len(ID_TAG) :] for t in tags if t.startswith(ID_TAG)), "")
        items.append(
            Snapshot(
                snapshot=str(raw.get("short_id") or raw.get("id", ""))[:8],
                backup_id=backup_id,
                time=str(raw.get("time", ""))[:19].replace("T", " "),
                tags=tags,
                paths=tuple(raw.get("paths") or ()),
            )
        )
    items.sort(key=lambda s: s.time, reverse=True)
    return items


def find_snapshot(restic: Restic, wanted: str | None) -> Snapshot:
    """Return the backup with this id (backup id or snapshot id), or the newest."""
    items = snapshots(restic)
    if not items:
        raise UserError(_("The repository holds no finished backup yet."))
    if not wanted:
        return items[0]
    for item in items:
        if wanted in (item.backup_id, item.snapshot):
            return item
    raise UserError(_("There is no backup %(id)s in the repository.", id=wanted))
