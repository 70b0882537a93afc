"""``ibdesk login``, ``users``, ``groups`` and ``users recover`` on a real database."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import USER_PASSWORD, make_user
from ibdesk.cli import main
from ibdesk.models import SystemEvent
from ibdesk.users import accounts, clisession, recovery


def run(db_url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], input=stdin, catch_exceptions=False)


def test_login_whoami_and_user_administration(
    db_url: str, session: Session, ibdesk_home: Path
) -> None:
    make_user(session, username="chefen", is_admin=True)
    refused = run(db_url, "users", "list")
    assert refused.exit_code != 0 and "Sign in first with: ibdesk login" in refused.stderr
    wrong = run(db_url, "login", "--user", "chefen", "--password-stdin", stdin="fel lösenord!!\n")
    assert wrong.exit_code != 0 and "Wrong user name or password." in wrong.stderr
    done = run(db_url, "login", "--user", "chefen", "--password-stdin", stdin=USER_PASSWORD + "\n")
    assert done.exit_code == 0, done.stderr
    path = clisession.session_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and USER_PASSWORD not in path.read_text()
    who = run(db_url, "whoami", "--json")
    assert json.loads(who.stdout)["user"] == "chefen"
    added = run(
        db_url,
        "users",
        "add",
        "åsa.öberg",
        "--group",
        "Reception",
        "--password-stdin",
        stdin=USER_PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.stderr
    spaced = run(db_url, "users", "add", "bo berg", "--password-stdin", stdin=USER_PASSWORD + "\n")
    assert spaced.exit_code != 0 and "no spaces" in spaced.stderr
    listed = json.loads(run(db_url, "users", "list", "--json").stdout)
    assert [u["username"] for u in listed["users"]] == ["chefen", "åsa.öberg"]
    assert run(db_url, "groups", "grant", "Reception", "add_images").exit_code == 0
    bad_right = run(db_url, "groups", "grant", "Reception", "fly")
    assert bad_right.exit_code != 0 and "is not a right" in bad_right.stderr
    members = json.loads(run(db_url, "groups", "members", "Reception", "--json").stdout)
    assert members == ["åsa.öberg"]
    last = run(db_url, "users", "disable", "chefen")
    assert last.exit_code != 0 and "no enabled administrator" in last.stderr
    assert run(db_url, "users", "disable", "åsa.öberg").exit_code == 0
    session.expire_all()
    event = session.scalar(select(SystemEvent).where(SystemEvent.action == "user.disable"))
    assert event is not None and event.user_name == "chefen"
    assert run(db_url, "logout").exit_code == 0
    assert run(db_url, "users", "list").exit_code != 0


def test_recover_resets_an_administrator_loudly(
    db_url: str, session: Session, ibdesk_home: Path
) -> None:
    make_user(session, username="glomsk", is_admin=True)
    for _ in range(5):
        accounts.authenticate(session, "glomsk", "fel lösenord!!", "RUM-1")
    session.commit()
    new = "ett helt nytt långt lösenord"
    result = run(db_url, "users", "recover", "glomsk", "--password-stdin", stdin=new + "\n")
    assert result.exit_code == 0, result.stderr
    session.expire_all()
    assert accounts.authenticate(session, "glomsk", new, "RUM-1").ok
    (event,) = recovery.unacknowledged(session)
    assert event.level == "warning" and "glomsk" in event.detail
    not_admin = make_user(session, username="vanlig")
    refused = run(
        db_url, "users", "recover", not_admin.username, "--password-stdin", stdin=new + "\n"
    )
    assert refused.exit_code != 0 and "not an administrator" in refused.stderr
