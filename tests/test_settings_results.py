"""What the database tools say when done: whole sentences, in the window's language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ibdesk import i18n, schema
from ibdesk.settings import results
from ibdesk.settings.backup import BackupResult
from ibdesk.settings.dbadmin import UpdateOutcome


def _outcome(changed: bool) -> UpdateOutcome:
    head = schema.head_revision()
    upgrade = schema.UpgradeResult("0001_initial" if changed else head, head)
    backup = BackupResult(Path("/srv/kopior/före.sqlite3"), 4096, "integrity check ok")
    return UpdateOutcome(upgrade, backup)


@pytest.fixture(autouse=True)
def _system_language_after() -> Iterator[None]:
    """Leave no language chosen for the tests that run after these in the same process."""
    yield
    i18n.use_language(None)


def test_the_update_and_the_copy_are_said_in_swedish() -> None:
    i18n.use_language("sv")
    try:
        said = results.updated(_outcome(changed=True))
        copy = results.copied(BackupResult(Path("/srv/k.sqlite3"), 4096, "integrity check ok"))
    finally:
        i18n.use_language("en")
    assert said.kind == "success" and "0001_initial" in said.message
    assert "Updated" not in said.message
    assert said.details == ("Säkerhetskopia först: /srv/kopior/före.sqlite3 (integrity check ok).",)
    assert copy.details == ("Kontrollerad: integrity check ok.",)


def test_a_current_schema_says_there_was_nothing_to_do() -> None:
    i18n.use_language("en")
    said = results.updated(_outcome(changed=False))
    assert said.message.startswith("The schema is already current (")
    assert said.details == ("Backup first: /srv/kopior/före.sqlite3 (integrity check ok).",)
