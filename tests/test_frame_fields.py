"""Every field of every page is checked by the server, in the window's language.

The browser's own checks (``required``, ``minlength``, ``min``/``max``, ``pattern``) show a
bubble in the browser's language ("Please fill out this field." on an English Windows, under
a Swedish window) and block the form before the server can say what is wrong under the
field. So no page carries them; a required field is announced with ``aria-required``.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from lxml import html as lxml_html

from ibdesk import i18n, tabs
from webfixtures import app, client, ensure_admin, post, token_only_client

__all__ = ["app", "client"]  # fixtures, imported for pytest to find

BROWSER_CHECKS = ("required", "minlength", "min", "max", "pattern")
PAGES = (
    "/",
    *(f"/{t.id}/" for t in tabs.TABS),
    "/users/ad",
)


def _fields(page: str) -> list[lxml_html.HtmlElement]:
    tree = lxml_html.fromstring(page)
    return list(tree.iter("input", "select", "textarea"))


def test_no_page_asks_the_browser_to_check_a_field(client: FlaskClient) -> None:
    required = 0
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 200, path
        for element in _fields(answer.get_data(as_text=True)):
            checks = [name for name in BROWSER_CHECKS if name in element.attrib]
            assert checks == [], (path, element.get("name"), checks)
            required += element.get("aria-required") == "true"
    assert required >= 5  # the required fields of the wizard, users, backup... say so


def test_an_empty_required_field_gets_the_servers_sentence_in_swedish(app: Flask) -> None:
    ensure_admin(app)
    test_client = token_only_client(app)
    signin = test_client.get("/signin/").get_data(as_text=True)
    assert [e.get("name") for e in _fields(signin) if e.get("aria-required")] == [
        "username",
        "password",
    ]
    i18n.set_app_language(app, "sv")
    answer = post(test_client, "/signin/", {"username": "", "password": ""}, page="/signin/")
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "Skriv ditt användarnamn." in page and "Skriv ditt lösenord." in page
