"""General settings' database users through real requests on PostgreSQL: listed, a new
password, removed after a confirmation; SQLite says it has none."""

from __future__ import annotations

import html as entities
import uuid

import pytest
from flask.testing import FlaskClient
from test_settings_views import configured, events
from test_wizard_views import html, post

from ibdesk.settings import dbadmin, dblogins

__all__ = ["configured"]  # the fixture, imported for pytest to find
PASSWORD = "ett långt lösenord 42"


@pytest.mark.backends("postgresql")
def test_database_users_listed_given_a_password_and_removed(
    configured: FlaskClient, db_url: str
) -> None:
    login = f"rum_{uuid.uuid4().hex[:8]}"
    dbadmin.create_login(db_url, login, PASSWORD)
    page = entities.unescape(configured.get("/settings/").text)
    assert f'data-login="{login}"' in page and "owns the database" in page
    assert "Remove the database user" in page  # the confirmation says what happens

    short = post(configured, f"/settings/login/{login}/password", {"new_password": "kort"})
    assert short.status_code == 400 and "at least 12" in html(short)
    changed = post(
        configured, f"/settings/login/{login}/password", {"new_password": "ett nytt långt 77"}
    )
    assert changed.status_code == 200 and f"Login {login} has a new password." in html(changed)
    assert "ett nytt långt 77" not in html(changed)
    removed = post(configured, f"/settings/login/{login}/remove", {})
    assert removed.status_code == 200 and f"Login {login} removed." in html(removed)
    assert f'data-login="{login}"' not in html(removed)
    assert login not in [item.name for item in dblogins.list_logins(db_url)]
    assert events(db_url, "db.drop_login") == [login]
    gone = post(configured, f"/settings/login/{login}/remove", {})
    assert gone.status_code == 404 and "no login named" in html(gone)


def test_the_tools_are_listed_in_one_place_as_the_manual_lists_them(
    configured: FlaskClient,
) -> None:
    page = entities.unescape(configured.get("/settings/").text)
    tools = page[page.index('data-field="tool-list"') :].split("</ul>", 1)[0]
    names = [
        "Back up the database",
        "Attach an existing 2.1 database",
        "Update the database",
        "Create a new 2.1 database",
        "Start the quick-start guide",
        "Database users",
    ]
    places = [tools.index(name) for name in names]
    assert places == sorted(places)
    assert "1.2 conversion" not in tools  # no conversion tab in this program yet
    assert 'href="/wizard/step/1?fresh=1"' in tools
