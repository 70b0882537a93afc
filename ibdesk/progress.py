"""What long domain jobs yield: progress and log lines, read by the web job registry and the CLI.

A long job is a generator yielding ``Progress`` and ``LogLine`` items and returning a summary
(any value) through ``StopIteration.value``. It checks nothing about how it is driven: the
web registry (``ibdesk.jobs``) runs it on a worker thread and stops pulling on cancel; the
CLI drives a progress bar (``ibdesk.cli.progress``).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """How far the job is: ``done`` of ``total`` units (total None when unknown)."""

    done: int
    total: int | None = None
    message: str = ""


@dataclass(frozen=True)
class LogLine:
    """One line for the live log."""

    text: str
    level: str = "info"  # "info", "warning" or "error"


Event = Progress | LogLine
Job = Generator[Event, None, T]


def run_to_end(job: Job[T]) -> tuple[T, list[LogLine]]:
    """Drive a job without a user interface; return its result and log."""
    lines: list[LogLine] = []
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value, lines
        if isinstance(event, LogLine):
            lines.append(event)


def describe(event: Any) -> str:
    """Render an event as one line of text."""
    if isinstance(event, Progress):
        total = f"/{event.total}" if event.total is not None else ""
        return f"{event.done}{total} {event.message}".strip()
    if isinstance(event, LogLine):
        return event.text
    return str(event)
