"""The operating system's entry for a nightly backup and a weekly verify.

On Linux a cron file: ``/etc/cron.d/ibdesk-backup`` when that folder is writable (root on a
Debian server, which runs cron without systemd), else the same lines in the configuration
folder for ``crontab`` to install; ``IBDESK_CRON_DIR`` names another folder (tests, or a
folder cron watches). On Windows a Task Scheduler XML per task, registered with
``schtasks /Create /XML``. The entry made is remembered, shown, and removed by ``unschedule``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from ibdesk import config
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

CRON_NAME = "ibdesk-backup"  # cron.d ignores names with a dot
VERIFY_WEEKDAY = 0  # Sunday
TASKS = ("ImageBank backup", "ImageBank verify")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Entry:
    """The schedule entry written: where it is and what it says."""

    path: str
    text: str
    kind: str  # "cron.d", "crontab" or "task-scheduler"


def parse_time(value: str) -> tuple[int, int]:
    """Return (hour, minute) of an HH:MM time, or say what is wrong."""
    match = _TIME.match(value.strip())
    if not match:
        raise UserError(_("Give the time as HH:MM, for example 02:30."))
    return int(match.group(1)), int(match.group(2))


def program() -> list[str]:
    """Return the command that runs ibdesk (the installed script, else this Python)."""
    found = shutil.which("ibdesk")
    return [found] if found else [sys.executable, "-m", "ibdesk"]


def _environment() -> str:
    home = config.home_dir()
    return f"IBDESK_HOME={shlex.quote(str(home))} ".replace("%", "\\%") if home else ""


def cron_text(hour: int, minute: int, *, system: bool, log: Path) -> str:
    """Return the cron lines: the nightly backup, a weekly verify an hour after it."""
    command = " ".join(shlex.quote(part) for part in program())
    user = "root " if system and hasattr(os, "getuid") and os.getuid() == 0 else ""
    if system and not user:
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name + " "
    tail = f">> {shlex.quote(str(log))} 2>&1"
    verify_hour = (hour + 1) % 24
    # cron turns an unescaped % into a newline
    command, tail = command.replace("%", "\\%"), tail.replace("%", "\\%")
    return (
        "# ImageBank SysAdmin: nightly backup and weekly verify (ibdesk backup schedule).\n"
        "# Remove with: ibdesk backup unschedule\n"
        "SHELL=/bin/sh\n"
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"{minute} {hour} * * * {user}{_environment()}{command} backup run {tail}\n"
        f"{minute} {verify_hour} * * {VERIFY_WEEKDAY} {user}{_environment()}{command} "
        f"backup verify {tail}\n"
    )


def task_xml(name: str, hour: int, minute: int, arguments: str, *, weekly: bool) -> str:
    """Return a Task Scheduler 1.2 task that runs ibdesk daily (or on Sundays)."""
    parts = program()
    command, args = parts[0], " ".join([*parts[1:], arguments])
    schedule = (
        "<ScheduleByWeek><DaysOfWeek><Sunday /></DaysOfWeek><WeeksInterval>1</WeeksInterval>"
        "</ScheduleByWeek>"
        if weekly
        else "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>"
    )
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Description>{escape(name)}</Description></RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2026-01-01T{hour:02d}:{minute:02d}:00</StartBoundary>
      <Enabled>true</Enabled>
      {schedule}
    </CalendarTrigger>
  </Triggers>
  <Principals><Principal id="Author"><RunLevel>HighestAvailable</RunLevel></Principal></Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <StartWhenAvailable>true</StartWhenAvailable>
    <WakeToRun>true</WakeToRun>
    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>
  </Settings>
  <Actions Context="Author">
    <Exec><Command>{escape(command)}</Command><Arguments>{escape(args)}</Arguments></Exec>
  </Actions>
</Task>
"""


def cron_folder() -> tuple[Path, bool]:
    """Return the folder for the cron file and whether cron reads it as a system table."""
    chosen = os.environ.get("IBDESK_CRON_DIR")
    if chosen:
        return Path(chosen), True
    system = Path("/etc/cron.d")
    if system.is_dir() and os.access(system, os.W_OK):
        return system, True
    return config.config_dir(), False


def _remember(entries: list[Entry]) -> None:
    data = config.load()
    section = data.get("backup")
    section = section if isinstance(section, dict) else {}
    section["schedule"] = [e.__dict__ for e in entries]
    data["backup"] = section
    config.save(data)


def current() -> list[Entry]:
    """Return the schedule entries this program wrote (none when not scheduled)."""
    section = config.load().get("backup")
    raw = section.get("schedule") if isinstance(section, dict) else None
    return [Entry(**item) for item in raw or [] if isinstance(item, dict)]


def schedule(nightly: str, *, windows: bool | None = None) -> list[Entry]:
    """Write the nightly backup and weekly verify entries; replace earlier ones."""
    hour, minute = parse_time(nightly)
    unschedule()
    on_windows = os.name == "nt" if windows is None else windows
    entries = []
    if on_windows:
        folder = config.config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        for name, args, weekly in zip(
            TASKS, ("backup run", "backup verify"), (False, True), strict=True
        ):
            xml = task_xml(
                name, hour if not weekly else (hour + 1) % 24, minute, args, weekly=weekly
            )
            path = folder / f"{name.replace(' ', '-')}.xml"
            path.write_text(xml, encoding="utf-16")
            if os.name == "nt":
                subprocess.run(
                    ["schtasks", "/Create", "/F", "/TN", name, "/XML", str(path)],
                    check=True,
                    capture_output=True,
                )
            entries.append(Entry(str(path), xml, "task-scheduler"))
    else:
        folder, system = cron_folder()
        folder.mkdir(parents=True, exist_ok=True)
        log = config.data_dir() / "backup-schedule.log"
        text = cron_text(hour, minute, system=system, log=log)
        path = folder / (CRON_NAME if system else f"{CRON_NAME}.crontab")
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)
        os.replace(tmp, path)
        entries.append(Entry(str(path), text, "cron.d" if system else "crontab"))
    _remember(entries)
    return entries


def unschedule() -> list[Entry]:
    """Remove the entries this program wrote; return what was removed."""
    removed = current()
    for entry in removed:
        if entry.kind == "task-scheduler" and os.name == "nt":
            name = TASKS[0] if "backup" in Path(entry.path).stem.lower() else TASKS[1]
            subprocess.run(["schtasks", "/Delete", "/F", "/TN", name], check=False)
        Path(entry.path).unlink(missing_ok=True)
    if removed:
        _remember([])
    return removed
