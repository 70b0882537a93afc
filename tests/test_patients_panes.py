"""The Patients tab in three panes: the search, the chosen patient, their image sets with the
chosen one open; the address names patient and set, htmx swaps the panes, thumbnails open
the picture large (16-bit X-rays windowed)."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from test_patients_views import with_files

from factories import make_image_set
from ibdesk import tabs
from ibdesk.app import create_app
from ibdesk.models import AuditEvent, MediaItem
from webfixtures import HX, TEST_PORT

TABS = tuple(t for t in tabs.TABS if t.id in ("logs", "patients"))


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """Return the app with the Patients and Logs tabs only."""
    application = create_app(db_option=db_url, testing=True, port=TEST_PORT, tab_list=TABS)
    yield application
    application.extensions["ibdesk.jobs"].shutdown()
    application.extensions["ibdesk.database"].dispose()


def test_three_panes_from_a_shareable_address(
    client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    number, image_set = with_files(session, tmp_path / "bilder")
    older = make_image_set(session, image_set.patient, description="Akut")
    session.commit()
    session.close()  # SQLite: an open transaction would hold the write lock the view needs
    empty = html.unescape(client.get("/patients/").text)
    assert 'data-field="no-patient"' in empty
    link = re.search(r'hx-get="(/patients/panes\?[^"]+)"', empty)
    assert link is not None and f"patient={number}" in link.group(1)

    views = session.scalar(select(func.count()).select_from(AuditEvent))
    session.close()
    page = html.unescape(client.get("/patients/", query_string={"patient": number}).text)
    assert 'id="patient-facts"' in page and 'class="set-list"' in page
    assert "Sign selected image set" in page and "hx-confirm" in page
    assert "become read-only" in page
    assert 'aria-current="true"' in page  # the row of the chosen patient
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == (views or 0) + 1
    session.close()

    pane = client.get(
        "/patients/panes",
        query_string={"patient": number, "set": older.id, "q": ""},
        headers=HX,
    )
    body = html.unescape(pane.text)
    assert pane.status_code == 200 and "<html" not in body
    assert f'id="set-{older.id}"' in body and f'id="set-{image_set.id}"' not in body
    assert f'hx-push-url="/patients/?q=&patient={number}&set={image_set.id}"' in body
    plain = client.get("/patients/panes", query_string={"patient": number})
    assert plain.status_code == 303 and f"patient={number}" in plain.headers["Location"]
    assert client.get("/patients/", query_string={"patient": "19000101-0000"}).status_code in (
        400,
        404,
    )


def test_a_thumbnail_opens_the_picture_large_and_windowed(
    client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    number, _ = with_files(session, tmp_path / "bilder")
    xray = session.scalars(select(MediaItem).order_by(MediaItem.id)).first()
    assert xray is not None
    session.close()
    page = client.get("/patients/", query_string={"patient": number}).text
    assert f'href="/patients/media/{xray.id}/image"' in page
    large = client.get(f"/patients/media/{xray.id}/image")
    assert large.status_code == 200 and large.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(large.data)) as picture:
        assert max(picture.size) > 192 and picture.mode == "L"
        low, high = picture.getextrema()
        assert high - low > 128  # windowed to the range the pixels use, not a grey blur
    large.close()
