"""Users and groups: the password rule, lockout, the last administrator, rights per call."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from factories import ACTOR, USER_PASSWORD, make_patient, make_user
from ibdesk import clients
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.models import LoginEvent, Right, SystemEvent, UserAccount, utcnow
from ibdesk.users import accounts, admins, groups, passwords


def _logins(session: Session, name: str) -> list[LoginEvent]:
    query = select(LoginEvent).where(LoginEvent.user_name == name).order_by(LoginEvent.id)
    return list(session.scalars(query))


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("", "Type a password"),
        ("kort fras", "at least 12"),
        ("x" * 129, "at most 128"),
        ("qwertyuiop123", "common or leaked"),
        ("iloveyou1234", "common or leaked"),
        ("PASSWORD1234567", "common or leaked"),
        ("aaaaaaaaaaaaaa", "common or leaked"),
        ("anna.berg är bäst", "user name"),
    ],
)
def test_password_rule_refuses(password: str, fragment: str) -> None:
    with pytest.raises(passwords.PasswordRejected, match=fragment):
        passwords.check_rule(password, username="anna.berg")


def test_password_rule_accepts_a_phrase_and_compares_in_nfkc() -> None:
    passwords.check_rule("blå tandborste i glaset")
    assert len(passwords.common_passwords()) >= 10_000
    # "ﬁ" (one ligature character) and "fi" are the same password after NFKC.
    stored = passwords.hash_password("ﬁka på fredag kl 15")
    assert passwords.verify_password(stored, "fika på fredag kl 15")
    assert not passwords.verify_password(stored, "fika på fredag kl 16")
    assert stored.startswith("$argon2id$v=19$m=65536,t=1,p=1$")


def test_wrong_attempts_at_the_same_moment_each_count(session: Session, engine: Engine) -> None:
    make_user(session, username="cecilia")
    now = utcnow()
    # Each workstation read the account before the others wrote: five stale copies.
    stale = []
    for _ in range(5):
        other = Session(engine, expire_on_commit=False)
        stale.append((other, accounts.get_user(other, "cecilia")))
        other.commit()
    for other, user in stale:
        accounts._record_failure(other, user, "RUM-2", now)
        other.commit()
        other.close()
    session.expire_all()
    user = accounts.get_user(session, "cecilia")
    assert user.failed_count == 5 and accounts.is_locked(user, now)


def test_user_names_are_unique_whatever_their_case(session: Session) -> None:
    make_user(session, username="Anna")
    with pytest.raises(Refused, match="already exists"):
        accounts.create_user(session, "ANNA", USER_PASSWORD, actor=ACTOR)
    for bad in ("anna berg", "a" * 300, ""):
        with pytest.raises(UserError, match="2 to 64"):
            accounts.create_user(session, bad, USER_PASSWORD, actor=ACTOR)
    assert session.scalar(select(UserAccount.username)) == "anna"


def test_five_failures_lock_for_fifteen_minutes_and_unlock_is_logged(session: Session) -> None:
    make_user(session, username="bertil")
    now = utcnow()
    unknown = accounts.authenticate(session, "nobody", "whatever", "RUM-1", now=now)
    wrong = accounts.authenticate(session, "bertil", "fel lösenord!", "RUM-1", now=now)
    assert unknown.message == wrong.message == "Wrong user name or password."
    for _ in range(4):
        last = accounts.authenticate(session, "bertil", "fel lösenord!", "RUM-1", now=now)
    assert "locked for 15 minutes" in last.message
    # Locked: even the right password is refused, without being checked.
    right = accounts.authenticate(session, "bertil", USER_PASSWORD, "RUM-1", now=now)
    assert not right.ok and "locked" in right.message
    later = now + dt.timedelta(minutes=16)
    assert accounts.authenticate(session, "bertil", USER_PASSWORD, "RUM-1", now=later).ok
    reasons = [e.reason for e in _logins(session, "bertil")]
    assert "locked after 5 failed attempts" in reasons
    # Failures spread over more than 15 minutes do not lock.
    for minute in range(0, 80, 16):
        accounts.authenticate(
            session, "bertil", "fel!" * 3, "RUM-1", now=later + dt.timedelta(minutes=minute)
        )
    user = accounts.get_user(session, "bertil")
    assert user.locked_until is None
    for _ in range(5):
        accounts.authenticate(session, "bertil", "fel!" * 3, "RUM-1")
    assert accounts.is_locked(user)
    accounts.unlock(session, ACTOR, "bertil")
    assert not accounts.is_locked(user)
    assert _logins(session, "bertil")[-1].reason == f"unlocked by {ACTOR.user}"
    assert session.scalar(select(SystemEvent).where(SystemEvent.action == "user.unlock"))


def test_the_last_enabled_administrator_is_protected(session: Session) -> None:
    make_user(session, username="admin1", is_admin=True)
    with pytest.raises(Refused, match="no enabled administrator"):
        accounts.set_active(session, ACTOR, "admin1", False)
    session.rollback()
    with pytest.raises(Refused, match="no enabled administrator"):
        accounts.edit_user(session, ACTOR, "admin1", groups=["Clinicians"])
    session.rollback()
    with pytest.raises(Refused, match="no enabled administrator"):
        groups.revoke(session, ACTOR, "Administrators", "administer")
    session.rollback()
    with pytest.raises(Refused, match="no enabled administrator"):
        accounts.delete_user(session, ACTOR, "admin1")
    session.rollback()
    assert accounts.get_user(session, "admin1").is_admin
    make_user(session, username="admin2", is_admin=True)
    accounts.set_active(session, ACTOR, "admin1", False)
    session.commit()
    assert admins.count_admins(session) == 1


@pytest.mark.backends("postgresql")
def test_two_administrators_disabling_each_other_at_once_leave_one(
    session: Session, engine: Engine
) -> None:
    import threading

    make_user(session, username="admin1", is_admin=True)
    make_user(session, username="admin2", is_admin=True)
    session.close()
    first, second = Session(engine), Session(engine)
    accounts.set_active(first, ACTOR, "admin2", False)  # not committed yet: holds the turn
    outcome: list[BaseException | None] = []

    def other_side() -> None:
        try:
            accounts.set_active(second, ACTOR, "admin1", False)
            second.commit()
            outcome.append(None)
        except BaseException as error:  # the refusal, read back below
            second.rollback()
            outcome.append(error)

    waiting = threading.Thread(target=other_side)
    waiting.start()
    waiting.join(timeout=1.0)
    assert waiting.is_alive(), "the second change did not wait for the first"
    first.commit()
    waiting.join()
    first.close()
    second.close()
    assert isinstance(outcome[0], Refused) and "no enabled administrator" in str(outcome[0])
    with Session(engine) as fresh:
        assert admins.count_admins(fresh) == 1
        assert accounts.get_user(fresh, "admin1").active


def test_delete_disables_an_account_with_history(session: Session) -> None:
    make_user(session, username="ceasar")
    make_user(session, username="doris")
    make_patient(session, actor=ACTOR.__class__(user="doris", machine="RUM-1"))
    assert accounts.delete_user(session, ACTOR, "ceasar") == "deleted"
    assert accounts.delete_user(session, ACTOR, "doris") == "disabled"
    session.commit()
    assert accounts.find_user(session, "ceasar") is None
    assert not accounts.get_user(session, "doris").active
    details = list(session.scalars(select(SystemEvent.detail).order_by(SystemEvent.id)))
    assert any("doris: active True → False" in d for d in details)
    with pytest.raises(NotFound):
        accounts.get_user(session, "ceasar")


def test_rights_are_the_union_of_groups_and_enforced_per_call(session: Session) -> None:
    make_user(session, username="reception", groups=["Reception"])
    user = clients.login(session, "reception", USER_PASSWORD, "DISK-1")
    actor = clients.actor_for(user, "DISK-1")
    patient = clients.create_patient(session, actor, "19850615-0000"[:0] or _number())
    session.commit()
    media_group = groups.create_group(session, ACTOR, "Röntgen", rights=("add_images",))
    with pytest.raises(Refused, match="Add images"):
        clients.create_image_set(session, actor, patient.id, dt.date(2026, 1, 2))
    accounts.edit_user(session, ACTOR, "reception", groups=["Reception", media_group.name])
    session.commit()
    actor = clients.actor_for(accounts.get_user(session, "reception"), "DISK-1")
    assert actor.rights == {"view_patients", "edit_identity", "add_images"}
    clients.create_image_set(session, actor, patient.id, dt.date(2026, 1, 2))
    with pytest.raises(Refused, match="Sign image sets"):
        clients.sign(session, actor, 1)
    make_user(session, username="nogroup", groups=[])
    with pytest.raises(Refused, match="may not sign in here"):
        clients.login(session, "nogroup", USER_PASSWORD, "DISK-1")
    with pytest.raises(UserError, match="not a right"):
        groups.grant(session, ACTOR, "Reception", "fly")
    assert Right.ADMINISTER.value not in actor.rights


def _number() -> str:
    from factories import new_personnummer

    return new_personnummer(dt.date(1985, 6, 15))


def test_the_migration_turns_one_group_and_the_admin_flag_into_memberships(
    empty_db_url: str,
) -> None:
    from sqlalchemy import text

    from ibdesk import schema
    from ibdesk.db import make_engine

    engine = make_engine(empty_db_url, create=True)
    schema.upgrade(engine, to="0002_monthly_media_counters")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO user_group (name, description) VALUES ('Hygien', '')"))
        group_id = conn.execute(text("SELECT id FROM user_group")).scalar_one()
        conn.execute(
            text("INSERT INTO group_restriction (group_id, restriction) VALUES (:g, 'sign')"),
            {"g": group_id},
        )
        for name, admin, group in (("eva", True, None), ("fia", False, group_id)):
            conn.execute(
                text(
                    "INSERT INTO user_account (username, display_name, source, is_admin, "
                    "active, group_id, created_at) VALUES (:n, '', 'local', :a, :t, :g, :c)"
                ),
                {"n": name, "a": admin, "t": True, "g": group, "c": utcnow()},
            )
    schema.upgrade(engine)
    with Session(engine) as session:
        eva, fia = accounts.get_user(session, "eva"), accounts.get_user(session, "fia")
        assert [g.name for g in eva.groups] == ["Administrators"] and eva.is_admin
        assert [g.name for g in fia.groups] == ["Hygien"] and not fia.is_admin
        assert fia.rights == {r.value for r in Right} - {"sign", "administer"}
        names = [g.name for g in groups.list_groups(session)]
        assert names == ["Administrators", "Clinicians", "Hygien", "Reception"]
    engine.dispose()
