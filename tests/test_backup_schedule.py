"""The nightly schedule: a cron file (in a folder the test controls), Task Scheduler XML as text."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from ibdesk.backup import schedule
from ibdesk.cli import main
from ibdesk.errors import UserError

TASK = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"


@pytest.fixture
def cron_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cron.d"
    monkeypatch.setenv("IBDESK_CRON_DIR", str(folder))
    return folder


def test_schedule_writes_cron_entry_and_unschedule_removes_it(
    cron_dir: Path, ibdesk_home: Path
) -> None:
    entries = schedule.schedule("02:30")
    path = cron_dir / "ibdesk-backup"
    assert [e.path for e in entries] == [str(path)]
    lines = [line for line in path.read_text().splitlines() if line and line[0].isdigit()]
    assert len(lines) == 2
    backup_line, verify_line = lines
    assert backup_line.startswith("30 2 * * * ") and "backup run" in backup_line
    assert verify_line.startswith("30 3 * * 0 ") and "backup verify" in verify_line
    assert f"IBDESK_HOME={ibdesk_home}" in backup_line
    assert path.stat().st_mode & 0o777 == 0o644  # cron ignores group/world-writable files
    assert schedule.current() == entries
    # a new time replaces the entry, never adds a second one
    schedule.schedule("23:05")
    assert "5 23 * * *" in path.read_text() and len(list(cron_dir.iterdir())) == 1
    removed = schedule.unschedule()
    assert [e.path for e in removed] == [str(path)]
    assert not path.exists() and schedule.current() == []
    assert schedule.unschedule() == []


def test_bad_time_is_one_sentence(cron_dir: Path) -> None:
    for bad in ("24:00", "2:3", "noon", ""):
        with pytest.raises(UserError, match="HH:MM"):
            schedule.schedule(bad)
    assert not cron_dir.exists()


def test_windows_task_scheduler_xml(tmp_path: Path, ibdesk_home: Path) -> None:
    entries = schedule.schedule("01:15", windows=True)
    assert [e.kind for e in entries] == ["task-scheduler", "task-scheduler"]
    backup_task = ET.fromstring(entries[0].text.split("\n", 1)[1])
    assert backup_task.find(f"{TASK}Triggers/{TASK}CalendarTrigger/{TASK}StartBoundary").text == (
        "2026-01-01T01:15:00"
    )
    assert backup_task.find(f".//{TASK}ScheduleByDay") is not None
    assert backup_task.find(f".//{TASK}Arguments").text.endswith("backup run")
    verify_task = ET.fromstring(entries[1].text.split("\n", 1)[1])
    assert verify_task.find(f".//{TASK}ScheduleByWeek/{TASK}DaysOfWeek/{TASK}Sunday") is not None
    assert verify_task.find(f".//{TASK}Arguments").text.endswith("backup verify")
    assert Path(entries[0].path).read_text(encoding="utf-16") == entries[0].text
    schedule.unschedule()
    assert not any(Path(e.path).exists() for e in entries)


def test_cli_schedule_and_unschedule(cron_dir: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["backup", "schedule", "--nightly", "03:00"])
    assert shown.exit_code == 0 and "0 3 * * *" in shown.output and str(cron_dir) in shown.output
    as_json = json.loads(runner.invoke(main, ["backup", "unschedule", "--json"]).output)
    assert as_json == [str(cron_dir / "ibdesk-backup")]
    bad = runner.invoke(main, ["backup", "schedule", "--nightly", "25:00"])
    assert bad.exit_code != 0 and "HH:MM" in bad.stderr


def test_percent_in_a_path_is_escaped_for_cron(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IBDESK_HOME", str(tmp_path / "100%-home"))
    monkeypatch.setenv("IBDESK_CRON_DIR", str(tmp_path / "cron.d"))
    (entry,) = schedule.schedule("02:00")
    for line in entry.text.splitlines():
        if line and line[0].isdigit():
            assert "%" not in line.replace("\\%", "")
