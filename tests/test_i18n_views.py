"""The window in both languages: the switch, its memory per OS user, and the default."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from ibdesk import config, i18n
from ibdesk.app import create_app
from webfixtures import HX, csrf_token


def switch(client: FlaskClient, language: str, **extra: str) -> object:
    """Press a language button of the header."""
    data = {"csrf_token": csrf_token(client), "language": language, **extra}
    return client.post("/language", data=data)


def test_the_switch_shows_the_window_in_swedish_and_remembers_it(
    client: FlaskClient,
) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page and ">Overview</a>" in page
    response = switch(client, "sv", next="/logs/")
    assert response.status_code == 303 and response.location == "/logs/"  # type: ignore[attr-defined]
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="sv">' in page and ">Översikt</a>" in page
    assert config.load()["language"] == "sv"
    # A new launch of the program by the same OS user starts in Swedish.
    again = create_app(testing=True)
    with again.app_context():
        assert i18n.current_language() == "sv"
    again.extensions["ibdesk.jobs"].shutdown()


def test_the_switch_answers_htmx_with_a_redirect_and_refuses_other_languages(
    client: FlaskClient,
) -> None:
    token = csrf_token(client)
    response = client.post(
        "/language",
        data={"csrf_token": token, "language": "en", "next": "//evil.example/"},
        headers=HX,
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/"
    refused = client.post("/language", data={"csrf_token": token, "language": "de"})
    assert refused.status_code == 400
    assert client.post("/language", data={"language": "sv"}).status_code == 400  # no CSRF


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/%09/evil.example"),
        ("/logs/\r\nX-Injected: 1", "/logs/%0D%0AX-Injected:%201"),
        ("/logs/?kind=a\r\nX-Injected: 1", "/logs/?kind=a%0D%0AX-Injected:%201"),
        ("https://evil.example/", "/"),
    ],
)
def test_a_tampered_next_stays_in_the_window_and_breaks_no_header(
    client: FlaskClient, sent: str, expected: str
) -> None:
    plain = switch(client, "en", next=sent)
    assert plain.status_code == 303 and plain.headers["Location"] == expected  # type: ignore[attr-defined]
    token = csrf_token(client)
    htmx = client.post(
        "/language",
        data={"csrf_token": token, "language": "en", "next": sent},
        headers=HX,
    )
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"] == expected
    assert "X-Injected" not in plain.headers and "X-Injected" not in htmx.headers  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"LANG": "sv_SE.UTF-8"}, "sv"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "sv_FI.UTF-8"}, "sv"),
        ({"LANG": "C"}, "en"),
    ],
)
def test_the_default_language_follows_the_locale(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert i18n.system_language() == expected
    assert i18n.window_language() == expected
