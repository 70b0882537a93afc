"""The audit chain depends on this installation's key: another key, even a consistent one, fails."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from factories import ACTOR, make_media, make_patient
from ibdesk import clients, config
from ibdesk.logs import auditchain
from ibdesk.models import AuditEvent

pytestmark = pytest.mark.backends("sqlite")


def _history(session: Session, engine: Engine) -> None:
    item = make_media(session)
    clients.update_media(session, ACTOR, item.id, comment="Karies")
    session.commit()
    make_patient(session)
    assert auditchain.seal(engine) >= 3


def _verify(engine: Engine) -> auditchain.ChainReport:
    with Session(engine) as session:
        return auditchain.verify(session)


def test_verify_fails_after_the_key_file_is_swapped(session: Session, engine: Engine) -> None:
    _history(session, engine)
    assert _verify(engine).ok
    key_file = config.config_dir() / auditchain.KEY_FILE
    key_file.write_text(secrets.token_bytes(32).hex(), encoding="ascii")
    report = _verify(engine)
    assert not report.ok and report.seq == 1 and "altered" in report.problem


def test_an_edit_rechained_with_another_key_is_found(session: Session, engine: Engine) -> None:
    _history(session, engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET user_name = 'someone.else' WHERE seq = 2"))
    # The attacker recomputes the whole chain consistently, but with a key of their own.
    forged_key = secrets.token_bytes(32)
    with Session(engine) as forger:
        previous = auditchain.GENESIS
        events = forger.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        for event in events:
            chained = auditchain.link(forged_key, previous, event, int(event.seq or 0))
            forger.execute(
                update(AuditEvent)
                .where(AuditEvent.id == event.id)
                .values(prev_hash=previous, chain_hash=chained)
            )
            previous = chained
        forger.commit()
    report = _verify(engine)
    assert not report.ok and report.seq == 1 and "altered" in report.problem


def _key_of_new_installation(home: Path) -> tuple[str, int]:
    home.mkdir()
    env = {**os.environ, "IBDESK_HOME": str(home)}
    code = "from ibdesk.logs import auditchain; auditchain.load_key(create=True)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    key_file = home / auditchain.KEY_FILE
    return key_file.read_text(encoding="ascii"), stat.S_IMODE(key_file.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_two_installations_get_different_private_keys(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        first, first_mode = _key_of_new_installation(tmp_path / "clinic-a")
        second, second_mode = _key_of_new_installation(tmp_path / "clinic-b")
    finally:
        os.umask(old)
    assert len(bytes.fromhex(first)) == 32 and len(bytes.fromhex(second)) == 32
    assert first != second
    assert first_mode == 0o600 and second_mode == 0o600
