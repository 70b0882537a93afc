"""1.2 MD5 passwords: never usable as they are; checked once at first sign-in, then Argon2id."""

from __future__ import annotations

import hashlib
from pathlib import Path

import legacy12
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ibdesk import conversion, users
from ibdesk.models import LoginEvent, UserAccount
from ibdesk.progress import run_to_end
from ibdesk.users import passwords

pytestmark = pytest.mark.backends("sqlite")


def _account(session: Session, name: str) -> UserAccount:
    account = session.scalar(select(UserAccount).where(UserAccount.username == name))
    assert account is not None
    return account


def test_first_sign_in_upgrades_the_md5_once(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "legacy12"
    legacy12.build(out, patients=5)
    source = conversion.open_source(legacy12.source_url(out, None), out / "Bilder")
    try:
        for step in (1, 2):
            run_to_end(conversion.run_step(engine, source, step))
    finally:
        source.close()
    old = hashlib.md5(b"tandlakare1-pw").hexdigest()
    with Session(engine) as session:
        account = _account(session, "tandlakare1")
        assert account.password_hash is None and account.legacy_md5 == old
        # Neither a wrong password nor the MD5 itself signs in, and the MD5 stays for later.
        assert not users.authenticate(session, "tandlakare1", "wrong-pw", "RUM-1").ok
        assert not users.authenticate(session, "tandlakare1", old, "RUM-1").ok
        assert _account(session, "tandlakare1").legacy_md5 == old
        assert users.authenticate(session, "tandlakare1", "tandlakare1-pw", "RUM-1").ok
        session.commit()
    with Session(engine) as session:
        account = _account(session, "tandlakare1")
        assert account.legacy_md5 is None
        assert account.password_hash is not None and account.password_hash.startswith("$argon2id$")
        assert passwords.verify_password(account.password_hash, "tandlakare1-pw")
        assert users.authenticate(session, "tandlakare1", "tandlakare1-pw", "RUM-1").ok
        outcomes = session.scalars(
            select(LoginEvent.success).where(LoginEvent.user_name == "tandlakare1")
        ).all()
        assert outcomes == [False, False, True, True]
        assert _account(session, "admin").legacy_md5 is not None  # not signed in yet


def test_upgrade_reads_only_md5_hex() -> None:
    latin = hashlib.md5("åsa-lösen".encode("cp1252")).hexdigest()
    upgraded = passwords.upgrade_legacy(latin.upper(), "åsa-lösen")
    assert upgraded is not None and passwords.verify_password(upgraded, "åsa-lösen")
    assert passwords.upgrade_legacy(latin, "åsa-losen") is None
    assert passwords.upgrade_legacy(None, "x") is None
    assert passwords.upgrade_legacy("not-an-md5", "not-an-md5") is None
    assert passwords.legacy_md5(" " + latin.upper()) == latin
