"""``ibdesk ad set|show|test|users|groups|map`` against the real Samba AD DC."""

from __future__ import annotations

import json
from pathlib import Path

import adserver
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from factories import USER_PASSWORD, make_user
from ibdesk.cli import main
from ibdesk.users import directory


def run(db_url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], input=stdin, catch_exceptions=False)


@pytest.mark.backends("sqlite")
def test_ad_commands_set_up_test_and_map(
    db_url: str, session: Session, dc: adserver.SambaDC, tmp_path: Path
) -> None:
    make_user(session, username="chefen", is_admin=True)
    refused = run(db_url, "ad", "test")
    assert refused.exit_code != 0 and "Sign in first with: ibdesk login" in refused.stderr
    login = run(db_url, "login", "--user", "chefen", "--password-stdin", stdin=USER_PASSWORD + "\n")
    assert login.exit_code == 0, login.stderr
    no_ca = run(
        db_url, "ad", "set", "--enable", "--server", dc.address, "--base-dn", adserver.BASE_DN
    )
    assert no_ca.exit_code != 0 and "CA certificate" in no_ca.stderr
    done = run(
        db_url, "ad", "set", "--enable", "--server", dc.address, "--base-dn", adserver.BASE_DN,
        "--ca-file", str(dc.certs.ca), "--bind-user", "bind@ib.test", "--bind-password-stdin",
        stdin=adserver.PASSWORD + "\n",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    shown = json.loads(run(db_url, "ad", "show", "--json").stdout)
    assert shown["servers"] == [dc.address] and shown["port"] == 636 and shown["bind_password_here"]
    mapped = run(db_url, "ad", "map", "IB Clinic", "Clinicians", "--json")
    assert mapped.exit_code == 0, mapped.stderr
    assert json.loads(mapped.stdout) == [
        {"ad_group": f"CN=IB Clinic,CN=Users,{adserver.BASE_DN}", "group": "Clinicians",
         "group_exists": True}
    ]  # fmt: skip
    lost = run(db_url, "ad", "map", "IB Admins", "Hygienists")
    assert lost.exit_code != 0 and "There is no user group named Hygienists." in lost.stderr
    tested = run(db_url, "ad", "test", "--user", "junior", "--json")
    assert tested.exit_code == 0, tested.stdout
    result = json.loads(tested.stdout)
    assert result["ok"] and [s["name"] for s in result["stages"]] == [
        "TCP", "TLS", "Bind", "User search", "Group resolution",
    ]  # fmt: skip
    text = run(db_url, "ad", "test").stdout.splitlines()
    assert len(text) == 5 and text[0].startswith("✓ TCP: ")
    users = json.loads(run(db_url, "ad", "users", "ängström", "--json").stdout)
    assert [u["username"] for u in users] == ["åsa.öberg"]
    injected = run(db_url, "ad", "users", "*)(cn=*")
    assert (
        injected.exit_code == 0 and injected.stdout.strip() == "No Active Directory user matches."
    )
    listed = json.loads(run(db_url, "ad", "groups", "IB", "--json").stdout)
    by_name = {g["name"]: g["mapped_to"] for g in listed}
    assert by_name["IB Clinic"] == "Clinicians" and by_name["IB Juniors"] is None
    assert run(db_url, "ad", "map", "IB Clinic", "--remove").exit_code == 0
    assert run(db_url, "ad", "map").stdout.strip() == "No AD group is mapped."
    # An AD user signs in on the command line too.
    ad_login = run(
        db_url, "login", "--user", "adadmin", "--password-stdin", stdin=adserver.PASSWORD + "\n"
    )
    assert ad_login.exit_code == 0, ad_login.stderr


@pytest.mark.backends("sqlite")
def test_ad_test_fails_with_one_line_per_stage(
    db_url: str, session: Session, dc: adserver.SambaDC
) -> None:
    make_user(session, username="chefen", is_admin=True)
    run(db_url, "login", "--user", "chefen", "--password-stdin", stdin=USER_PASSWORD + "\n")
    run(
        db_url, "ad", "set", "--enable", "--server", dc.address, "--base-dn", adserver.BASE_DN,
        "--ca-file", str(dc.certs.other_ca), "--bind-user", "bind@ib.test",
    )  # fmt: skip
    failed = run(db_url, "ad", "test")
    assert failed.exit_code == 1
    lines = failed.stdout.splitlines()
    assert lines[0].startswith("✓ TCP") and lines[1].startswith("✗ TLS") and len(lines) == 2
    assert directory.password_path().exists() is False
    down = run(db_url, "ad", "users")
    assert down.exit_code != 0 and "password is not kept on this computer" in down.stderr
