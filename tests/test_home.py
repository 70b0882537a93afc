"""The Overview as the administrator's home: license, counts from the counters, the last
backup, free space, and warnings that each link to the tab that fixes them."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from factories import LICENSEE, make_image_set, make_license, make_media, make_patient
from ibdesk import audit, clinic_settings, home, licensing, statistics
from ibdesk.audit import Actor
from ibdesk.models import utcnow
from ibdesk.schema import SchemaState

ADMIN = Actor("admin", "SERVER")


def tabs_of(found: list[home.Attention]) -> list[str]:
    return [item.tab for item in found]


def test_an_empty_database_asks_for_a_license_and_a_backup(session: Session) -> None:
    summary = home.overview(session, schema_state=SchemaState.CURRENT, image_folder=None)
    assert summary.license is None and summary.last_backup is None
    assert tabs_of(summary.warnings) == ["licensing", "settings"]
    assert "No backup made by ImageBank SysAdmin yet" in summary.warnings[1].message


def test_counts_license_and_backup_with_their_warnings(
    session: Session, vendor_key: Any, tmp_path: Path
) -> None:
    today = dt.date.today()
    data = make_license(vendor_key, seats=4, expires=today + dt.timedelta(days=20))
    licensing.install_license(session, data, ADMIN)
    for _ in range(2):
        make_media(session, make_image_set(session, make_patient(session)))
    audit.system_event(session, ADMIN, home.BACKUP_ACTION, "/backups/ib.sqlite (ok)")
    session.commit()
    statistics.fold(session)
    session.commit()
    summary = home.overview(session, schema_state=SchemaState.CURRENT, image_folder=str(tmp_path))
    assert summary.license is not None and summary.license.licensee == LICENSEE
    assert (summary.patients, summary.media) == (2, 2)
    assert summary.last_backup is not None and summary.disk is not None
    assert tabs_of(summary.warnings) == ["licensing"]  # expires within 30 days
    assert "in 20 days" in summary.warnings[0].message

    later = utcnow() + dt.timedelta(hours=home.BACKUP_WARN_HOURS + 1)
    old = home.warnings(summary.license, summary.last_backup, None, SchemaState.OLDER, later)
    assert tabs_of(old) == ["settings", "licensing", "settings"]
    full = statistics.DiskSpace(total=1000, used=950, free=50)
    assert "statistics" in tabs_of(home.warnings(None, None, full, None, utcnow()))
    roomy = statistics.DiskSpace(total=1000, used=850, free=150)
    assert "statistics" not in tabs_of(home.warnings(None, None, roomy, None, utcnow()))


def test_the_overview_page_links_each_warning_to_its_tab(
    client: FlaskClient, session: Session, tmp_path: Path
) -> None:
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path))
    make_patient(session)
    session.commit()
    page = html.unescape(client.get("/").get_data(as_text=True))
    assert 'data-field="patients">1<' in page
    assert 'data-field="free-space"' in page and "free of" in page
    assert "No backup made by ImageBank SysAdmin yet." in page
    assert 'href="/settings/#settings-backup"' in page
    assert 'href="/licensing/" data-fix="licensing"' in page
