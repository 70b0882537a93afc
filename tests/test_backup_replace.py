"""``ibdesk backup restore --replace`` over live data: what it replaces is backed up first.

The safety backup is a real one: restored elsewhere it gives back the rows and files that
the replace took away. A safety backup that fails stops the restore before anything is
touched.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backupclinic import image_hashes, make_clinic, make_repository
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ibdesk import audit
from ibdesk.backup import run, store
from ibdesk.cli import main
from ibdesk.db import make_engine, session_scope
from ibdesk.models import SystemEvent
from ibdesk.progress import run_to_end

pytestmark = pytest.mark.backends("sqlite")


def ibdesk(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def clinic(engine: Engine, tmp_path: Path, restic_template: Path) -> Path:
    folder = make_clinic(engine, tmp_path / "bilder")
    make_repository(restic_template, tmp_path / "repo")
    return folder


def actions(url: str) -> list[str]:
    """Return the system log's actions of a database."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(SystemEvent.action)))
    finally:
        engine.dispose()


def work_after_the_backup(engine: Engine, folder: Path) -> None:
    """What the clinic did after the backup: a logged event and a new file."""
    with session_scope(engine) as session:
        audit.system_event(session, audit.local_admin(), "clinic.after", "after the backup")
    (folder / "taken-after.txt").write_text("an image taken after the backup")


def test_replace_backs_up_the_live_clinic_first_and_nothing_is_lost(
    clinic: Path, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    made = json.loads(ibdesk("--db", db_url, "backup", "run", "--json").output)
    work_after_the_backup(engine, clinic)
    live_files = image_hashes(clinic)
    engine.dispose()
    args = ["backup", "restore", made["backup_id"], "--to-database", db_url]
    refused = ibdesk(*args, "--to-folder", str(clinic))
    assert refused.exit_code != 0 and "--replace" in refused.stderr
    assert "clinic.after" in actions(db_url)  # a refusal changes nothing

    replaced = ibdesk(*args, "--to-folder", str(clinic), "--replace", "--json")
    assert replaced.exit_code == 0, replaced.output
    safety = json.loads(replaced.output)["safety_backup"]
    assert safety and safety != made["backup_id"]
    assert "clinic.after" not in actions(db_url) and not (clinic / "taken-after.txt").exists()
    listed = {
        item["backup_id"]: item for item in json.loads(ibdesk("backup", "list", "--json").output)
    }
    assert "before-restore" in listed[safety]["tags"]

    # The safety backup holds the clinic as it was just before the replace.
    back = f"sqlite:///{tmp_path / 'before.sqlite3'}"
    again = ibdesk(
        "backup", "restore", safety, "--to-database", back, "--to-folder", str(tmp_path / "before")
    )
    assert again.exit_code == 0, again.output
    assert "clinic.after" in actions(back)
    assert image_hashes(tmp_path / "before") == live_files


def test_a_failed_safety_backup_stops_the_restore(
    clinic: Path,
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made, _ = run_to_end(run.run_backup(engine))
    work_after_the_backup(engine, clinic)
    before = image_hashes(clinic)
    engine.dispose()
    # restic refuses every new backup (a full disk, say); restores would still work
    spy = tmp_path / "no-backups-restic"
    spy.write_text(
        '#!/bin/sh\nif [ "$1" = backup ]; then echo "Fatal: no space left on device" >&2; '
        'exit 1; fi\nexec restic "$@"\n'
    )
    spy.chmod(0o755)
    monkeypatch.setenv("IBDESK_RESTIC", str(spy))
    result = ibdesk(
        "backup",
        "restore",
        made.backup_id,
        "--to-database",
        db_url,
        "--to-folder",
        str(clinic),
        "--replace",
    )
    assert result.exit_code != 0 and "is full" in result.stderr
    assert "clinic.after" in actions(db_url)
    assert image_hashes(clinic) == before
    assert not list(clinic.parent.glob(".ibdesk-restore-*"))


def test_replacing_a_folder_alone_keeps_its_files_in_a_snapshot(
    clinic: Path, engine: Engine, tmp_path: Path
) -> None:
    summary, _ = run_to_end(run.run_backup(engine))
    other = tmp_path / "other-folder"
    other.mkdir()
    (other / "keep-me.txt").write_text("a file of another folder")
    target = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    done = ibdesk(
        "backup",
        "restore",
        summary.backup_id,
        "--to-database",
        target,
        "--to-folder",
        str(other),
        "--replace",
        "--json",
    )
    assert done.exit_code == 0, done.output
    assert not (other / "keep-me.txt").exists()
    restic = store.engine_or_refuse()
    kept = restic.json(["snapshots", "--tag", "ibdesk-before-restore"])
    assert len(kept) == 1 and kept[0]["paths"] == [str(other)]
    restic.run(["restore", kept[0]["id"], "--target", str(tmp_path / "out")])
    assert (tmp_path / "out" / str(other).lstrip("/") / "keep-me.txt").read_text() == (
        "a file of another folder"
    )
