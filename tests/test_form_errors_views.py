"""Every error of a form at once: a form with several wrong fields answers with all of them,
each next to its own field (in the field's error list), through real requests (CSRF on).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient
from test_wizard_views import (
    _upload,
    close,
    html,
    license_file,
    make_client,
    sqlite_steps_1_2,
)
from werkzeug.test import TestResponse

from ibdesk import config, limits
from webfixtures import HX, app, client, post

__all__ = ["app", "client"]  # fixtures, imported for pytest to find

_ERRORS = re.compile(r'<ul class="field-errors" id="([^"]+)-errors">(.*?)</ul>', re.S)


def field_errors(response: TestResponse) -> dict[str, list[str]]:
    """Return each field's error messages, by field id, as the page shows them."""
    found: dict[str, list[str]] = {}
    for field_id, items in _ERRORS.findall(html(response)):
        messages = [unescape(m).strip() for m in re.findall(r"<li>(.*?)</li>", items, re.S)]
        found.setdefault(field_id, []).extend(messages)
    return found


def assert_all_shown(response: TestResponse, expected: dict[str, str]) -> None:
    """Check the answer is 422 and every field named has its message under it."""
    assert response.status_code == 422, html(response)[:2000]
    shown = field_errors(response)
    for field_id, message in expected.items():
        assert any(message in m for m in shown.get(field_id, [])), (field_id, message, shown)


@pytest.fixture
def wizard() -> Iterator[FlaskClient]:
    test_client = make_client()
    yield test_client
    close(test_client)


def test_wizard_step_1_shows_every_wrong_field(wizard: FlaskClient) -> None:
    empty = post(
        wizard,
        "/wizard/server",
        {"backend": "postgresql", "host": "", "port": "99999", "user": ""},
        page="/wizard/",
    )
    assert_all_shown(
        empty,
        {
            "host": "Type the database server's name or address.",
            "port": "The port must be a number from 1 to 65535.",
            "user": "Type the user name to sign in with.",
        },
    )
    typo = post(
        wizard,
        "/wizard/server",
        {"backend": "postgresql", "host": "min server", "port": "0"},
        page="/wizard/",
    )
    assert_all_shown(
        typo,
        {
            "host": "'min server' is not a server name or address.",
            "port": "The port must be a number from 1 to 65535.",
            "user": "Type the user name to sign in with.",
        },
    )
    assert config.load().get("database_url") is None


def test_wizard_step_4_shows_the_name_and_the_password_wrong_together(
    wizard: FlaskClient, vendor_key: Ed25519PrivateKey
) -> None:
    sqlite_steps_1_2(wizard)
    installed = post(wizard, "/wizard/license", {"file": _upload(license_file(vendor_key))})
    assert installed.status_code == 200
    both = post(wizard, "/wizard/user", {"username": "a b", "password": "kort"})
    assert_all_shown(
        both,
        {
            "username": "A user name is 2 to 64 letters, digits or . - _ @ with no spaces.",
            "password": "The password must be at least 12 characters long",
        },
    )
    contains = post(wizard, "/wizard/user", {"username": "x", "password": "x-is-in-here-42"})
    assert_all_shown(
        contains,
        {"username": "A user name is 2 to 64", "password": "must not contain the user name"},
    )


@pytest.fixture
def settings(db_url: str) -> Iterator[FlaskClient]:
    config.set_database_url(db_url)
    test_client = make_client()
    yield test_client
    close(test_client)


@pytest.mark.backends("postgresql")
def test_settings_database_user_shows_the_name_and_the_password_wrong_together(
    settings: FlaskClient, backend: str
) -> None:
    both = post(settings, "/settings/login", {"login-login": "1 fel", "login-password": "kort"})
    assert_all_shown(
        both,
        {
            "login-login": "A login name is 2 to 63 letters, digits or _, starting with a letter.",
            "login-password": "The login's password must be at least 12 characters long.",
        },
    )


def test_settings_attach_shows_every_wrong_field(settings: FlaskClient, backend: str) -> None:
    if backend == "sqlite":
        answer = post(settings, "/settings/attach", {"attach-path": ""})
        assert_all_shown(answer, {"attach-path": "Type the path of the database file."})
        return
    answer = post(settings, "/settings/attach", {"attach-path": "", "attach-name": "1 fel"})
    assert_all_shown(
        answer,
        {
            "attach-path": "Type the path of the database file.",
            "attach-name": "A database name is 1 to 63 letters",
        },
    )


@pytest.mark.backends("sqlite")
def test_licensing_and_export_show_every_wrong_field(client: FlaskClient, backend: str) -> None:
    no_file = post(client, "/licensing/install", {}, page="/licensing/")
    assert_all_shown(no_file, {"file": "Choose the license file the vendor sent."})

    export = post(
        client,
        "/export/",
        {"which": "selected", "to": "relativ/mapp", "jobs": "0", "patient": "x"},
        page="/export/",
    )
    assert_all_shown(
        export,
        {
            "to": "Give the folder's whole path",
            "jobs": "Give a number of parallel jobs from 1 to 64.",
            "patient": "The list of patients on this page is damaged; reload the page.",
        },
    )


@pytest.mark.backends("sqlite")
def test_the_searches_and_filters_show_every_wrong_field(client: FlaskClient, backend: str) -> None:
    too_long = "ö" * (limits.SEARCH_MAX + 1)
    found = client.get("/patients/", query_string={"q": too_long}, headers=HX)
    assert found.status_code == 400
    assert "The search is too long: type at most 200 characters." in unescape(html(found))
    logs = client.get(
        "/logs/",
        query_string={"personnummer": "19850312-23x8", "since": "2026-13-01", "until": "igår"},
        headers=HX,
    )
    shown = field_errors(logs)
    assert shown.get("personnummer") and shown["personnummer"][0].endswith("."), shown
    assert (
        shown.get("since")
        == shown.get("until")
        == ["Write the date as YYYY-MM-DD, for example 2026-03-04."]
    ), shown


@pytest.mark.backends("sqlite")
def test_conversion_shows_every_wrong_field(client: FlaskClient, backend: str) -> None:
    answer = post(
        client,
        "/conversion/test",
        {"backend": "mssql", "database": "", "images": ""},
        page="/conversion/",
    )
    assert_all_shown(
        answer,
        {
            "database": "Type the 1.2 database's name or file.",
            "images": "Type the 1.2 image folder.",
        },
    )


@pytest.mark.backends("sqlite")
def test_a_conversion_step_shows_the_source_fields_wrong_under_them(
    client: FlaskClient, backend: str
) -> None:
    answer = post(
        client,
        "/conversion/step/1",
        {"backend": "mssql", "database": "", "images": ""},
        page="/conversion/",
    )
    assert_all_shown(
        answer,
        {
            "database": "Type the 1.2 database's name or file.",
            "images": "Type the 1.2 image folder.",
        },
    )
    page = html(answer)
    swapped = 'aria-labelledby="conversion-source-title" hx-swap-oob="true"'
    assert swapped in page
    assert "each field&#39;s problem is shown under it" in page
