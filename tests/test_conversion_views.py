"""The Conversion tab through real requests: the source test, the four steps, the reports."""

from __future__ import annotations

import json
from pathlib import Path

import legacy12
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, tabs, web
from ibdesk.blueprints import conversion as view
from ibdesk.blueprints.jobs import registry
from ibdesk.models import SystemEvent
from webfixtures import ADMIN_NAME, app, client, post

__all__ = ["app", "client"]  # fixtures, imported for pytest to find

pytestmark = pytest.mark.backends("sqlite")


def _source(out: Path) -> dict[str, str]:
    return {
        "backend": "sqlite",
        "database": str(out / "imagebank12.sqlite"),
        "images": str(out / "Bilder"),
    }


def _wait(app: Flask) -> None:
    with app.app_context():
        job = registry().running(view.JOB)
        if job is not None:
            finished = registry().wait(job.id, 300)
            assert finished.state == "succeeded", finished.error


def test_the_tab_is_last_in_the_nav_bar(client: FlaskClient) -> None:
    assert tabs.TABS[-1].id == "conversion"
    page = client.get("/conversion/").get_data(as_text=True)
    assert "Conversion from ImageBank 1.2" in page
    assert 'id="conversion-step-1"' in page
    assert 'id="conversion-step-2"' in page and "disabled" in page


def test_test_connection_says_what_is_wrong(client: FlaskClient, tmp_path: Path) -> None:
    data = {"backend": "sqlite", "database": str(tmp_path / "none.sqlite"), "images": str(tmp_path)}
    response = post(client, "/conversion/test", data, page="/conversion/")
    assert response.status_code == 400
    assert "does not exist" in response.get_data(as_text=True)
    relative = post(client, "/conversion/test", {**data, "images": "Bilder"}, page="/conversion/")
    assert relative.status_code == 422
    assert "Give the full path, for example D:" in relative.get_data(as_text=True)


def test_four_steps_through_the_tab(client: FlaskClient, app: Flask, tmp_path: Path) -> None:
    out = tmp_path / "legacy12"
    legacy12.build(out, patients=30)
    with app.app_context():
        session: Session = web.db_session()
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path / "images21"))
        session.commit()
    tested = post(client, "/conversion/test", _source(out), page="/conversion/")
    assert tested.status_code == 200
    assert "The 1.2 database answers (read-only)." in tested.get_data(as_text=True)
    early = post(client, "/conversion/step/3", _source(out), page="/conversion/")
    assert early.status_code == 409
    assert "Step 2 must pass before step 3 can run." in early.get_data(as_text=True)
    for step in (1, 2, 3, 4):
        response = post(client, f"/conversion/step/{step}", _source(out), page="/conversion/")
        assert response.status_code == 200, response.get_data(as_text=True)
        _wait(app)
        steps = client.get("/conversion/steps").get_data(as_text=True)
        assert f'data-step="{step}" data-passed="yes"' in steps
    with app.app_context():  # the conversion's own events name who started it
        started = (
            web.db_session()
            .scalars(select(SystemEvent.user_name).where(SystemEvent.action.like("conversion.%")))
            .all()
        )
    assert started and set(started) == {ADMIN_NAME}
    final = json.loads(client.get("/conversion/report/4.json").get_data(as_text=True))
    assert final["reconciliation"]["passed"]
    printed = client.get("/conversion/report/4.html").get_data(as_text=True)
    assert "Every row and file is accounted for." in printed
    rejects = client.get("/conversion/report/4.csv")
    assert rejects.headers["Content-Disposition"].startswith("attachment")
    assert rejects.get_data(as_text=True).startswith("table,source_key,column,reason")
    assert client.get("/conversion/report/4.exe").status_code == 404


def test_general_settings_links_to_the_conversion(client: FlaskClient) -> None:
    page = client.get("/settings/").get_data(as_text=True)
    assert 'id="settings-conversion-link"' in page
    assert 'href="/conversion/"' in page


def test_a_step_needs_the_password_typed_again(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    from ibdesk.users.sessions import SessionStore

    store: SessionStore = app.extensions["ibdesk.sessions"]
    for key, found in list(store._sessions.items()):  # every session stale for this
        store._sessions[key] = found.__class__(
            **{**found.__dict__, "fresh_until": found.signed_in_at}
        )
    out = tmp_path / "legacy12"
    legacy12.build(out, patients=3)
    refused = post(client, "/conversion/step/1", _source(out), page="/conversion/")
    assert refused.status_code == 403
    assert "Type your password again before converting" in refused.get_data(as_text=True)
    with app.app_context():
        assert registry().running(view.JOB) is None  # nothing was started
