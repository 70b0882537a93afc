"""The operating-system account recorded as the actor comes from the real user id, never from
LOGNAME, USER or USERNAME, which whoever starts the program chooses."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from factories import make_media
from ibdesk import audit
from ibdesk.cli import export as cli_export
from ibdesk.cli import licensing as cli_licensing
from ibdesk.cli import main
from ibdesk.models import ImageSet

REAL = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def spoofed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "dr_nobody")


@pytest.mark.usefixtures("spoofed")
def test_every_actor_of_this_machine_is_the_real_account() -> None:
    assert REAL != "dr_nobody"
    assert audit.local_admin().user == REAL
    # The CLI acts as the administrator signed in with `ibdesk login`, in one place.
    assert "local_admin" not in vars(cli_export) and "local_admin" not in vars(cli_licensing)


@pytest.mark.usefixtures("spoofed")
def test_signing_on_the_cli_records_the_signed_in_person_not_the_environment(
    db_url: str, session: Session, cli_admin: str
) -> None:
    item = make_media(session)
    set_id = item.image_set_id
    session.close()
    result = CliRunner().invoke(main, ["--db", db_url, "sets", "sign", str(set_id)])
    assert result.exit_code == 0, result.output
    signed = session.get(ImageSet, set_id)
    assert signed is not None and signed.signed_by == cli_admin != "dr_nobody"


@pytest.mark.usefixtures("spoofed")
def test_patient_commands_refuse_without_a_sign_in_and_change_nothing(
    db_url: str, session: Session, tmp_path: Path
) -> None:
    item = make_media(session)
    set_id, number = item.image_set_id, item.image_set.patient.personnummer
    out = tmp_path / "out"
    out.mkdir()
    session.close()
    for args in (
        ["sets", "sign", str(set_id)],
        ["patients", "find", ""],
        ["patients", "show", number],
        ["patients", "delete", number, "--confirm", number],
        ["logs", "show"],
        ["export", "--all", "--to", str(out)],
    ):
        result = CliRunner().invoke(main, ["--db", db_url, *args])
        assert result.exit_code != 0, args
        assert "Sign in first with: ibdesk login" in result.stderr, args
    signed = session.get(ImageSet, set_id)
    assert signed is not None and signed.signed_by is None
    assert signed.patient.deleted_at is None
    assert list(out.iterdir()) == []  # nothing was exported
