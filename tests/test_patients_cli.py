"""ibdesk patients / sets / logs on the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from factories import make_media, make_patient
from ibdesk.cli import main


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)


def test_find_show_delete_restore(db_url: str, session: Session, cli_admin: str) -> None:
    number = make_patient(session, last_name="Ström").personnummer
    session.close()
    found = json.loads(run(db_url, "patients", "find", number[:8], "--json").stdout)
    assert [p["personnummer"] for p in found] == [number]
    shown = json.loads(run(db_url, "patients", "show", number, "--json").stdout)
    assert shown["last_name"] == "Ström"
    bad = run(db_url, "patients", "delete", number, "--confirm", "wrong")
    assert bad.exit_code == 1 and "does not match" in bad.stderr
    assert run(db_url, "patients", "delete", number, "--confirm", number).exit_code == 0
    assert json.loads(run(db_url, "patients", "find", number, "--json").stdout)[0]["deleted"]
    assert run(db_url, "patients", "restore", number).exit_code == 0
    nothing = run(db_url, "patients", "find", "Zzyzx")
    assert nothing.exit_code == 1 and "No patient matches" in nothing.stderr
    malformed = run(db_url, "patients", "show", "19121212-1213")
    assert malformed.exit_code == 1 and "check digit" in malformed.stderr


def test_sign_verify_unsign_and_logs(db_url: str, session: Session, cli_admin: str) -> None:
    item = make_media(session)
    set_id, number = str(item.image_set_id), item.image_set.patient.personnummer
    session.close()  # an open SQLite write transaction would hold the CLI off
    assert run(db_url, "sets", "sign", set_id).exit_code == 0
    result = run(db_url, "sets", "verify", set_id, "--json")
    # The image folder is not set, so the files cannot be checked: verify says so.
    assert result.exit_code == 1 and "image folder is not set" in result.stdout
    no_reason = run(db_url, "sets", "unsign", set_id, "--reason", "")
    assert no_reason.exit_code == 1 and "reason" in no_reason.stderr
    assert run(db_url, "sets", "unsign", set_id, "--reason", "Fel datum").exit_code == 0
    events = json.loads(run(db_url, "logs", "show", "--patient", number, "--json").stdout)
    assert [e["action"] for e in events][:2] == ["image_set.unsign", "image_set.sign"]
    csv_text = run(db_url, "logs", "show", "--csv").stdout
    assert csv_text.splitlines()[0].startswith("id,seq,time_utc")
    verified = json.loads(run(db_url, "logs", "verify", "--json").stdout)
    assert verified["ok"] and verified["checked"] >= 5
    bad_date = run(db_url, "logs", "show", "--since", "2026-13-01")
    assert bad_date.exit_code == 1 and "YYYY-MM-DD" in bad_date.stderr


def test_purge_says_what_it_removed(db_url: str, session: Session, cli_admin: str) -> None:
    number = make_media(session).image_set.patient.personnummer
    session.close()
    refused = run(db_url, "patients", "purge", number, "--confirm", "wrong")
    assert refused.exit_code == 1 and "does not match" in refused.stderr
    purged = run(db_url, "patients", "purge", number, "--confirm", number)
    assert purged.stdout.startswith(f"Purged {number}: 1 image sets, 1 media, ")
    assert json.loads(run(db_url, "patients", "find", number, "--json").stdout) == []
