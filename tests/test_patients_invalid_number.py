"""The three panes for a patient whose personnummer is not valid, as converted 1.2 data keeps
it (a wrong check digit): found by the search, shown in the details and statuses panes,
signed and verified, its log extract, deleted, restored and purged — on SQLite and
PostgreSQL, through real requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from test_patients_views import TABS, post, set_url, short, text, with_files

from ibdesk import personnummer
from ibdesk.app import create_app
from ibdesk.db import session_scope
from ibdesk.models import ImageSet, MediaItem, Patient
from webfixtures import HX, TEST_PORT


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """Return the app with the Patients and Logs tabs only."""
    application = create_app(db_option=db_url, testing=True, port=TEST_PORT, tab_list=TABS)
    yield application
    application.extensions["ibdesk.jobs"].shutdown()
    application.extensions["ibdesk.database"].dispose()


@pytest.fixture
def check(engine: Engine) -> Callable[[Any], Any]:
    def read(statement: Any) -> Any:
        with session_scope(engine, read_only=True) as reader:
            return reader.scalar(statement)

    return read


def stored_invalid(session: Session, folder: Path) -> tuple[str, ImageSet]:
    """Make a patient with two real files, then store the number with a wrong check digit."""
    valid, image_set = with_files(session, folder)
    wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    session.execute(update(Patient).where(Patient.personnummer == valid).values(personnummer=wrong))
    session.commit()
    with pytest.raises(personnummer.PersonnummerError, match="check digit"):
        personnummer.parse(wrong)
    return wrong, image_set


def test_the_three_panes_work_for_an_invalid_number(
    client: FlaskClient, session: Session, check: Callable[[Any], Any], tmp_path: Path
) -> None:
    number, image_set = stored_invalid(session, tmp_path / "bilder")
    session.close()
    shown = f"{number[:8]}-{number[8:]}"

    found = client.get("/patients/", query_string={"q": shown}, headers=HX)
    assert found.status_code == 200
    assert f"patient={number}" in text(found) and "The check digit is wrong" in text(found)

    page = client.get("/patients/", query_string={"q": shown, "patient": number})
    assert page.status_code == 200, text(page)[:500]
    whole = text(page)
    assert 'id="patient-facts"' in whole and shown in whole
    assert 'class="set-list"' in whole and "Årskontroll" in whole
    panes = client.get(
        "/patients/panes", query_string={"patient": number, "set": image_set.id}, headers=HX
    )
    assert panes.status_code == 200 and "Sign selected image set" in text(panes)
    assert client.get(f"/patients/{number}", headers=HX).status_code == 200
    extract = client.get(f"/logs/patient/{number}", headers=HX)
    assert extract.status_code == 200 and "Opened the patient's record" in text(extract)

    signed = post(client, set_url(number, image_set.id, "sign"))
    assert signed.status_code == 200 and "Image set signed by" in text(signed)
    verified = post(client, set_url(number, image_set.id, "verify"))
    assert verified.status_code == 200 and "matches its signature" in text(verified)
    reason = {f"set{image_set.id}-reason": "Konverterad, fel kontrollsiffra"}
    unsigned = post(client, set_url(number, image_set.id, "unsign"), reason)
    assert unsigned.status_code == 200 and "Signature removed" in text(unsigned)

    base = f"/patients/{number}"
    deleted_at = select(Patient.deleted_at).where(Patient.personnummer == number)
    wrong = post(client, f"{base}/delete", {"delete-confirm": "19121212-1212"})
    assert wrong.status_code == 409 and check(deleted_at) is None
    deleted = post(client, f"{base}/delete", {"delete-confirm": short(number)})
    assert deleted.status_code == 200 and "is deleted" in text(deleted)
    assert check(deleted_at) is not None
    restored = post(client, f"{base}/restore")
    assert restored.status_code == 200 and "is restored" in text(restored)
    assert check(deleted_at) is None
    purged = post(client, f"{base}/purge", {"purge-confirm": shown})
    assert purged.status_code == 204, text(purged)
    assert check(select(func.count()).select_from(Patient)) == 0
    assert check(select(func.count()).select_from(MediaItem)) == 0


def test_an_invalid_number_nobody_has_still_says_what_is_wrong(
    client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    stored_invalid(session, tmp_path / "bilder")
    session.close()
    missing = client.get("/patients/191212121213")
    assert missing.status_code == 400 and "check digit" in text(missing)
    cut = client.get("/patients/1912121")
    assert cut.status_code == 400
