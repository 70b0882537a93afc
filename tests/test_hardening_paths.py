"""Typed paths the operating system cannot even look at: a name too long, ``~nobody``. A
sentence each, never a 500 or a traceback (Python 3.11's is_dir() still raises for these)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from webfixtures import HX, csrf_token

pytestmark = pytest.mark.backends("sqlite")
LONG = "/tmp/" + "x" * 300  # one name longer than any file system takes
NOBODY = "~ingen-sadan-anvandare/mapp"


def _forms(value: str, tmp: Path) -> list[tuple[str, dict[str, str]]]:
    legacy = {"backend": "sqlite", "database": value, "images": str(tmp)}
    return [
        ("/export/verify", {"folder": value}),
        ("/export/", {"which": "all", "to": value, "jobs": "1"}),
        ("/backup/init", {"repository": value}),
        ("/settings/attach", {"attach-path": value + "/x.sqlite3"}),
        ("/conversion/test", legacy),
        ("/conversion/test", {**legacy, "database": str(tmp / "x.db"), "images": value}),
    ]


@pytest.mark.parametrize("value", [LONG, NOBODY], ids=["too-long", "no-such-user"])
def test_a_path_nobody_can_look_at_is_a_sentence(
    client: FlaskClient, session: Session, tmp_path: Path, value: str
) -> None:
    session.close()
    token = csrf_token(client, "/export/")
    for path, data in _forms(value, tmp_path):
        answer = client.post(path, data={"csrf_token": token, **data}, headers=HX)
        body = answer.get_data(as_text=True)
        assert answer.status_code in (200, 400, 404, 409, 422), (path, answer.status_code)
        assert "Traceback" not in body and "Something went wrong" not in body, path


@pytest.mark.parametrize("value", [LONG, NOBODY], ids=["too-long", "no-such-user"])
def test_export_verify_on_the_command_line_says_it_in_one_line(value: str) -> None:
    from ibdesk.cli import main

    result = CliRunner().invoke(main, ["export", "verify", value])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("ibdesk: ") and len(result.stderr.strip().splitlines()) == 1
