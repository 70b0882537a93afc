"""Long jobs in the terminal: the same domain generators the window runs, behind a progress bar.

``drive`` shows a click progress bar on a terminal and one line per tenth of the way
otherwise (so a log file stays readable); ``quiet`` (``--json``) shows nothing.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO, TypeVar

import click

from ibdesk.progress import Job, LogLine, Progress, run_to_end

T = TypeVar("T")


def drive(job: Job[T], label: str, *, quiet: bool = False) -> T:
    """Drive a job from the CLI: progress and log on stderr (nothing when quiet)."""
    if quiet:
        result, _ = run_to_end(job)
        return result
    return drive_with_progressbar(job, label, file=sys.stderr)


def drive_with_progressbar(job: Job[T], label: str, *, file: TextIO | None = None) -> T:
    """Run a job in the terminal with a progress bar (plain lines when not a terminal)."""
    out = file if file is not None else sys.stdout
    if out.isatty():
        return _drive_tty(job, label, out)
    return _drive_plain(job, label, out, to_stderr=file is None)


def _drive_tty(job: Job[T], label: str, out: TextIO) -> T:
    bar: Any = None
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                if bar is not None:
                    bar.render_finish()
                return stop.value
            if isinstance(event, Progress) and event.total:
                if bar is None:
                    bar = click.progressbar(
                        length=event.total,
                        label=label,
                        file=out,
                        show_eta=True,
                        show_pos=True,
                        show_percent=True,
                        item_show_func=lambda message: message,
                    )
                bar.length = event.total
                bar.update(event.done - bar.pos, event.message or None)
            elif isinstance(event, LogLine):
                out.write("\r\x1b[K" + event.text + "\n")
                if bar is not None:
                    bar.render_progress()
    except BaseException:
        job.close()
        raise


def _drive_plain(job: Job[T], label: str, out: TextIO, *, to_stderr: bool) -> T:
    # One line per tenth of the way (or per hundred events while the total is unknown),
    # so that a log file stays readable.
    last_step, unknown = -1, 0
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                return stop.value
            if isinstance(event, Progress):
                if event.total:
                    step = 10 * event.done // event.total
                    show, last_step = step != last_step, step
                else:
                    unknown += 1
                    show = unknown % 100 == 1
                if show:
                    total = f"/{event.total}" if event.total else ""
                    message = f" {event.message}" if event.message else ""
                    click.echo(f"{label}: {event.done}{total}{message}", file=out)
            elif isinstance(event, LogLine):
                err = to_stderr and event.level in ("warning", "error")
                click.echo(event.text, file=None if err else out, err=err)
    except BaseException:
        job.close()
        raise
