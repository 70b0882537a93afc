"""One backup at a time on this computer: the window's [Backup now] and the scheduled
``ibdesk backup run`` share the staging folder, which each empties before its dump."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from ibdesk import filelock, private
from ibdesk.backup.restic import Restic
from ibdesk.backup.run import run_backup
from ibdesk.backup.staging import staging_path
from ibdesk.errors import Refused, UserError


@pytest.mark.backends("sqlite")
def test_a_second_backup_on_this_computer_is_refused_while_one_runs(
    engine: Engine, ibdesk_home: Path, tmp_path: Path
) -> None:
    lock = private.make_folder(staging_path().parent) / ".lock"
    staging_path().mkdir()
    (staging_path() / "imagebank.sqlite3").write_bytes(b"the running backup's dump")
    with filelock.held(lock, "held by the running backup"):
        second = run_backup(engine, restic=Restic(tmp_path / "repo", tmp_path / "pw"))
        with pytest.raises(Refused, match="Another backup is running on this computer"):
            next(second)
        # The running backup's dump is left alone.
        assert (staging_path() / "imagebank.sqlite3").read_bytes() == b"the running backup's dump"
    third = run_backup(engine, restic=Restic(tmp_path / "repo", tmp_path / "pw"))
    with pytest.raises(UserError) as after:  # the lock is free: it goes on to its own checks
        for _ in third:
            pass
    assert "Another backup is running" not in str(after.value)
