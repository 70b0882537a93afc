"""Active Directory through the window: the sign-in page and the settings screen."""

from __future__ import annotations

import io

import adserver
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from ibdesk.audit import local_admin
from ibdesk.users import directory
from webfixtures import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    HX,
    anon_client,
    app,
    client,
    ensure_admin,
    post,
    sign_in,
    token_only_client,
)

__all__ = ["anon_client", "app", "client"]  # fixtures, imported for pytest to find


@pytest.mark.backends("sqlite")
def test_an_ad_administrator_signs_in_through_the_page(
    app: Flask, session: Session, ad_settings: directory.ADSettings, dc: adserver.SambaDC
) -> None:
    ensure_admin(app)
    directory.save_settings(session, local_admin(), ad_settings)
    session.commit()
    test_client = token_only_client(app)
    junior = sign_in(test_client, "junior", adserver.PASSWORD)
    assert junior.status_code == 401 and "may not sign in here" in junior.get_data(True)
    wrong = sign_in(test_client, "adadmin", "not the password")
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.get_data(True)
    done = sign_in(test_client, "adadmin", adserver.PASSWORD)
    assert done.status_code == 303, done.get_data(True)
    home = test_client.get("/").get_data(as_text=True)
    assert 'id="signed-in-name"' in home and "Ada Admin" in home
    # The password typed again (before user administration) is checked against AD as well.
    bad = post(test_client, "/signin/confirm", {"password": "not the password", "next": "/"})
    assert bad.status_code == 401
    confirm = post(test_client, "/signin/confirm", {"password": adserver.PASSWORD, "next": "/"})
    assert confirm.status_code == 204 and "HX-Redirect" in confirm.headers
    listing = test_client.get("/users/?q=adadmin").get_data(as_text=True)
    row = listing.split('data-user="adadmin"', 1)[1].split("</tr>", 1)[0]
    assert "· Active Directory" in row
    user_id = listing.split('data-user="adadmin"', 1)[0].rsplit('id="user-', 1)[1].split('"')[0]
    edit = test_client.get(f"/users/{user_id}/edit", headers=HX).get_data(as_text=True)
    assert 'id="user-edit-ad"' in edit and 'id="user-password-form"' not in edit
    # The DC goes away: AD users get the clear sentence, the local administrator still gets in.
    other = token_only_client(app)
    dc.stop()
    try:
        down = sign_in(other, "adadmin", adserver.PASSWORD)
        assert down.status_code == 401
        assert "did not answer within 5 seconds" in down.get_data(as_text=True)
        assert sign_in(other, ADMIN_NAME, ADMIN_PASSWORD).status_code == 303
    finally:
        dc.start()


def _form(settings: directory.ADSettings, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "enabled": "y",
        "servers": ", ".join(settings.servers),
        "security": settings.security,
        "ca_file": (io.BytesIO(settings.ca_pem.encode()), "ca.pem"),
        "base_dn": settings.base_dn,
        "bind_user": settings.bind_user,
        "bind_password": adserver.PASSWORD,
        "mappings": "IB Clinic = Clinicians\nCN=IB Admins,CN=Users,DC=ib,DC=test = Administrators",
    }
    return {**data, **extra}


@pytest.mark.backends("sqlite")
def test_the_settings_screen_saves_tests_and_warns(
    client: FlaskClient, session: Session, ad_settings: directory.ADSettings, dc: adserver.SambaDC
) -> None:
    page = client.get("/users/ad").get_data(as_text=True)
    assert 'id="users-ad"' in page and 'id="users-ad-test"' in page
    tested = post(
        client, "/users/ad/test", _form(ad_settings, test_user="junior"), page="/users/ad"
    )
    assert tested.status_code == 200, tested.get_data(True)
    html = tested.get_data(as_text=True)
    assert html.count("users-stage-ok") == 5, html
    for stage in ("TCP", "TLS", "Bind", "User search", "Group resolution"):
        assert f'data-stage="{stage}"' in html
    saved = post(client, "/users/ad", _form(ad_settings), page="/users/ad")
    assert saved.status_code == 200 and "settings were saved" in saved.get_data(True)
    session.expire_all()
    stored = directory.load_settings(session)
    assert stored.enabled and stored.mappings[0] == directory.Mapping(
        f"CN=IB Clinic,CN=Users,{adserver.BASE_DN}", "Clinicians"
    )
    assert adserver.PASSWORD not in stored.to_json()
    session.rollback()  # end the read, so the app's SQLite writes are not kept waiting
    kept = post(client, "/users/ad", _form(ad_settings, ca_file=(io.BytesIO(), ""), keep_ca="y"),
                page="/users/ad")  # fmt: skip
    assert kept.status_code == 200, kept.get_data(True)
    foreign = _form(ad_settings, ca_file=(io.BytesIO(dc.certs.other_ca.read_bytes()), "x.pem"))
    refused = post(client, "/users/ad/test", foreign, page="/users/ad").get_data(as_text=True)
    assert 'data-stage="TLS"' in refused and "not trusted" in refused
    lost = post(client, "/users/ad", _form(ad_settings, mappings="IB Clinic = Hygienists"),
                page="/users/ad")  # fmt: skip
    assert lost.status_code == 422
    assert "There is no user group named Hygienists." in lost.get_data(True)
    insecure = post(
        client,
        "/users/ad",
        _form(ad_settings, insecure="y", ca_file=(io.BytesIO(), "")),
        page="/users/ad",
    )
    assert insecure.status_code == 200
    assert 'id="users-ad-insecure-warning"' in insecure.get_data(True)
    session.expire_all()
    assert directory.load_settings(session).security == directory.PLAIN
    session.rollback()
    none = _form(ad_settings, ca_file=(io.BytesIO(), ""))
    missing = post(client, "/users/ad", none, page="/users/ad")
    assert missing.status_code == 422 and "CA certificate" in missing.get_data(True)
