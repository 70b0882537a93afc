"""Form labels, help texts, choices and validator messages follow the window's language."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from ibdesk import i18n
from ibdesk.app import create_app
from ibdesk.forms.logs import AuditFilterForm
from ibdesk.forms.patients import UnsignForm
from ibdesk.forms.wizard import ServerForm


@pytest.fixture
def window() -> Iterator[Flask]:
    """Return an app of one launch (no database needed to build forms)."""
    application = create_app(testing=True)
    application.config["WTF_CSRF_ENABLED"] = False
    yield application
    application.extensions["ibdesk.jobs"].shutdown()


@pytest.mark.parametrize(
    ("language", "label", "choice", "help_text"),
    [
        ("en", "Database type", "SQLite (a file on this computer)", "Empty: the usual one."),
        ("sv", "Databastyp", "SQLite (en fil på den här datorn)", "Tomt: den vanliga."),
    ],
)
def test_wizard_labels_choices_and_help_follow_the_language(
    window: Flask, language: str, label: str, choice: str, help_text: str
) -> None:
    i18n.set_app_language(window, language)
    with window.test_request_context("/"):
        form = ServerForm(drivers=[])
        assert form.backend.label.text == label
        assert str(next(iter(form.backend)).label.text) == choice
        assert str(form.port.description) == help_text


@pytest.mark.parametrize(
    ("language", "date_error", "reason_error"),
    [
        (
            "en",
            "Write the date as YYYY-MM-DD, for example 2026-03-04.",
            "Write the reason in 3 to 400 characters.",
        ),
        (
            "sv",
            "Skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-03-04.",
            "Skriv skälet med 3 till 400 tecken.",
        ),
    ],
)
def test_validator_messages_follow_the_language(
    window: Flask, language: str, date_error: str, reason_error: str
) -> None:
    i18n.set_app_language(window, language)
    with window.test_request_context("/", method="POST"):
        audit = AuditFilterForm(formdata=MultiDict({"since": "yesterday"}))
        assert not audit.validate()
        assert [str(e) for e in audit.since.errors] == [date_error]
        unsign = UnsignForm(formdata=MultiDict({"reason": "x"}))
        assert not unsign.validate()
        assert [str(e) for e in unsign.reason.errors] == [reason_error]
