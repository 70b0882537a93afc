"""Long jobs: run a domain generator off the request thread, one registry for every tab.

A job is a generator of ``Progress`` and ``LogLine`` events that returns its result (see
``ibdesk.progress``). ``JobRegistry`` runs it on a daemon thread (so it never keeps the
program alive), keeps its status, progress and a bounded log under one lock, and cancels it
at its next event by closing the generator (its ``finally`` and ``with`` blocks run). A job
started with ``start_winding_down`` is handed its cancel ``Event`` instead: it stops by
itself and returns its result (a cancelled export's summary, say), kept like any other.
The terminal drives the same generators with ``ibdesk.cli.progress``; a tab looks its job up
with ``running(name)`` and ``status(id, name)``.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ibdesk import i18n
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.progress import Job, LogLine, Progress
from ibdesk.snapshots import snapshot

T = TypeVar("T")
logger = logging.getLogger(__name__)
_UNKNOWN_JOB = _l(
    "That job is not known; it may have ended more than an hour ago or the program was restarted."
)


class JobState(enum.StrEnum):
    """Where a job is in its life."""

    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Return whether the job has stopped for good."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobStatus:
    """A consistent snapshot of one job, safe to render while the job goes on."""

    id: str
    name: str
    state: JobState
    done: int
    total: int | None
    message: str
    log: tuple[LogLine, ...]
    lines_total: int
    warnings: int
    errors: int
    elapsed_s: float
    eta_s: float | None
    result: Any
    error: str | None

    @property
    def finished(self) -> bool:
        """Return whether the job has stopped for good."""
        return self.state.finished

    @property
    def percent(self) -> int | None:
        """Return the whole percentage done, or None while the total is unknown."""
        if not self.total:
            return None
        return min(100, int(100 * self.done / self.total))

    @property
    def lines_dropped(self) -> int:
        """Return how many early log lines were dropped to keep the log bounded."""
        return self.lines_total - len(self.log)


@dataclass
class _Record:
    id: str
    name: str
    started: float
    state: JobState = JobState.RUNNING
    done: int = 0
    total: int | None = None
    message: str = ""
    log: deque[LogLine] = field(default_factory=deque)
    lines_total: int = 0
    warnings: int = 0
    errors: int = 0
    finished_at: float | None = None
    result: Any = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    # The job watches ``cancel`` itself; only ``close`` (the program ending) closes it.
    winds_down: bool = False
    close: threading.Event = field(default_factory=threading.Event)
    alone: bool = False  # runs with no other job (a restore replacing the live data)


def estimate_remaining(elapsed_s: float, done: int, total: int | None) -> float | None:
    """Estimate the seconds left from the pace so far (None until there is a pace)."""
    if not total or done <= 0 or elapsed_s <= 0:
        return None
    return max(0.0, elapsed_s * (total - done) / done)


def format_duration(seconds: float | None) -> str:
    """Say a duration the way people read it: "45 s", "3 min", "1 h 20 min"."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


class JobRegistry:
    """Runs jobs on worker threads and answers for their status until they are forgotten."""

    def __init__(
        self,
        *,
        max_log_lines: int = 2000,
        keep_finished_s: float = 3600.0,
        max_finished: int = 50,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Keep at most ``max_log_lines`` per job and finished jobs for ``keep_finished_s``."""
        self._jobs: dict[str, _Record] = {}
        self._lock = threading.Lock()
        self._max_log_lines = max_log_lines
        self._keep_finished_s = keep_finished_s
        self._max_finished = max_finished
        self._clock = clock

    def start(
        self,
        name: str,
        job_factory: Callable[[], Job[Any]],
        *,
        exclusive: bool = True,
        alone: bool = False,
    ) -> str:
        """Create the job (errors surface here, on the caller's thread) and run it; return its id.

        With ``exclusive``, a second job of the same name is refused while one runs. With
        ``alone``, it starts only while no other job runs, and none starts until it ends.
        """
        return self._start(
            name, lambda _cancel: job_factory(), exclusive, winds_down=False, alone=alone
        )

    def start_winding_down(
        self,
        name: str,
        job_factory: Callable[[threading.Event], Job[Any]],
        *,
        exclusive: bool = True,
    ) -> str:
        """Like ``start``, but hand the factory the job's cancel Event and let the job end itself.

        On cancel the job is not closed: it sees the Event, winds down and returns its result,
        which the cancelled job keeps. Only ``shutdown`` closes it.
        """
        return self._start(name, job_factory, exclusive, winds_down=True)

    def _start(
        self,
        name: str,
        job_factory: Callable[[threading.Event], Job[Any]],
        exclusive: bool,
        *,
        winds_down: bool,
        alone: bool = False,
    ) -> str:
        with self._lock:
            self._refuse_duplicate(name, exclusive, alone)
        cancel = threading.Event()
        job = job_factory(cancel)
        record = _Record(
            id=uuid.uuid4().hex[:12],
            name=name,
            started=self._clock(),
            cancel=cancel,
            winds_down=winds_down,
            alone=alone,
        )
        record.log = deque(maxlen=self._max_log_lines)
        with self._lock:
            try:
                self._refuse_duplicate(name, exclusive, alone)
            except Refused:
                job.close()
                raise
            self._jobs[record.id] = record
        # The job's messages are worded in the language of whoever started it.
        context = contextvars.copy_context()
        context.run(i18n.use_language, i18n.current_language())
        thread = threading.Thread(
            target=context.run,
            args=(self._run, record, job),
            name=f"ibdesk-job-{record.id}",
            daemon=True,
        )
        thread.start()
        return record.id

    def status(
        self, job_id: str, name: str | None = None, *, log_tail: int | None = None
    ) -> JobStatus:
        """Return a snapshot of the job (its last ``log_tail`` log lines, or all kept).

        With ``name``, a job of another name is not found: a tab sees only its own jobs.
        """
        with self._lock:
            self._prune()
            record = self._get(job_id)
            if name is not None and record.name != name:
                raise NotFound(_UNKNOWN_JOB)
            return self._snapshot(record, log_tail)

    def running(self, name: str, *, log_tail: int | None = None) -> JobStatus | None:
        """Return the job of this name that has not ended yet, or None."""
        with self._lock:
            self._prune()
            record = next(
                (r for r in self._jobs.values() if r.name == name and not r.state.finished), None
            )
            return None if record is None else self._snapshot(record, log_tail)

    def cancel(self, job_id: str) -> JobStatus:
        """Ask the job to stop at its next event; a finished job stays as it is."""
        with self._lock:
            record = self._get(job_id)
            if not record.state.finished:
                record.state = JobState.CANCELLING
                record.cancel.set()
            return self._snapshot(record, None)

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Block until the job ends (or the timeout passes) and return its status."""
        with self._lock:
            record = self._get(job_id)
        record.ended.wait(timeout)
        return self.status(job_id)

    def active(self) -> list[JobStatus]:
        """Return the jobs that have not ended yet."""
        with self._lock:
            return [self._snapshot(r, 0) for r in self._jobs.values() if not r.state.finished]

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every running job and give them up to ``timeout`` seconds to wind down."""
        with self._lock:
            running = [r for r in self._jobs.values() if not r.state.finished]
            for record in running:
                record.state = JobState.CANCELLING
                record.close.set()
                record.cancel.set()
        deadline = time.monotonic() + timeout
        for record in running:
            record.ended.wait(max(0.0, deadline - time.monotonic()))

    def _refuse_duplicate(self, name: str, exclusive: bool, alone: bool = False) -> None:
        self._prune()
        running = [r for r in self._jobs.values() if not r.state.finished]
        if exclusive and any(r.name == name for r in running):
            raise Refused(
                _("%(name)s is already running; wait for it to end or cancel it.", name=_(name))
            )
        sole = next((r for r in running if r.alone), None)
        if sole is not None:
            raise Refused(_("%(name)s is running; wait for it to end first.", name=_(sole.name)))
        if alone and running:
            names = ", ".join(sorted({_(r.name) for r in running}))
            raise Refused(
                _(
                    "%(name)s waits until nothing else runs; wait for %(names)s to end first.",
                    name=_(name),
                    names=names,
                )
            )

    def _get(self, job_id: str) -> _Record:
        record = self._jobs.get(job_id)
        if record is None:
            raise NotFound(_UNKNOWN_JOB)
        return record

    def _prune(self) -> None:
        now = self._clock()
        finished = sorted(
            (r for r in self._jobs.values() if r.finished_at is not None),
            key=lambda r: r.finished_at or 0.0,
        )
        surplus = len(finished) - self._max_finished
        for index, record in enumerate(finished):
            expired = now - (record.finished_at or now) > self._keep_finished_s
            if expired or index < surplus:
                del self._jobs[record.id]

    def _snapshot(self, record: _Record, log_tail: int | None) -> JobStatus:
        elapsed = (record.finished_at or self._clock()) - record.started
        log = tuple(record.log)
        if log_tail is not None:
            log = log[-log_tail:] if log_tail > 0 else ()
        running = record.state is JobState.RUNNING
        return snapshot(
            JobStatus,
            record,
            log=log,
            elapsed_s=elapsed,
            eta_s=estimate_remaining(elapsed, record.done, record.total) if running else None,
        )

    def _add_line(self, record: _Record, line: LogLine) -> None:
        record.log.append(line)
        record.lines_total += 1
        if line.level == "warning":
            record.warnings += 1
        elif line.level == "error":
            record.errors += 1

    def _apply(self, record: _Record, event: object) -> None:
        with self._lock:
            if isinstance(event, Progress):
                record.done, record.total = event.done, event.total
                if event.message:
                    record.message = event.message
            elif isinstance(event, LogLine):
                self._add_line(record, event)

    def _finish(
        self, record: _Record, state: JobState, *, result: Any = None, error: str | None = None
    ) -> None:
        with self._lock:
            record.state, record.result, record.error = state, result, error
            record.finished_at = self._clock()
            if state is JobState.CANCELLED:
                self._add_line(record, LogLine(_("Cancelled by the administrator."), "warning"))
            elif error:
                self._add_line(record, LogLine(error, "error"))
        record.ended.set()

    def _run(self, record: _Record, job: Job[Any]) -> None:
        try:
            while True:
                if record.close.is_set() or (record.cancel.is_set() and not record.winds_down):
                    job.close()
                    self._finish(record, JobState.CANCELLED)
                    return
                try:
                    event = next(job)
                except StopIteration as stop:
                    stopped = record.winds_down and record.cancel.is_set()
                    state = JobState.CANCELLED if stopped else JobState.SUCCEEDED
                    self._finish(record, state, result=stop.value)
                    return
                self._apply(record, event)
        except UserError as error:
            self._finish(record, JobState.FAILED, error=str(error))
        except Exception as error:  # a job's bug must end as a status, not a crash
            logger.exception("Job %s (%s) failed", record.id, record.name)
            self._finish(
                record,
                JobState.FAILED,
                error=_(
                    "The job stopped on an unexpected error (%(name)s: %(error)s).",
                    name=type(error).__name__,
                    error=error,
                ),
            )
