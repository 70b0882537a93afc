"""Signing in to the window, and the Users & user groups tab, through real requests."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import USER_PASSWORD, make_user
from ibdesk import i18n
from ibdesk.audit import Actor
from ibdesk.models import LoginEvent, SystemEvent, UserAccount
from ibdesk.users import accounts, groups
from ibdesk.users.sessions import IDLE_LIMIT, MAX_AGE, SessionStore
from webfixtures import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    HX,
    TEST_PORT,
    anon_client,
    app,
    client,
    csrf_token,
    ensure_admin,
    post,
    sign_in,
    token_only_client,
)

__all__ = ["anon_client", "app", "client"]  # fixtures, imported for pytest to find


def test_the_window_opens_on_sign_in_and_only_an_administrator_gets_in(
    app: Flask, session: Session
) -> None:
    ensure_admin(app)
    make_user(session, username="klinik", groups=["Clinicians"])
    test_client = token_only_client(app)
    page = test_client.get("/licensing/").get_data(as_text=True)
    assert 'id="signin-form"' in page and 'class="tabs"' not in page
    wrong = sign_in(test_client, ADMIN_NAME, "fel lösenord men långt")
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.get_data(True)
    unknown = sign_in(test_client, "nobody", "fel lösenord men långt")
    assert "Wrong user name or password." in unknown.get_data(True)
    clinician = sign_in(test_client, "klinik", USER_PASSWORD)
    assert clinician.status_code == 401 and "may not sign in here" in clinician.get_data(True)
    assert 'id="signin-form"' in test_client.get("/").get_data(as_text=True)
    done = sign_in(test_client, ADMIN_NAME, ADMIN_PASSWORD)
    assert done.status_code == 303
    cookie = done.headers["Set-Cookie"]
    assert cookie.startswith(f"ibdesk-user-{TEST_PORT}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    home = test_client.get("/").get_data(as_text=True)
    assert 'id="signed-in-name"' in home and "Test Admin" in home and 'id="sign-out"' in home
    reasons = list(session.scalars(select(LoginEvent.reason).order_by(LoginEvent.id)))
    assert reasons == ["wrong password", "unknown user", "no administer right", ""]
    session.rollback()  # end the read, so the app's SQLite writes need not wait
    # Signing in again gives a new session id; the old one opens nothing.
    old = cookie.split(";")[0].split("=", 1)[1]
    again = sign_in(test_client, ADMIN_NAME, ADMIN_PASSWORD)
    assert old not in again.headers["Set-Cookie"]
    stale = token_only_client(app)
    stale.set_cookie(f"ibdesk-user-{TEST_PORT}", old, domain="127.0.0.1")
    assert 'id="signin-form"' in stale.get("/").get_data(as_text=True)


def test_actions_in_the_window_name_the_signed_in_person(
    client: FlaskClient, session: Session
) -> None:
    answer = post(
        client,
        "/users/groups/add",
        {"name": "Hygienister", "rights": "view_patients"},
        page="/users/",
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    event = session.scalar(select(SystemEvent).where(SystemEvent.action == "group.create"))
    assert event is not None and event.user_name == ADMIN_NAME


def test_sign_out_ends_the_session(client: FlaskClient, session: Session) -> None:
    response = post(client, "/signin/out", htmx=False)
    assert response.status_code == 303
    assert 'id="signin-form"' in client.get("/licensing/").get_data(as_text=True)
    assert session.scalar(select(LoginEvent.reason).order_by(LoginEvent.id.desc())) == "signed out"


def test_sessions_end_after_idle_time_and_at_most_twelve_hours() -> None:
    store = SessionStore()
    start = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    started = store.start(1, "anna", "Anna", frozenset({"administer"}), now=start)
    assert store.get(started.id, now=start + IDLE_LIMIT - dt.timedelta(seconds=1))
    assert store.get(started.id, now=start + 2 * IDLE_LIMIT + dt.timedelta(seconds=2)) is None
    busy = store.start(1, "anna", "Anna", frozenset(), now=start)
    moment = start
    while moment < start + MAX_AGE - dt.timedelta(minutes=20):
        moment += dt.timedelta(minutes=20)
        assert store.get(busy.id, now=moment) is not None
    assert store.get(busy.id, now=start + MAX_AGE + dt.timedelta(minutes=1)) is None
    assert not started.is_fresh(start + dt.timedelta(minutes=6))


def test_a_line_break_in_the_sign_in_next_is_encoded_and_the_person_signed_in(
    app: Flask,
) -> None:
    ensure_admin(app)
    browser = token_only_client(app)
    answer = browser.post(
        "/signin/",
        data={
            "csrf_token": csrf_token(browser, "/signin/"),
            "username": ADMIN_NAME,
            "password": ADMIN_PASSWORD,
            "next": "/logs/?kind=a\r\nX-Injected: 1",
        },
    )
    assert answer.status_code == 303 and "X-Injected" not in answer.headers
    assert answer.headers["Location"] == "/logs/?kind=a%0D%0AX-Injected:%201"
    assert f"ibdesk-user-{TEST_PORT}=" in answer.headers["Set-Cookie"]
    assert 'class="tabs"' in browser.get("/").get_data(as_text=True)


def _make_sessions_stale(app: Flask) -> None:
    store: SessionStore = app.extensions["ibdesk.sessions"]
    for key, found in list(store._sessions.items()):
        store._sessions[key] = found.__class__(
            **{**found.__dict__, "fresh_until": found.signed_in_at}
        )


def test_the_wizard_asks_for_the_password_again_once_the_clinic_has_accounts(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    _make_sessions_stale(app)
    before = session.scalar(select(func.count()).select_from(UserAccount))
    steps = [
        ("/wizard/user", {"username": "eve.admin", "password": "x" * 20, "confirm": "x" * 20}),
        ("/wizard/server", {"backend": "sqlite", "folder": "/tmp"}),
        ("/wizard/database/test", {"database": "other.sqlite3"}),
    ]
    for path, data in steps:
        refused = post(client, path, data, page="/wizard/")
        assert refused.status_code == 403, path
        assert "Type your password again" in refused.get_data(True)
    assert session.scalar(select(func.count()).select_from(UserAccount)) == before
    assert "eve.admin" not in {u.username for u in session.scalars(select(UserAccount))}


def test_user_administration_asks_for_the_password_again(app: Flask, client: FlaskClient) -> None:
    from ibdesk.blueprints import signin

    _make_sessions_stale(app)
    page = client.get("/users/")
    assert page.status_code == 303 and "/signin/confirm" in page.headers["Location"]
    refused = post(client, "/users/groups/add", {"name": "X"}, page="/signin/confirm")
    assert refused.status_code == 403 and "Type your password again" in refused.get_data(True)
    wrong = post(
        client,
        "/signin/confirm",
        {"password": "fel lösenord igen!", "next": "/users/"},
        htmx=False,
        page="/signin/confirm",
    )
    assert wrong.status_code == 401
    right = post(
        client,
        "/signin/confirm",
        {"password": ADMIN_PASSWORD, "next": "/users/"},
        htmx=False,
        page="/signin/confirm",
    )
    assert right.status_code == 303 and right.headers["Location"].endswith("/users/")
    assert client.get("/users/").status_code == 200
    assert signin.__name__


def test_add_edit_disable_delete_unlock_through_the_tab(
    client: FlaskClient, session: Session
) -> None:
    bad = post(
        client, "/users/add", {"username": "bo berg", "password": USER_PASSWORD}, page="/users/"
    )
    assert bad.status_code == 422 and "no spaces" in bad.get_data(True)
    short = post(client, "/users/add", {"username": "bo", "password": "kort"}, page="/users/")
    assert short.status_code == 422 and "at least 12" in short.get_data(True)
    added = post(
        client,
        "/users/add",
        {
            "username": "Bo.Berg",
            "display_name": "Bo Berg",
            "password": USER_PASSWORD,
            "groups": ["Reception"],
        },
        page="/users/",
    )
    assert added.status_code == 200 and "bo.berg was created" in added.get_data(True)
    twice = post(
        client, "/users/add", {"username": "BO.BERG", "password": USER_PASSWORD}, page="/users/"
    )
    assert twice.status_code == 422 and "already exists" in twice.get_data(True)
    user_id = accounts.get_user(session, "bo.berg").id
    session.rollback()  # the test's session must not hold SQLite's write lock meanwhile
    edited = post(
        client,
        f"/users/{user_id}/edit",
        {"display_name": "Bo Bergström", "groups": ["Reception", "Clinicians"]},
        page="/users/",
    )
    assert edited.status_code == 200
    session.expire_all()
    assert {g.name for g in accounts.get_user(session, "bo.berg").groups} == {
        "Reception",
        "Clinicians",
    }
    detail = session.scalar(select(SystemEvent.detail).where(SystemEvent.action == "user.edit"))
    assert detail is not None and "'Bo Berg' → 'Bo Bergström'" in detail
    for _ in range(5):
        accounts.authenticate(session, "bo.berg", "fel lösenord!!", "RUM-1")
    session.commit()
    assert "Locked" in client.get("/users/list?q=berg").get_data(as_text=True)
    assert post(client, f"/users/{user_id}/unlock", page="/users/").status_code == 200
    assert post(client, f"/users/{user_id}/disable", page="/users/").status_code == 200
    session.expire_all()
    assert not accounts.get_user(session, "bo.berg").active
    session.rollback()
    assert post(client, f"/users/{user_id}/delete", page="/users/").status_code == 200
    session.expire_all()
    assert accounts.find_user(session, "bo.berg") is None
    admin_id = accounts.get_user(session, ADMIN_NAME).id
    session.rollback()
    last = post(client, f"/users/{admin_id}/disable", page="/users/")
    assert last.status_code == 409 and "no enabled administrator" in last.get_data(True)
    session.expire_all()
    assert accounts.get_user(session, ADMIN_NAME).active


def test_the_users_list_is_searched_and_paged(client: FlaskClient, session: Session) -> None:
    for n in range(55):
        session.add(
            accounts.UserAccount(
                username=f"u{n:03}",
                display_name=f"Användare {n}",
                source="local",
                active=True,
                failed_count=0,
            )
        )
    session.commit()
    first = client.get("/users/list?q=u0").get_data(as_text=True)
    assert "55 users, page 1 of 2" in first.replace("\u00a0", " ")
    second = client.get("/users/list?q=u0&page=2", headers=HX).get_data(as_text=True)
    assert 'data-user="u054"' in second and 'data-user="u000"' not in second


@pytest.mark.parametrize("path", ["/users/", "/users/list"])
def test_the_tab_needs_a_sign_in(app: Flask, path: str) -> None:
    ensure_admin(app)
    assert 'id="signin-form"' in token_only_client(app).get(path).get_data(as_text=True)


def test_a_recovery_shows_on_the_overview_until_acknowledged(
    client: FlaskClient, session: Session
) -> None:
    from ibdesk.audit import Actor
    from ibdesk.users import recovery

    make_user(session, username="borta", is_admin=True)
    recovery.recover(session, Actor("root", "server"), "borta", "ett nytt och långt lösenord")
    session.commit()
    page = client.get("/").get_data(as_text=True)
    assert 'data-field="recovery"' in page and "borta" in page
    assert post(client, "/users/recovery/acknowledge", htmx=False).status_code == 303
    assert 'data-field="recovery"' not in client.get("/").get_data(as_text=True)


def test_one_user_and_one_member_are_counted_in_the_singular(
    app: Flask, client: FlaskClient
) -> None:
    # A new clinic has one administrator in one group: "1 users" and "1 members" read wrong.
    english = client.get("/users/").get_data(as_text=True).replace("\u00a0", " ")
    assert "1 user, page 1 of 1" in english and "1 member<" in english
    assert "1 users" not in english and "1 members" not in english
    i18n.set_app_language(app, "sv")
    swedish = client.get("/users/").get_data(as_text=True).replace("\u00a0", " ")
    assert "1 användare, sida 1 av 1" in swedish and "1 medlem<" in swedish
    assert "0 medlemmar" in swedish  # the other groups, in the plural


def test_the_seeded_group_descriptions_read_in_the_window_language(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    # The three groups a new database is made with carry English descriptions (migration
    # 0004); the Swedish window shows them in Swedish, and one a clinic wrote as written.
    seeds = importlib.import_module("ibdesk.migrations.versions.0004_user_groups").SEEDS
    assert {text for text, _rights in seeds.values()} == set(groups.SEEDED_DESCRIPTIONS)
    groups.create_group(session, Actor("test", "test"), "Röntgen", "Everything, we said.", ())
    session.commit()
    i18n.set_app_language(app, "sv")
    swedish = client.get("/users/").get_data(as_text=True)
    assert "Allt, även användare, användargrupper och inställningar." in swedish
    assert "Receptionen: söka och registrera patienter." in swedish
    assert "Front desk" not in swedish and "Everything, including" not in swedish
    assert "Everything, we said." in swedish
    i18n.set_app_language(app, "en")
    english = client.get("/users/").get_data(as_text=True)
    assert "Front desk: find and register patients." in english
