"""Cron-able commands (backup run, db backup, stats, images check) log the OS account, marked."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import USER_PASSWORD, make_patient, make_user
from ibdesk import clinic_settings
from ibdesk.audit import OS_ACCOUNT_MARK, os_account
from ibdesk.cli import main
from ibdesk.models import SystemEvent
from ibdesk.users import clisession


def run(db_url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], input=stdin, catch_exceptions=False)


def test_backup_stats_and_images_check_are_the_os_account(
    db_url: str, session: Session, tmp_path: Path
) -> None:
    folder = tmp_path / "bilder"
    folder.mkdir()
    make_patient(session)
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
    make_user(session, username="chefen", is_admin=True)
    session.commit()
    assert clisession.load() is None  # nobody signed in, as under cron
    assert run(db_url, "stats", "--json").exit_code == 0
    assert run(db_url, "images", "check", "--json").exit_code == 0
    # Someone signing in on the command line does not make a cron job theirs.
    login = run(db_url, "login", "--user", "chefen", "--password-stdin", stdin=USER_PASSWORD + "\n")
    assert login.exit_code == 0, login.stderr
    if db_url.startswith("sqlite"):
        (tmp_path / "backup").mkdir()
        backup = run(db_url, "db", "backup", "--to", str(tmp_path / "backup"))
        assert backup.exit_code == 0, backup.stderr
        made = run(db_url, "backup", "init", "--repo", str(tmp_path / "repo"))
        assert made.exit_code == 0, made.stderr
        snapshot = run(db_url, "backup", "run", "--json")
        assert snapshot.exit_code == 0, snapshot.stderr
    session.expire_all()
    events = session.scalars(
        select(SystemEvent).where(
            SystemEvent.action.in_(["statistics.read", "images.check", "db.backup", "backup.run"])
        )
    ).all()
    expected = {"statistics.read", "images.check"} | (
        {"db.backup", "backup.run"} if db_url.startswith("sqlite") else set()
    )
    assert {e.action for e in events} == expected
    for event in events:
        assert event.user_name == f"{os_account()} {OS_ACCOUNT_MARK}"
        assert event.user_name != "chefen"
