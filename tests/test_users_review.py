"""Users and sign-in against what a review found: a local administrator remains, a window
session follows the account, confirming the password counts towards the lockout, the
command line's sign-in holds for its own database, and small sentences."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import ACTOR, USER_PASSWORD, make_user
from ibdesk.app import create_app
from ibdesk.cli import main
from ibdesk.errors import Refused
from ibdesk.models import LoginEvent, SystemEvent
from ibdesk.users import accounts, passwords
from webfixtures import ADMIN_NAME, ADMIN_PASSWORD, TEST_PORT, csrf_token, sign_in

OWN_PASSWORD = "ett eget långt lösenord 9"


def run(db_url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], input=stdin, catch_exceptions=False)


def test_the_last_local_administrator_stays(session: Session) -> None:
    local = make_user(session, username="lokal", is_admin=True)
    make_user(session, username="ad.admin", is_admin=True, source="ad")
    session.commit()
    # With Active Directory off or unreachable, only a local account can sign in.
    with pytest.raises(Refused, match="no enabled local administrator"):
        accounts.set_active(session, ACTOR, local.username, False)
    session.rollback()
    with pytest.raises(Refused, match="no enabled local administrator"):
        accounts.delete_user(session, ACTOR, local.username)
    session.rollback()
    with pytest.raises(Refused, match="no enabled local administrator"):
        accounts.edit_user(session, ACTOR, local.username, groups=["Clinicians"])
    session.rollback()
    make_user(session, username="lokal2", is_admin=True)
    session.commit()
    accounts.set_active(session, ACTOR, local.username, False)  # another local one remains
    session.commit()


def test_a_group_named_twice_is_one_membership(session: Session) -> None:
    user = make_user(session, groups=["Clinicians", "clinicians"])
    session.commit()
    assert [g.name for g in user.groups] == ["Clinicians"]
    edited = accounts.edit_user(session, ACTOR, user.username, groups=["Reception", "RECEPTION"])
    session.commit()
    assert [g.name for g in edited.groups] == ["Reception"]


def test_an_unlock_of_an_account_not_yet_locked_is_logged(session: Session) -> None:
    user = make_user(session, failed_count=3)
    session.commit()
    accounts.unlock(session, ACTOR, user.username)
    session.commit()
    event = session.scalar(select(SystemEvent).where(SystemEvent.action == "user.unlock"))
    assert event is not None and "failed attempts 3 → 0" in event.detail


def test_an_account_without_a_hash_costs_a_check_as_any_other(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Timed, an answer that comes at once would tell a converted 1.2 account (no hash yet)
    # or an Active Directory account apart from an unknown name; each now costs one check.
    converted = make_user(session, username="konverterad")
    converted.password_hash = None
    make_user(session, username="ad.anv", source="ad")
    session.commit()
    checks: list[str] = []
    monkeypatch.setattr(passwords, "dummy_verify", lambda: checks.append("dummy"))
    monkeypatch.setattr(accounts, "dummy_verify", lambda: checks.append("dummy"))
    for name in ("konverterad", "ad.anv", "okand"):
        checks.clear()
        outcome = accounts.authenticate(session, name, "fel lösenord", "ws1")
        assert not outcome.ok and outcome.message == accounts.wrong_message()
        assert checks == ["dummy"], name


@pytest.fixture
def app(db_url: str, engine: object) -> Iterator[Flask]:
    application = create_app(db_option=db_url, testing=True, port=TEST_PORT)
    yield application
    application.extensions["ibdesk.jobs"].shutdown()
    application.extensions["ibdesk.database"].dispose()


def test_a_window_session_ends_when_the_account_is_disabled_elsewhere(
    app: Flask, client: FlaskClient, db_url: str, session: Session
) -> None:
    make_user(session, username="kollega", is_admin=True)
    session.commit()
    assert client.get("/users/").status_code == 200
    # Another administrator disables test.admin (from the command line, or another window).
    accounts.set_active(session, ACTOR, ADMIN_NAME, False)
    session.commit()
    session.close()
    after = client.get("/users/")
    assert after.status_code == 200 and 'id="signin-title"' in after.get_data(as_text=True)
    again = sign_in(client, ADMIN_NAME, ADMIN_PASSWORD)
    assert "disabled" in again.get_data(as_text=True)


def test_confirming_the_password_counts_towards_the_lockout(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    session.close()
    for _ in range(accounts.MAX_FAILURES):
        token = csrf_token(client, "/signin/confirm")
        wrong = client.post("/signin/confirm", data={"csrf_token": token, "password": "gissning"})
        assert wrong.status_code == 401
    assert "This account is locked" in wrong.get_data(as_text=True)  # the fifth locks it
    token = csrf_token(client, "/signin/confirm")
    right = client.post("/signin/confirm", data={"csrf_token": token, "password": ADMIN_PASSWORD})
    assert right.status_code == 303 and right.headers["Location"].startswith("/signin")
    with Session(session.get_bind()) as fresh:
        user = accounts.find_user(fresh, ADMIN_NAME)
        assert user is not None and accounts.is_locked(user)
        reasons = fresh.scalars(select(LoginEvent.reason).where(LoginEvent.success.is_(False)))
        assert "wrong password when confirming" in list(reasons)


def test_the_command_lines_sign_in_holds_for_its_own_database_only(
    db_url: str, session: Session, ibdesk_home: Path, tmp_path: Path
) -> None:
    make_user(session, username="admin", is_admin=True)
    session.commit()
    own = f"sqlite:///{tmp_path / 'egen.sqlite3'}"
    assert run(own, "db", "upgrade").exit_code == 0
    made = run(
        own, "users", "add", "admin", "--admin", "--password-stdin", stdin=OWN_PASSWORD + "\n"
    )
    assert made.exit_code == 0, made.stderr
    signed = run(own, "login", "--user", "admin", "--password-stdin", stdin=OWN_PASSWORD + "\n")
    assert signed.exit_code == 0, signed.stderr
    # The same name in the clinic's database is another person.
    refused = run(db_url, "users", "list")
    assert refused.exit_code != 0 and "signed in to another database" in refused.stderr
    assert run(own, "users", "list").exit_code == 0


def test_a_password_read_from_a_windows_file_loses_its_cr(
    db_url: str, session: Session, ibdesk_home: Path
) -> None:
    # A real pipe keeps the CR of a file saved on Windows (click's test runner would not).
    session.close()

    def ibdesk(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "ibdesk", "--db", db_url, *args]
        return subprocess.run(command, input=stdin, capture_output=True, timeout=120)

    typed = USER_PASSWORD.encode()
    made = ibdesk("users", "add", "ny.admin", "--admin", "--password-stdin", stdin=typed + b"\r\n")
    assert made.returncode == 0, made.stderr
    signed = ibdesk("login", "--user", "ny.admin", "--password-stdin", stdin=typed + b"\n")
    assert signed.returncode == 0, signed.stderr
