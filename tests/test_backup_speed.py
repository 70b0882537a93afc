"""What keeps backup and restore near bare restic's speed: one restic run for each.

Every restic run opens the repository with a deliberately slow key derivation (about half
a second), so the number of runs is the overhead the benchmark sees on a small clinic.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from backupclinic import contents, image_hashes, make_clinic, make_repository
from sqlalchemy import Engine, select

from ibdesk.backup import restore, run, staging
from ibdesk.db import make_engine
from ibdesk.errors import UserError
from ibdesk.progress import run_to_end

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def clinic(engine: Engine, tmp_path: Path, restic_template: Path) -> tuple[Engine, Path]:
    """A demo clinic with files and a configured repository."""
    folder = make_clinic(engine, tmp_path / "bilder")
    make_repository(restic_template, tmp_path / "repo")
    return engine, folder


@pytest.fixture
def restic_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Log each restic run's subcommand and its RESTIC_ environment, then run restic."""
    seen = tmp_path / "runs.txt"
    spy = tmp_path / "spy-restic"
    spy.write_text(
        f'#!/bin/sh\necho "run $1" >> {seen}\nenv | grep ^RESTIC_PROGRESS >> {seen}\n'
        'exec restic "$@"\n'
    )
    spy.chmod(0o755)
    seen.write_text("")
    monkeypatch.setenv("IBDESK_RESTIC", str(spy))
    return seen


def subcommands(seen: Path) -> list[str]:
    """Return the restic subcommands run so far, and forget them."""
    runs = [line[4:] for line in seen.read_text().splitlines() if line.startswith("run ")]
    seen.write_text("")
    return runs


def test_backup_and_restore_each_open_the_repository_once(
    clinic: tuple[Engine, Path], restic_runs: Path, tmp_path: Path
) -> None:
    engine, folder = clinic
    summary, _ = run_to_end(run.run_backup(engine, retention=False))
    assert subcommands(restic_runs) == ["backup"]
    run_to_end(run.run_backup(engine))  # with retention: one forget after the backup
    assert subcommands(restic_runs) == ["backup", "forget"]

    target = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    done, _ = run_to_end(restore.restore(summary.backup_id, target, tmp_path / "new" / "bilder"))
    # one restore of the whole snapshot; its folders read from the restored manifest
    assert subcommands(restic_runs) == ["restore"]
    assert done.backup_id == summary.backup_id and done.snapshot == summary.snapshot
    assert image_hashes(tmp_path / "new" / "bilder") == image_hashes(folder)
    restored = make_engine(target)
    try:
        assert contents(restored)[1] == contents(engine)[1]
    finally:
        restored.dispose()
    assert not list((tmp_path / "new").glob(".ibdesk-restore-*"))  # the landing is gone


def test_restore_by_snapshot_id_and_from_another_computer(
    clinic: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, folder = clinic
    summary, _ = run_to_end(run.run_backup(engine, retention=False))
    done, _ = run_to_end(
        restore.restore(summary.snapshot, f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path / "a")
    )
    assert done.backup_id == summary.backup_id and done.snapshot == summary.snapshot
    # Made on another computer: its staging folder lay elsewhere, so the listing says where.
    monkeypatch.setattr(restore, "staging_path", lambda: tmp_path / "elsewhere" / "x")
    done, _ = run_to_end(
        restore.restore(summary.backup_id, f"sqlite:///{tmp_path / 'b.sqlite3'}", tmp_path / "b")
    )
    assert done.backup_id == summary.backup_id
    assert image_hashes(tmp_path / "b") == image_hashes(folder) == image_hashes(tmp_path / "a")


def test_unknown_backup_says_so_and_leaves_nothing(
    clinic: tuple[Engine, Path], tmp_path: Path
) -> None:
    engine, _ = clinic
    run_to_end(run.run_backup(engine, retention=False))
    for wanted in ("20200101-000000-abcd", "deadbeef"):
        with pytest.raises(UserError, match=f"There is no backup {wanted}"):
            run_to_end(
                restore.restore(wanted, f"sqlite:///{tmp_path / 'n.sqlite3'}", tmp_path / "n" / "b")
            )
        assert not (tmp_path / "n" / "b").exists()
        assert not list((tmp_path / "n").glob(".ibdesk-restore-*"))


def test_missing_repository_is_refused_before_the_dump(
    clinic: tuple[Engine, Path], restic_runs: Path, tmp_path: Path
) -> None:
    engine, _ = clinic
    run.store.save_repository(str(tmp_path / "unplugged-disk"))
    with pytest.raises(UserError, match="There is no backup repository"):
        run_to_end(run.run_backup(engine))
    assert subcommands(restic_runs) == []
    assert not (staging.staging_path() / staging.MANIFEST).exists()


def test_streamed_backup_asks_restic_for_few_status_lines(
    clinic: tuple[Engine, Path], restic_runs: Path
) -> None:
    engine, _ = clinic
    run_to_end(run.run_backup(engine, retention=False))
    assert "RESTIC_PROGRESS_FPS=4" in restic_runs.read_text()


def test_a_snapshot_not_made_by_ibdesk_is_refused_in_one_sentence(
    clinic: tuple[Engine, Path], tmp_path: Path
) -> None:
    _engine, folder = clinic
    restic = run.store.engine_or_refuse()
    fake = "20200101-000000-abcd"
    restic.run(["backup", "--tag", f"ibdesk,ibdesk-{fake}", str(folder)])
    with pytest.raises(UserError, match="was not made by ibdesk"):
        run_to_end(restore.restore(fake, f"sqlite:///{tmp_path / 'n.sqlite3'}", tmp_path / "n"))
    assert not (tmp_path / "n").exists() and not list(tmp_path.glob(".ibdesk-restore-*"))


def test_a_wrong_image_stops_the_restore_before_the_folder_is_touched(
    clinic: tuple[Engine, Path], tmp_path: Path
) -> None:
    from sqlalchemy import update

    from ibdesk.db import session_scope
    from ibdesk.models import MediaItem

    engine, _folder = clinic
    with session_scope(engine) as session:  # a row whose file no longer matches it
        first = session.scalars(select(MediaItem.id).order_by(MediaItem.id)).first()
        session.execute(update(MediaItem).where(MediaItem.id == first).values(sha256="0" * 64))
    summary, _ = run_to_end(run.run_backup(engine, retention=False))
    target = tmp_path / "new" / "bilder"
    with pytest.raises(UserError, match="A restored image is wrong"):
        run_to_end(restore.restore(summary.backup_id, f"sqlite:///{tmp_path / 'n.db'}", target))
    assert not target.exists() and not list(target.parent.glob(".ibdesk-restore-*"))
