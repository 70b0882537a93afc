"""The Backup tab through real requests: create the repository, back up, verify, schedule."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from backupclinic import image_hashes, make_clinic
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from ibdesk.backup import store
from ibdesk.jobs import JobRegistry
from ibdesk.progress import Progress
from webfixtures import HX, app, client
from webfixtures import post as post_from

__all__ = ["app", "client"]  # fixtures, imported for pytest to find

pytestmark = pytest.mark.backends("sqlite")


def post(test_client: FlaskClient, path: str, data: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return post_from(test_client, path, data, page="/backup/")


def jobs(app: Flask) -> JobRegistry:
    found: JobRegistry = app.extensions["ibdesk.jobs"]
    return found


def _job_id(html: str) -> str:
    found = re.search(r'id="job-([0-9a-f]{12})"', html)
    assert found, html
    return found.group(1)


def test_tab_is_listed_and_warns_without_backup(client: FlaskClient) -> None:
    page = client.get("/backup/").get_data(as_text=True)
    assert 'href="/backup/"' in page and "No backup is set up" in page
    assert 'id="backup-init-form"' in page
    overview = client.get("/").get_data(as_text=True)
    assert "No backup is set up" in overview


def test_init_run_verify_through_the_tab(
    client: FlaskClient, app: Flask, engine: Engine, tmp_path: Path
) -> None:
    make_clinic(engine, tmp_path / "bilder")
    bad = post(client, "/backup/init", {"repository": str(tmp_path / "bilder" / "inside")})
    assert bad.status_code == 400 and "inside the image folder" in bad.get_data(as_text=True)
    assert store.repository() is None
    made = post(client, "/backup/init", {"repository": str(tmp_path / "repo")})
    html = made.get_data(as_text=True)
    assert made.status_code == 200 and "Recovery sheet" in html
    assert store.password_path().read_text().strip() in html
    started = post(client, "/backup/run")
    assert started.status_code == 200
    job = jobs(app).wait(_job_id(started.get_data(as_text=True)), 120)
    assert job.state == "succeeded", job.error
    listed = client.get("/backup/list").get_data(as_text=True)
    assert job.result.backup_id in listed
    verify = post(client, "/backup/verify")
    checked = jobs(app).wait(_job_id(verify.get_data(as_text=True)), 120)
    assert checked.state == "succeeded", checked.error
    page = client.get("/backup/").get_data(as_text=True)
    assert "Never verified" not in page and "No backup has been made yet" not in page
    bar = client.get("/status").get_data(as_text=True)
    assert 'data-field="last-backup"' in bar and "sb-bad" not in bar.split("last-backup")[0][-80:]


def test_stale_backup_warns_after_36_hours(client: FlaskClient) -> None:
    store.save_repository("/nowhere")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=37)
    store.record("backup", store.LastRun("x", "abcd1234", old.isoformat(), 10, 1))
    assert "more than 36 hours old" in client.get("/").get_data(as_text=True)
    assert "more than 36 hours old" in client.get("/status").get_data(as_text=True)
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    store.record("backup", store.LastRun("y", "abcd1234", recent.isoformat(), 10, 1))
    assert "36 hours" not in client.get("/").get_data(as_text=True)


def test_schedule_and_remove_through_the_tab(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IBDESK_CRON_DIR", str(tmp_path / "cron.d"))
    bad = post(client, "/backup/schedule", {"nightly": "26:00"})
    assert bad.status_code == 422 and "HH:MM" in bad.get_data(as_text=True)
    done = post(client, "/backup/schedule", {"nightly": "01:45"})
    html = done.get_data(as_text=True)
    assert "45 1 * * *" in html and (tmp_path / "cron.d" / "ibdesk-backup").is_file()
    removed = post(client, "/backup/unschedule")
    assert "No backup is scheduled" in removed.get_data(as_text=True)
    assert not (tmp_path / "cron.d" / "ibdesk-backup").exists()


def test_run_without_repository_is_one_sentence(client: FlaskClient) -> None:
    answer = post(client, "/backup/run")
    assert answer.status_code == 400 and "ibdesk backup init" in answer.get_data(as_text=True)


def test_restore_through_the_tab(
    client: FlaskClient, app: Flask, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    folder = make_clinic(engine, tmp_path / "bilder")
    post(client, "/backup/init", {"repository": str(tmp_path / "repo")})
    made = jobs(app).wait(_job_id(post(client, "/backup/run").get_data(as_text=True)), 120)
    backup_id = made.result.backup_id
    missing = post(client, "/backup/restore", {"backup_id": backup_id, "database": ""})
    assert missing.status_code == 422 and "database URL" in missing.get_data(as_text=True)
    live = post(
        client,
        "/backup/restore",
        {
            "backup_id": backup_id,
            "database": db_url,
            "folder": str(tmp_path / "x"),
            "confirmed": "yes",
        },
    )
    refused = jobs(app).wait(_job_id(live.get_data(as_text=True)), 60)
    assert refused.state == "failed" and "already holds data" in (refused.error or "")
    target = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    asked = post(
        client,
        "/backup/restore",
        {"backup_id": backup_id, "database": target, "folder": str(tmp_path / "new")},
    )
    question = asked.get_data(as_text=True)
    assert asked.status_code == 200 and 'id="backup-restore-confirm"' in question
    assert f"Restore backup {backup_id} into the database" in question
    assert 'id="job-' not in question and not (tmp_path / "new.sqlite3").exists()
    started = post(
        client,
        "/backup/restore",
        {
            "backup_id": backup_id,
            "database": target,
            "folder": str(tmp_path / "new"),
            "confirmed": "yes",
        },
    )
    done = jobs(app).wait(_job_id(started.get_data(as_text=True)), 120)
    assert done.state == "succeeded", done.error
    assert image_hashes(tmp_path / "new") == image_hashes(folder)


def test_replace_through_the_tab_asks_and_backs_up_first(
    client: FlaskClient, app: Flask, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    folder = make_clinic(engine, tmp_path / "bilder")
    post(client, "/backup/init", {"repository": str(tmp_path / "repo")})
    made = jobs(app).wait(_job_id(post(client, "/backup/run").get_data(as_text=True)), 120)
    (folder / "added-after.txt").write_text("new since the backup")
    form = {
        "backup_id": made.result.backup_id,
        "database": db_url,
        "folder": str(folder),
        "replace": "y",
    }
    asked = post(client, "/backup/restore", form).get_data(as_text=True)
    assert f"Replace the database {db_url}" in asked and "backed up first" in asked
    assert 'name="replace" value="y"' in asked and (folder / "added-after.txt").exists()
    done = jobs(app).wait(
        _job_id(post(client, "/backup/restore", {**form, "confirmed": "yes"}).get_data(True)),
        180,
    )
    assert done.state == "succeeded", done.error
    assert done.result.safety_backup and not (folder / "added-after.txt").exists()
    listed = client.get("/backup/list").get_data(as_text=True)
    assert done.result.safety_backup in listed


def test_restore_needs_the_password_typed_again(
    client: FlaskClient, app: Flask, engine: Engine, tmp_path: Path
) -> None:
    from ibdesk.users.sessions import SessionStore

    make_clinic(engine, tmp_path / "bilder")
    post(client, "/backup/init", {"repository": str(tmp_path / "repo")})
    store: SessionStore = app.extensions["ibdesk.sessions"]
    for key, found in list(store._sessions.items()):  # every session stale for this
        store._sessions[key] = found.__class__(
            **{**found.__dict__, "fresh_until": found.signed_in_at}
        )
    form = {
        "backup_id": "20261202-010000-abcd",
        "database": f"sqlite:///{tmp_path / 'new.sqlite3'}",
        "folder": str(tmp_path / "new"),
    }
    assert post(client, "/backup/restore", form).status_code == 200  # the question first
    answer = post(client, "/backup/restore", {**form, "confirmed": "yes"})
    assert answer.status_code == 403
    assert "Type your password again before restoring a backup." in answer.get_data(True)
    assert jobs(app).running("Restore backup") is None
    assert not (tmp_path / "new.sqlite3").exists()


def test_backup_now_in_general_settings_is_the_backup_tabs_backup(
    client: FlaskClient, app: Flask, engine: Engine, tmp_path: Path
) -> None:
    make_clinic(engine, tmp_path / "bilder")
    page = client.get("/settings/").get_data(as_text=True)
    assert "No backup repository is set up yet" in page and 'id="settings-backup-tab"' in page
    assert 'id="settings-backup-now"' not in page  # nothing to press before a repository
    refused = post_from(client, "/settings/backup", {}, page="/settings/")
    assert refused.status_code == 400 and "ibdesk backup init" in refused.get_data(as_text=True)
    assert store.last("backup") is None

    post(client, "/backup/init", {"repository": str(tmp_path / "repo")})
    page = client.get("/settings/").get_data(as_text=True)
    assert 'id="settings-backup-now"' in page and str(tmp_path / "repo") in page

    gate = threading.Event()

    def held() -> Iterator[Progress]:
        gate.wait(30)
        yield Progress(1, 1, "held")

    held_id = jobs(app).start("Verify backup", held)
    busy = post_from(client, "/settings/backup", {}, page="/settings/")
    assert busy.status_code == 409 and "already running" in busy.get_data(as_text=True)
    gate.set()
    jobs(app).wait(held_id, 30)

    answer = post_from(client, "/settings/backup", {}, page="/settings/")
    for _ in range(600):
        if answer.status_code != 202:
            break
        [poll] = re.findall(
            r'hx-get="(/settings/tools/backup/[0-9a-f]+)"', answer.get_data(as_text=True)
        )
        time.sleep(0.1)
        answer = client.get(poll, headers=HX)
    html = answer.get_data(as_text=True)
    good = store.last("backup")
    assert answer.status_code == 200 and good is not None, html
    # One snapshot of the database and the images, listed by the Backup tab like its own.
    assert f"Backup {good.backup_id} is complete" in html and "the Backup tab lists it" in html
    assert good.files > 1
    assert good.backup_id in client.get("/backup/list").get_data(as_text=True)
    assert "None yet." not in client.get("/settings/").get_data(as_text=True)
