"""Active Directory sign-in against a real Samba AD DC (see adserver.py for its users)."""

from __future__ import annotations

import contextlib
import dataclasses
import time

import adserver
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import USER_PASSWORD, make_user
from ibdesk import clients
from ibdesk.audit import local_admin
from ibdesk.errors import NotFound, Refused
from ibdesk.models import LoginEvent, Right, SystemEvent, UserAccount
from ibdesk.users import accounts, adaccounts, adcheck, admins, directory, lists

PASSWORD = adserver.PASSWORD
CLINIC = f"CN=IB Clinic,CN=Users,{adserver.BASE_DN}"


def use(session: Session, settings: directory.ADSettings) -> None:
    """Store the AD settings as the clinic's."""
    directory.save_settings(session, local_admin(), settings)
    session.commit()


def sign_in(session: Session, name: str, password: str = PASSWORD, **kwargs: object):
    """Sign in at workstation ws1 and commit the login log."""
    outcome = accounts.authenticate(session, name, password, "ws1", **kwargs)  # type: ignore[arg-type]
    session.commit()
    return outcome


def last_login(session: Session) -> LoginEvent:
    event = session.scalar(select(LoginEvent).order_by(LoginEvent.id.desc()).limit(1))
    assert event is not None
    return event


def test_ad_user_signs_in_and_nested_groups_give_the_rights(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    use(session, ad_settings)
    outcome = sign_in(session, "junior", need=Right.VIEW_PATIENTS)
    assert outcome.ok, outcome.message
    user = outcome.user
    assert user is not None
    # junior is in IB Juniors ⊂ IB Dentists ⊂ IB Clinic, and IB Clinic maps to Clinicians.
    assert [g.name for g in user.groups] == ["Clinicians"]
    clinicians = {g.name: g for g in accounts._groups_named(session, ["Clinicians"])}
    assert user.rights == clinicians["Clinicians"].right_names
    assert Right.ADMINISTER.value not in user.rights
    assert user.source == "ad" and len(user.ad_guid or "") == 36
    assert last_login(session).success and last_login(session).reason == "Active Directory"
    listed = lists.list_users(session, "junior").rows
    assert [(u.username, u.source) for u in listed] == [("junior", "ad")]
    # Not an administrator: the window refuses them.
    refused = sign_in(session, "junior", need=Right.ADMINISTER)
    assert not refused.ok and "may not sign in here" in refused.message


@pytest.mark.backends("sqlite")
def test_workstation_login_and_the_rights_union(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    # A second mapping of a group adadmin is not in changes nothing; Administrators give all.
    use(session, ad_settings)
    user = clients.login(session, "adadmin@ib.test", PASSWORD, "ws2")
    assert {g.name for g in user.groups} == {"Administrators"}
    assert user.rights == frozenset(r.value for r in Right)
    actor = clients.actor_for(user, "ws2")
    assert actor.user == "adadmin"


@pytest.mark.backends("sqlite")
def test_a_disabled_account_is_refused(session: Session, ad_settings: directory.ADSettings) -> None:
    use(session, ad_settings)
    outcome = sign_in(session, "gone")
    assert not outcome.ok
    assert outcome.message == "This account is disabled in Active Directory; ask an administrator."
    assert last_login(session).reason == "AD: account disabled"
    # With a wrong password it says no more than for anyone else.
    assert sign_in(session, "gone", "wrong").message == accounts.wrong_message()


@pytest.mark.backends("sqlite")
def test_wrong_password_is_ads_52e_and_reads_like_an_unknown_user(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    use(session, ad_settings)
    with pytest.raises(directory.BindRefused) as raised:
        directory.connect(ad_settings, "junior@ib.test", "not the password")
    assert raised.value.code == "52e"
    wrong = sign_in(session, "junior", "not the password")
    unknown = sign_in(session, "nobody-here", "not the password")
    assert wrong.message == unknown.message == accounts.wrong_message()
    assert last_login(session).reason == "AD: wrong password"
    # An empty password would be an anonymous bind, which AD lets through: refused here.
    assert sign_in(session, "junior", "").message == accounts.wrong_message()


@pytest.mark.backends("sqlite")
def test_a_certificate_from_an_unknown_ca_is_refused(
    session: Session, ad_settings: directory.ADSettings, dc: adserver.SambaDC
) -> None:
    foreign = dataclasses.replace(ad_settings, ca_pem=dc.certs.other_ca.read_text())
    use(session, foreign)
    outcome = sign_in(session, "junior")
    assert not outcome.ok and "is not trusted" in outcome.message
    for security in (directory.LDAPS, directory.STARTTLS):
        stages = adcheck.test_connection(dataclasses.replace(foreign, security=security), set())
        assert [(s.name, s.ok) for s in stages] == [("TCP", True), ("TLS", False)]
        assert (
            "certificate verify failed" in stages[1].message or "not trusted" in stages[1].message
        )


@pytest.mark.backends("sqlite")
def test_starttls_signs_in_too(session: Session, ad_settings: directory.ADSettings) -> None:
    use(session, dataclasses.replace(ad_settings, security=directory.STARTTLS))
    assert sign_in(session, "adadmin").ok


@pytest.mark.backends("sqlite")
def test_ldap_filter_injection_finds_nothing(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    use(session, ad_settings)
    assert directory.find_users(ad_settings, "")  # the lookup account sees users ...
    assert directory.find_users(ad_settings, "*)(cn=*") == []  # ... but not through this
    assert directory.find_groups(ad_settings, "*)(cn=*") == []
    assert [u.username for u in directory.find_users(ad_settings, "juni")] == ["junior"]
    outcome = sign_in(session, "*)(cn=*")
    assert outcome.message == accounts.wrong_message()
    stages = adcheck.test_connection(ad_settings, {"Clinicians"}, user="*)(cn=*")
    assert stages[-1].name == "User search" and not stages[-1].ok


@pytest.mark.backends("sqlite")
def test_the_dc_going_away_mid_session(
    session: Session, ad_settings: directory.ADSettings, dc: adserver.SambaDC
) -> None:
    use(session, ad_settings)
    admin = make_user(session, username="lokal.admin", is_admin=True)
    assert sign_in(session, "junior").ok
    dc.stop()
    try:
        started = time.monotonic()
        outcome = sign_in(session, "junior")
        took = time.monotonic() - started
        assert not outcome.ok
        assert outcome.message == directory.unreachable_message(ad_settings)
        assert "local ImageBank accounts still can" in outcome.message
        assert took <= directory.TIMEOUT
        local = sign_in(session, admin.username, USER_PASSWORD, need=Right.ADMINISTER)
        assert local.ok, local.message
        stages = adcheck.test_connection(ad_settings, set())
        assert [(s.name, s.ok) for s in stages] == [("TCP", False)]
    finally:
        dc.start()
    assert sign_in(session, "junior").ok


@pytest.mark.backends("sqlite")
def test_a_dc_that_accepts_and_never_answers_times_out(
    session: Session, ad_settings: directory.ADSettings, silent_server: int
) -> None:
    hung = dataclasses.replace(ad_settings, servers=("127.0.0.1",), port=silent_server)
    use(session, hung)
    outcome = sign_in(session, "junior")
    assert outcome.message == directory.unreachable_message(hung)


@pytest.mark.backends("sqlite")
def test_a_user_named_with_swedish_letters(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    use(session, ad_settings)
    outcome = sign_in(session, "Åsa.Öberg", need=Right.ADMINISTER)
    assert outcome.ok, outcome.message
    assert outcome.user is not None and outcome.user.username == "åsa.öberg"
    assert outcome.user.display_name == "Åsa Ängström Öberg"
    assert [u.username for u in directory.find_users(ad_settings, "ängström")] == ["åsa.öberg"]


@pytest.mark.backends("sqlite")
def test_renamed_and_recreated_accounts_are_not_the_old_user(
    session: Session, ad_settings: directory.ADSettings, dc: adserver.SambaDC
) -> None:
    use(session, ad_settings)
    first = sign_in(session, "recreated").user
    assert first is not None
    old_guid, old_id = first.ad_guid, first.id
    # Renamed in AD: the same person, the same row under the new name.
    dc.tool("user", "rename", "recreated", "--samaccountname=renamed", "--upn=renamed@ib.test")
    dc.tool("user", "create", "recreated", PASSWORD)
    renamed = sign_in(session, "renamed").user
    assert renamed is not None and (renamed.id, renamed.ad_guid) == (old_id, old_guid)
    assert renamed.username == "renamed"
    # A new account under the old name is someone else: a row of its own.
    newcomer = sign_in(session, "recreated").user
    assert newcomer is not None and newcomer.id != old_id and newcomer.ad_guid != old_guid
    # Deleted and made again with the same name: refused, not taken for the previous one.
    dc.tool("user", "delete", "recreated")
    dc.tool("user", "create", "recreated", PASSWORD)
    again = sign_in(session, "recreated")
    assert not again.ok and "re-created" in again.message
    assert last_login(session).reason == "AD: objectGUID differs"
    # Once an administrator disables the old row, the new account gets a row of its own.
    accounts.set_active(session, local_admin(), "recreated", False)
    session.commit()
    third = sign_in(session, "recreated").user
    assert third is not None and third.id not in (old_id, newcomer.id)
    rows = session.scalars(select(UserAccount).where(UserAccount.source == "ad")).all()
    replaced = f"recreated.replaced-{(newcomer.ad_guid or '')[:8]}"
    assert {u.username for u in rows} == {"renamed", "recreated", replaced}


@pytest.mark.backends("sqlite")
def test_a_lookup_account_with_no_rights_gives_one_sentence(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    blind = dataclasses.replace(ad_settings, bind_user="norights@ib.test")
    stages = adcheck.test_connection(blind, {"Clinicians", "Administrators"})
    assert [(s.name, s.ok) for s in stages][-2:] == [("Bind", True), ("User search", False)]
    assert stages[-1].message == (
        "The lookup account found no user under DC=ib,DC=test: check the base DN, and that "
        "the account may read the directory."
    )
    directory.save_password("wrong")
    stages = adcheck.test_connection(ad_settings, set())
    assert stages[-1].message == (
        "Active Directory refused the lookup account bind@ib.test; check its name and password."
    )


@pytest.mark.backends("sqlite")
def test_a_mapping_to_a_group_that_no_longer_exists(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    lost = directory.Mapping(CLINIC, "Hygienists")
    use(session, dataclasses.replace(ad_settings, mappings=(lost,)))
    stages = adcheck.test_connection(
        dataclasses.replace(ad_settings, mappings=(lost,)), {"Clinicians"}, user="junior"
    )
    assert stages[-1].message == (
        f"The AD group {CLINIC} is mapped to the ImageBank group Hygienists, which no longer "
        "exists; map it again or remove the mapping."
    )
    outcome = sign_in(session, "junior")  # signs in, with no rights, and the log says why
    assert outcome.user is not None and outcome.user.groups == []
    warning = session.scalar(select(SystemEvent).where(SystemEvent.action == "ad.mapping_missing"))
    assert warning is not None and "Hygienists" in warning.detail
    with pytest.raises(NotFound, match=r"There is no user group named Hygienists\."):
        adaccounts.set_mapping(session, local_admin(), CLINIC, "Hygienists")
    adaccounts.set_mapping(session, local_admin(), "IB Clinic", "Reception")  # a name, looked up
    assert directory.load_settings(session).mappings[-1] == directory.Mapping(CLINIC, "Reception")
    with pytest.raises(directory.DirectoryError, match=r"Active Directory has no group named X\."):
        adaccounts.set_mapping(session, local_admin(), "X", "Reception")


@pytest.mark.backends("sqlite")
def test_the_connection_test_reports_every_stage(
    session: Session, ad_settings: directory.ADSettings, dc: adserver.SambaDC
) -> None:
    stages = adcheck.test_connection(ad_settings, {"Clinicians", "Administrators"}, "junior")
    assert [(s.name, s.ok) for s in stages] == [
        ("TCP", True),
        ("TLS", True),
        ("Bind", True),
        ("User search", True),
        ("Group resolution", True),
    ]
    assert dc.address in stages[1].message and "trusted" in stages[1].message
    assert "mapped to: Clinicians" in stages[-1].message
    plain = dataclasses.replace(ad_settings, security=directory.PLAIN, ca_pem="")
    stages = adcheck.test_connection(plain, {"Clinicians", "Administrators"}, "junior")
    assert stages[1] == adcheck.Stage(
        "TLS", False, "Plain LDAP: passwords cross the network unencrypted (for testing only)."
    )
    assert stages[-1].ok  # the insecure switch does work, against a test DC


@pytest.mark.backends("sqlite")
def test_settings_are_checked_and_the_password_stays_on_this_computer(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    use(session, ad_settings)
    stored = session.scalar(select(SystemEvent).where(SystemEvent.action == "ad.settings"))
    assert stored is not None and PASSWORD not in stored.detail
    assert PASSWORD not in (directory.load_settings(session).to_json())
    assert directory.password_path().stat().st_mode & 0o777 == 0o600
    with pytest.raises(directory.UserError, match="no PEM certificate"):
        directory.save_settings(
            session, local_admin(), dataclasses.replace(ad_settings, ca_pem="junk")
        )
    with pytest.raises(directory.UserError, match="CA certificate"):
        directory.save_settings(session, local_admin(), dataclasses.replace(ad_settings, ca_pem=""))
    with pytest.raises(directory.UserError, match="not a server name"):
        directory.save_settings(
            session, local_admin(), dataclasses.replace(ad_settings, servers=("a b",))
        )


@pytest.mark.backends("sqlite")
def test_an_ad_user_confirms_their_password_against_ad(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    use(session, ad_settings)
    user = sign_in(session, "adadmin").user
    assert user is not None
    assert accounts.check_password(session, user, PASSWORD)
    assert not accounts.check_password(session, user, "wrong")
    with pytest.raises(Refused, match="managed in Active Directory"):
        accounts.set_password(session, local_admin(), "adadmin", "a brand new long password")


def test_without_samba_ci_fails_and_a_developer_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    import adfixtures

    monkeypatch.setattr(adserver, "installed", lambda: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="not installed"):
        adfixtures.require_samba()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        adfixtures.require_samba()


@pytest.mark.backends("sqlite")
def test_a_trusted_certificate_that_does_not_name_the_server_is_refused(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    # 2130706434 is 127.0.0.2 written as one number: the same DC, under a name its
    # certificate (dc1.ib.test, 127.0.0.2) does not carry.
    other_name = dataclasses.replace(ad_settings, servers=("2130706434",))
    stages = adcheck.test_connection(other_name, set())
    assert [(s.name, s.ok) for s in stages] == [("TCP", True), ("TLS", False)]
    assert "Hostname mismatch" in stages[1].message
    use(session, other_name)
    outcome = sign_in(session, "junior")
    assert not outcome.ok and "is not trusted" in outcome.message


@pytest.mark.backends("sqlite")
def test_an_account_locked_in_ad_is_refused(
    session: Session, ad_settings: directory.ADSettings, dc: adserver.SambaDC
) -> None:
    use(session, ad_settings)
    dc.tool("user", "create", "locky", PASSWORD)
    dc.tool("domain", "passwordsettings", "set", "--account-lockout-threshold=3")
    try:
        for _ in range(3):
            assert sign_in(session, "locky", "not the password").message == (
                accounts.wrong_message()
            )
        locked = sign_in(session, "locky")  # the right password, but AD has locked it
        assert not locked.ok
        assert locked.message == "This account is locked in Active Directory; ask an administrator."
        assert last_login(session).reason == "AD: account locked"
    finally:
        dc.tool("domain", "passwordsettings", "set", "--account-lockout-threshold=0")


@pytest.mark.backends("sqlite")
def test_the_account_signed_in_is_the_one_the_bind_accepted(
    session: Session, ad_settings: directory.ADSettings, dc: adserver.SambaDC
) -> None:
    # carl's UPN is not his account name; mallory lives outside the narrower base DN.
    dc.tool("ou", "create", f"OU=Elsewhere,{adserver.BASE_DN}")
    try:
        dc.tool("user", "create", "mallory", PASSWORD, "--userou=OU=Elsewhere")
        dc.tool("user", "create", "carl", PASSWORD)
        dc.tool("user", "rename", "carl", "--upn=carl.berg@ib.test")
        narrow = dataclasses.replace(ad_settings, base_dn=f"CN=Users,{adserver.BASE_DN}")
        # By account name (AD's implicit UPN) or by the UPN written on the account.
        assert directory.sign_in(narrow, "carl", PASSWORD).username == "carl"
        assert directory.sign_in(narrow, "carl.berg@ib.test", PASSWORD).username == "carl"
        assert directory.sign_in(narrow, r"IB\carl", PASSWORD).username == "carl"
        # An account the bind accepts but that lies outside the base DN is nobody here.
        with pytest.raises(directory.DirectoryError, match="cannot be found under CN=Users"):
            directory.sign_in(narrow, "mallory", PASSWORD)
        assert directory.sign_in(ad_settings, "mallory@ib.test", PASSWORD).username == "mallory"
    finally:
        for name in ("mallory", "carl"):
            with contextlib.suppress(RuntimeError):  # not made: a step before failed
                dc.tool("user", "delete", name)
        dc.tool("ou", "delete", f"OU=Elsewhere,{adserver.BASE_DN}")


@pytest.mark.backends("sqlite")
def test_active_directory_cannot_take_the_right_from_the_last_administrator(
    session: Session, ad_settings: directory.ADSettings
) -> None:
    # adadmin is the only administrator (no local one). Before, once AD no longer made them
    # one, the next sign-in left none, and the window opened to anyone as "setting up".
    use(session, ad_settings)
    assert sign_in(session, "adadmin", need=Right.ADMINISTER).ok
    without = dataclasses.replace(ad_settings, mappings=ad_settings.mappings[:1])
    use(session, without)
    again = sign_in(session, "adadmin", need=Right.ADMINISTER)
    assert again.ok, again.message
    assert admins.count_admins(session) == 1
    kept = session.scalar(select(SystemEvent).where(SystemEvent.action == "ad.last_admin_kept"))
    assert kept is not None and kept.level == "warning" and "adadmin" in kept.detail
    make_user(session, username="lokal.admin", is_admin=True)  # another administrator now
    session.commit()
    demoted = sign_in(session, "adadmin", need=Right.ADMINISTER)
    assert not demoted.ok and "may not sign in here" in demoted.message
    assert admins.count_admins(session) == 1
