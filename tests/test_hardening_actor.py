"""The operating-system account recorded as the actor comes from the real user id, never from
LOGNAME, USER or USERNAME, which whoever starts the program chooses."""

from __future__ import annotations

import os
import pwd

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
    # The CLI has one actor: the same function, not a copy that could read the environment.
    assert cli_export.local_admin is audit.local_admin
    assert cli_licensing.local_admin is audit.local_admin


@pytest.mark.usefixtures("spoofed")
def test_signing_on_the_cli_records_the_real_account(db_url: str, session: Session) -> None:
    item = make_media(session)
    set_id = item.image_set_id
    session.close()
    result = CliRunner().invoke(main, ["--db", db_url, "sets", "sign", str(set_id)])
    assert result.exit_code == 0, result.output
    signed = session.get(ImageSet, set_id)
    assert signed is not None and signed.signed_by == REAL
