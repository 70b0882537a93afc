"""Backups with real restic: one point in time, verify with a restore drill, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from backupclinic import contents, image_hashes, make_clinic, make_repository
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ibdesk import backup, config
from ibdesk.backup import drill, restore, run, store
from ibdesk.backup.staging import STAGING_NAME, Manifest
from ibdesk.db import make_engine
from ibdesk.errors import Refused, UserError
from ibdesk.models import SystemEvent
from ibdesk.progress import run_to_end


@pytest.fixture
def clinic(engine: Engine, tmp_path: Path, restic_template: Path) -> tuple[Engine, Path]:
    """A demo clinic with files and a configured repository."""
    folder = make_clinic(engine, tmp_path / "bilder")
    make_repository(restic_template, tmp_path / "repo")
    return engine, folder


def test_init_creates_repository_and_private_password(tmp_path: Path) -> None:
    result = backup.init(str(tmp_path / "disk" / "repo"))
    assert result.created and (tmp_path / "disk" / "repo" / "config").is_file()
    assert store.password_path().stat().st_mode & 0o777 == 0o600
    assert store.password_path().read_text().strip() == result.password
    assert config.load()["backup"]["repository"] == str(tmp_path / "disk" / "repo")
    # a second init connects to the same repository with the same password
    again = backup.init(str(tmp_path / "disk" / "repo"))
    assert not again.created and again.password == result.password


def test_init_refuses_relative_and_inside_image_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="full path"):
        backup.init("repo")
    folder = tmp_path / "bilder"
    folder.mkdir()
    with pytest.raises(UserError, match="inside the image folder"):
        backup.init(str(folder / "backups"), image_folder=folder)
    assert not (folder / "backups").exists() and "backup" not in config.load()


def test_an_overlong_repository_is_one_plain_sentence(tmp_path: Path) -> None:
    with pytest.raises(UserError) as refused:
        backup.init("/" + "x" * 1000)
    assert str(refused.value) == (
        "The repository location is too long: type at most 1000 characters."
    )


def test_round_trip_gives_equal_rows_and_images(
    clinic: tuple[Engine, Path], empty_db_url: str, db_url: str, tmp_path: Path
) -> None:
    engine, folder = clinic
    summary, _log = run_to_end(run.run_backup(engine))
    assert summary.snapshot and summary.files >= 12
    assert store.health().last_good is not None and not store.health().stale
    listed = run.snapshots(store.engine_or_refuse())
    assert [s.backup_id for s in listed] == [summary.backup_id]

    report, _ = run_to_end(drill.verify(server=db_url, read_data="100%"))
    assert report.ok and report.images_checked == 12 and report.rows > 0
    assert store.last("verify") is not None

    before_rows, before_media = contents(engine)
    before_files = image_hashes(folder)
    target_folder = tmp_path / "new-server" / "bilder"
    done, _ = run_to_end(restore.restore(summary.backup_id, empty_db_url, target_folder))
    restored = make_engine(empty_db_url)
    try:
        rows, media = contents(restored)
        # live: the backup's rows + its "backup.run" line; restored: + its "backup.restore" line
        assert rows == before_rows and media == before_media
        with Session(restored) as session:
            actions = list(session.scalars(select(SystemEvent.action)))
        assert "backup.restore" in actions
    finally:
        restored.dispose()
    assert image_hashes(target_folder) == before_files
    assert done.rows == sum(before_rows.values()) - 1


def test_a_restore_that_fails_its_checks_puts_the_replaced_clinic_back(
    clinic: tuple[Engine, Path], db_url: str
) -> None:
    from ibdesk import audit
    from ibdesk.db import session_scope

    engine, folder = clinic
    # The backup holds an image that no longer matches its row: its restore must fail.
    damaged = next(p for p in sorted(folder.rglob("*")) if p.is_file())
    damaged.write_bytes(b"not the image the row records")
    summary, _log = run_to_end(run.run_backup(engine))
    with session_scope(engine) as session:  # the live clinic goes on after the backup
        audit.system_event(session, audit.local_admin(), "clinic.after", "after the backup")
    (folder / "taken-after.txt").write_text("an image taken after the backup")
    live_rows, live_media = contents(engine)
    live_files = image_hashes(folder)
    engine.dispose()
    with pytest.raises(UserError, match="restored image"):
        run_to_end(restore.restore(summary.backup_id, db_url, folder, replace=True))
    rows, media = contents(engine)
    # Only the system log grew: the safety backup made before the load says so there.
    assert rows.pop("system_event") == live_rows.pop("system_event") + 1
    assert (rows, media) == (live_rows, live_media)
    with Session(engine) as session:
        actions = list(session.scalars(select(SystemEvent.action).order_by(SystemEvent.id)))
    assert actions[-2:] == ["clinic.after", "backup.run"]
    assert image_hashes(folder) == live_files
    leftovers = [
        p.name for p in folder.parent.iterdir() if "replaced" in p.name or "restoring" in p.name
    ]
    assert leftovers == []


def test_after_restoring_this_computer_s_clinic_its_audit_log_verifies(
    clinic: tuple[Engine, Path], db_url: str
) -> None:
    from factories import make_patient
    from ibdesk.logs import auditchain

    engine, folder = clinic
    config.set_database_url(db_url)  # the clinic this computer administers
    auditchain.seal(engine)
    summary, _log = run_to_end(run.run_backup(engine))
    with Session(engine, expire_on_commit=False) as session:
        make_patient(session)  # after the backup: sealed, so the head moves past it
    assert auditchain.seal(engine) >= 1
    engine.dispose()
    run_to_end(restore.restore(summary.backup_id, db_url, folder, replace=True))
    with Session(engine) as session:
        report = auditchain.verify(session)
    assert report.ok, report.problem


def test_manifest_records_the_point_in_time(clinic: tuple[Engine, Path], tmp_path: Path) -> None:
    engine, _folder = clinic
    summary, _ = run_to_end(run.run_backup(engine))
    restic = store.engine_or_refuse()
    snapshot = run.find_snapshot(restic, summary.backup_id)
    dump, manifest = drill.fetch_database(restic, snapshot, tmp_path / "out")
    assert manifest.backup_id == summary.backup_id
    assert manifest.rows["media_item"] == 12 and manifest.rows["patient"] == 3
    assert manifest.chain["seq"] > 0 and len(manifest.chain["hash"]) == 64
    assert manifest.backend == engine.dialect.name and manifest.program
    assert dump.parent.name == STAGING_NAME
    assert Manifest.read(dump.parent) == manifest
    assert (dump.parent / "config" / "audit-chain.key").is_file()
    if engine.dialect.name == "postgresql":  # the roles too, for a server rebuilt from nothing
        assert "CREATE ROLE" in (dump.parent / "globals.sql").read_text()


@pytest.mark.backends("sqlite")
def test_second_unchanged_backup_reads_nothing_new(clinic: tuple[Engine, Path]) -> None:
    engine, _ = clinic
    first, _ = run_to_end(run.run_backup(engine))
    second, _ = run_to_end(run.run_backup(engine))
    # only the staging folder's dump and manifest are new; the 12 images are not re-read
    assert first.unmodified == 0 and second.unmodified >= 12
    assert len(run.snapshots(store.engine_or_refuse())) == 2


@pytest.mark.backends("sqlite")
def test_restore_refuses_live_data_without_replace(
    clinic: tuple[Engine, Path], db_url: str, tmp_path: Path
) -> None:
    engine, folder = clinic
    summary, _ = run_to_end(run.run_backup(engine))
    before = image_hashes(folder)
    with pytest.raises(Refused, match="already holds data"):
        run_to_end(restore.restore(summary.backup_id, db_url, tmp_path / "elsewhere"))
    other = tmp_path / "busy"
    other.mkdir()
    (other / "keep.txt").write_text("keep")
    with pytest.raises(Refused, match="is not empty"):
        run_to_end(restore.restore(summary.backup_id, f"sqlite:///{tmp_path / 'n.db'}", other))
    assert not (tmp_path / "n.db").exists() and (other / "keep.txt").read_text() == "keep"
    assert image_hashes(folder) == before


@pytest.mark.backends("sqlite")
def test_replace_backs_up_what_it_replaces(
    clinic: tuple[Engine, Path], db_url: str, tmp_path: Path
) -> None:
    engine, folder = clinic
    summary, _ = run_to_end(run.run_backup(engine))
    (folder / "added-after.txt").write_text("new since the backup")
    engine.dispose()
    done, _ = run_to_end(restore.restore(summary.backup_id, db_url, folder, replace=True))
    assert done.safety_backup
    assert not (folder / "added-after.txt").exists()
    snaps = run.snapshots(store.engine_or_refuse())
    safety = [s for s in snaps if "before-restore" in s.tags]
    assert len(safety) == 1 and safety[0].backup_id == done.safety_backup


def test_sql_server_backup_is_copy_only_and_checked_as_text() -> None:
    from ibdesk.backup.staging import dump, mssql_statements

    backup_sql, verify_sql = mssql_statements("ImageBank", r"\\nas\backup\ImageBank.bak")
    assert backup_sql.startswith("BACKUP DATABASE [ImageBank] TO DISK = N'\\\\nas\\backup")
    assert "COPY_ONLY" in backup_sql and "CHECKSUM" in backup_sql
    assert verify_sql.startswith("RESTORE VERIFYONLY") and "CHECKSUM" in verify_sql
    engine = make_engine("mssql+pyodbc://u:p@sqlserver/ImageBank?driver=FreeTDS")
    try:
        with pytest.raises(UserError, match="COPY_ONLY"):
            dump(engine, Path("/nonexistent"))
    finally:
        engine.dispose()


@pytest.mark.backends("sqlite")
def test_cancelled_backup_leaves_no_snapshot_and_no_restic(
    clinic: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    from ibdesk.progress import Progress

    engine, _ = clinic
    slow = tmp_path / "slow-restic"
    slow.write_text('#!/bin/sh\necho $$ > "$0.pid"\nexec restic --limit-upload 50 "$@"\n')
    slow.chmod(0o755)
    monkeypatch.setenv("IBDESK_RESTIC", str(slow))
    job = run.run_backup(engine)
    for event in job:
        if isinstance(event, Progress) and event.message == "copying files":
            break
    job.close()  # what the registry does on [Cancel]
    pid = int((tmp_path / "slow-restic.pid").read_text())
    gone = subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
    assert gone, "restic still runs after the job was cancelled"
    monkeypatch.delenv("IBDESK_RESTIC")
    assert run.snapshots(store.engine_or_refuse()) == [] and store.last("backup") is None


@pytest.mark.backends("sqlite")
def test_new_server_gets_the_audit_key_back(
    clinic: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ibdesk.logs import auditchain

    engine, _ = clinic
    summary, _ = run_to_end(run.run_backup(engine))
    key = auditchain.load_key()
    password, repository = store.password_path().read_text(), store.repository()
    # A new server: an empty configuration folder with only the recovery sheet's password.
    monkeypatch.setenv("IBDESK_HOME", str(tmp_path / "new-home"))
    store.password_path().parent.mkdir(parents=True)
    store.password_path().write_text(password)
    store.save_repository(str(repository))
    target = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    _, log = run_to_end(restore.restore(summary.backup_id, target, tmp_path / "new-bilder"))
    assert any("audit-chain.key" in line.text for line in log)
    assert auditchain.load_key() == key
    restored = make_engine(target)
    try:
        with Session(restored) as session:
            report = auditchain.verify(session)
        assert report.ok and report.checked > 0, report.problem
    finally:
        restored.dispose()


@pytest.mark.backends("sqlite")
def test_password_never_on_a_command_line(
    clinic: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = clinic
    seen = tmp_path / "argv.txt"
    spy = tmp_path / "spy-restic"
    spy.write_text(
        f'#!/bin/sh\necho "$@" >> {seen}\nenv | grep ^RESTIC_ >> {seen}\nexec restic "$@"\n'
    )
    spy.chmod(0o755)
    monkeypatch.setenv("IBDESK_RESTIC", str(spy))
    monkeypatch.setenv("RESTIC_PASSWORD", "leaked from the caller")
    run_to_end(run.run_backup(engine))
    run_to_end(drill.verify(read_data="1%"))
    text = seen.read_text()
    password = store.password_path().read_text().strip()
    assert password not in text and "leaked" not in text
    assert f"RESTIC_PASSWORD_FILE={store.password_path()}" in text


def test_many_unreadable_files_neither_hang_the_backup_nor_go_unreported(tmp_path: Path) -> None:
    from ibdesk.backup.restic import Restic, ResticError

    # What restic 0.14 does with files it may not read: an "error" JSON line each on stderr,
    # far more than a pipe holds (64 KiB), then the summary on stdout and exit code 3.
    line = '{"message_type":"error","error":{"Op":"open","Path":"p","Err":13},"item":"%s"}'
    stand_in = tmp_path / "restic"
    stand_in.write_text(
        "#!/bin/sh\n"
        f"i=0; while [ $i -lt 3000 ]; do printf '{line}\\n' /bilder/$i.png >&2; "
        "i=$((i+1)); done\n"
        "echo 'Warning: at least one source file could not be read' >&2\n"
        'echo \'{"message_type":"summary","snapshot_id":"abc"}\'\n'
        "exit 3\n"
    )
    stand_in.chmod(0o755)
    restic = Restic(str(tmp_path / "repo"), tmp_path / "password")
    seen: list[dict[str, object]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IBDESK_RESTIC", str(stand_in))
        with pytest.raises(ResticError, match=r"could not be read.*at least one source file"):
            seen.extend(restic.stream(["backup", str(tmp_path)]))
    errors = [m["item"] for m in seen if m["message_type"] == "error"]
    assert errors == [f"/bilder/{i}.png" for i in range(3000)]
    assert [m for m in seen if m["message_type"] == "summary"] == [
        {"message_type": "summary", "snapshot_id": "abc"}
    ]


def test_a_password_in_the_repository_address_is_never_shown() -> None:
    from ibdesk.backup.restic import explain, shown

    address = "rest:https://clinic:S3cretPw@nas.local:8000/ibdesk"
    assert shown(address) == "rest:https://clinic:***@nas.local:8000/ibdesk"
    assert shown("sftp:backup@nas:/srv/ibdesk") == "sftp:backup@nas:/srv/ibdesk"
    for stderr in (
        "Fatal: unable to open config file: Stat: Is there a repository at the following location?",
        'Fatal: Get "https://clinic:S3cretPw@nas.local:8000/ibdesk/config": dial tcp',
        "Fatal: wrong password or no key found",
    ):
        message = str(explain(stderr, address))
        assert "S3cretPw" not in message and "nas.local" in message


def test_retention_prunes_once_a_week(tmp_path: Path, restic_template: Path) -> None:
    import datetime as dt

    from backupclinic import make_repository

    restic = make_repository(restic_template, tmp_path / "repo")
    monday = dt.datetime(2026, 11, 30, 2, 30, tzinfo=dt.UTC)
    run_to_end(run.apply_retention(restic, monday))
    first = store.last("prune")
    assert first is not None and first.when == monday
    run_to_end(run.apply_retention(restic, monday + dt.timedelta(days=3)))
    assert store.last("prune") == first  # forget only, no prune within the week
    later = monday + dt.timedelta(days=7)
    run_to_end(run.apply_retention(restic, later))
    assert store.last("prune") is not None and store.last("prune").when == later  # type: ignore[union-attr]
    assert "--keep-daily" in run.KEEP and run.KEEP[run.KEEP.index("--keep-daily") + 1] == "14"
    assert run.KEEP[run.KEEP.index("--keep-weekly") + 1] == "8"
    assert run.KEEP[run.KEEP.index("--keep-monthly") + 1] == "24"
