"""The job registry and the CLI driver: threads, progress, bounded log, cancel, retention."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
import textwrap
import threading
from collections.abc import Generator
from pathlib import Path

import pytest

from ibdesk.cli.progress import drive_with_progressbar
from ibdesk.errors import NotFound, Refused, UserError
from ibdesk.jobs import JobRegistry, JobState, estimate_remaining, format_duration
from ibdesk.progress import Event, LogLine, Progress

WAIT = 30.0  # seconds to wait for a worker thread; never reached when things work


def counting(n: int, *, log_every: int = 1) -> Generator[Event, None, str]:
    """Count to n, logging as it goes; return a summary."""
    for i in range(1, n + 1):
        if i % log_every == 0:
            yield LogLine(f"Bild {i} klar (Åsa Öberg)")
        yield Progress(i, n, f"image {i}")
    return f"{n} images done"


class Gate:
    """A job that waits at each step until the test lets it go on."""

    def __init__(self) -> None:
        self.step = threading.Semaphore(0)
        self.reached = threading.Semaphore(0)
        self.cleaned_up = threading.Event()
        self.thread_name = ""

    def job(self, steps: int = 5) -> Generator[Event, None, str]:
        self.thread_name = threading.current_thread().name
        try:
            for i in range(steps):
                self.reached.release()
                assert self.step.acquire(timeout=WAIT)
                yield Progress(i + 1, steps)
                yield LogLine(f"step {i + 1}")
            return "finished"
        finally:
            self.cleaned_up.set()


def test_a_job_runs_on_a_daemon_worker_thread_and_keeps_its_result() -> None:
    registry = JobRegistry()
    gate = Gate()
    job_id = registry.start("Export", lambda: gate.job(1))
    assert gate.reached.acquire(timeout=WAIT)
    assert registry.status(job_id).state is JobState.RUNNING
    workers = [t for t in threading.enumerate() if t.name == f"ibdesk-job-{job_id}"]
    assert workers and all(t.daemon for t in workers)
    gate.step.release()
    status = registry.wait(job_id, WAIT)
    assert status.state is JobState.SUCCEEDED
    assert status.result == "finished"
    assert gate.thread_name != threading.current_thread().name
    assert (status.done, status.total, status.percent) == (1, 1, 100)


def test_progress_log_and_counts_are_reported() -> None:
    registry = JobRegistry()
    job_id = registry.start("Export", lambda: counting(4))
    status = registry.wait(job_id, WAIT)
    assert status.state is JobState.SUCCEEDED and status.result == "4 images done"
    assert [line.text for line in status.log] == [f"Bild {i} klar (Åsa Öberg)" for i in range(1, 5)]
    assert status.message == "image 4"
    assert status.eta_s is None  # nothing left to estimate once finished


def test_the_log_is_bounded_but_counts_every_line() -> None:
    def noisy() -> Generator[Event, None, None]:
        for i in range(2500):
            yield LogLine(f"line {i}", "warning" if i % 2 else "info")
        yield LogLine("boom", "error")

    registry = JobRegistry(max_log_lines=2000)
    status = registry.wait(registry.start("Conversion", noisy), WAIT)
    assert len(status.log) == 2000
    assert status.lines_total == 2501 and status.lines_dropped == 501
    assert status.log[-1].text == "boom" and status.log[0].text == "line 501"
    assert (status.warnings, status.errors) == (1250, 1)
    assert [line.text for line in registry.status(status.id, log_tail=2).log] == [
        "line 2499",
        "boom",
    ]


def test_cancel_stops_the_job_at_its_next_event_and_runs_its_cleanup() -> None:
    registry = JobRegistry()
    gate = Gate()
    job_id = registry.start("Backup", lambda: gate.job(5))
    assert gate.reached.acquire(timeout=WAIT)
    assert registry.cancel(job_id).state is JobState.CANCELLING
    gate.step.release()
    status = registry.wait(job_id, WAIT)
    assert status.state is JobState.CANCELLED
    assert gate.cleaned_up.is_set()
    assert status.done <= 1  # it never got past the step it was in
    assert status.log[-1].text == "Cancelled by the administrator."
    # Cancelling a finished job changes nothing.
    assert registry.cancel(job_id).state is JobState.CANCELLED


def test_a_user_error_fails_the_job_with_its_sentence() -> None:
    def failing() -> Generator[Event, None, None]:
        yield Progress(1, 3)
        raise UserError("The image folder /srv/bilder is not reachable.")

    registry = JobRegistry()
    status = registry.wait(registry.start("Export", failing), WAIT)
    assert status.state is JobState.FAILED
    assert status.error == "The image folder /srv/bilder is not reachable."
    assert status.log[-1].level == "error"


def test_an_unexpected_error_fails_the_job_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def buggy() -> Generator[Event, None, None]:
        yield Progress(1, 2)
        raise ZeroDivisionError("division by zero")

    registry = JobRegistry()
    status = registry.wait(registry.start("Statistics", buggy), WAIT)
    assert status.state is JobState.FAILED
    assert status.error is not None and "ZeroDivisionError" in status.error
    assert "Traceback" not in status.error
    assert "Job" in caplog.text  # the details go to the program's log


def test_an_error_creating_the_job_surfaces_on_the_callers_thread() -> None:
    def factory() -> Generator[Event, None, None]:
        raise UserError("Choose an export folder first.")

    registry = JobRegistry()
    with pytest.raises(UserError, match="export folder"):
        registry.start("Export", factory)
    assert registry.active() == []


def test_a_second_job_of_the_same_name_is_refused_while_one_runs() -> None:
    registry = JobRegistry()
    gate = Gate()
    first = registry.start("Export", lambda: gate.job(1))
    assert gate.reached.acquire(timeout=WAIT)
    created: list[str] = []

    def second() -> Generator[Event, None, None]:
        created.append("yes")
        yield Progress(1, 1)

    with pytest.raises(Refused, match="Export is already running"):
        registry.start("Export", second)
    assert created == []
    other = registry.start("Statistics", lambda: counting(1))
    gate.step.release()
    registry.wait(first, WAIT)
    registry.wait(other, WAIT)
    again = registry.start("Export", lambda: counting(1))
    assert registry.wait(again, WAIT).state is JobState.SUCCEEDED


def test_finished_jobs_are_forgotten_after_a_while() -> None:
    now = [1000.0]
    registry = JobRegistry(keep_finished_s=60, max_finished=2, clock=lambda: now[0])
    first = registry.start("A", lambda: counting(1))
    registry.wait(first, WAIT)
    now[0] += 30
    assert registry.status(first).finished
    now[0] += 31
    with pytest.raises(NotFound):
        registry.status(first)
    ids = []
    for name in "BCD":
        ids.append(registry.start(name, lambda: counting(1)))
        registry.wait(ids[-1], WAIT)
        now[0] += 1
    registry.status(ids[-1])
    with pytest.raises(NotFound):
        registry.status(ids[0])  # only the newest two finished jobs are kept


def test_shutdown_cancels_running_jobs() -> None:
    registry = JobRegistry()
    gate = Gate()
    job_id = registry.start("Conversion", lambda: gate.job(3))
    assert gate.reached.acquire(timeout=WAIT)
    gate.step.release()
    registry.shutdown(timeout=WAIT)
    assert registry.status(job_id).state is JobState.CANCELLED
    assert gate.cleaned_up.is_set()


def test_a_job_that_never_ends_does_not_keep_the_program_alive(tmp_path: Path) -> None:
    script = tmp_path / "stuck.py"
    script.write_text(
        textwrap.dedent(
            """
            import threading
            from ibdesk.jobs import JobRegistry
            from ibdesk.progress import Progress

            def stuck():
                yield Progress(0, 1)
                threading.Event().wait()

            registry = JobRegistry()
            registry.start("Stuck", stuck)
            print("started", flush=True)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "started"


def test_eta_and_durations_read_naturally() -> None:
    assert estimate_remaining(10.0, 25, 100) == pytest.approx(30.0)
    assert estimate_remaining(10.0, 0, 100) is None
    assert estimate_remaining(10.0, 5, None) is None
    assert [format_duration(s) for s in (None, 4.4, 59, 125, 3600, 4830)] == [
        "",
        "4 s",
        "59 s",
        "2 min",
        "1 h 0 min",
        "1 h 20 min",
    ]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_cli_driver_prints_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    result = drive_with_progressbar(counting(20, log_every=10), "Exporting", file=out)
    assert result == "20 images done"
    lines = out.getvalue().splitlines()
    assert "Bild 10 klar (Åsa Öberg)" in lines and "Bild 20 klar (Åsa Öberg)" in lines
    progress = [line for line in lines if line.startswith("Exporting: ")]
    # The start, then one line per tenth of the way: 1/20, 2/20, 4/20, ... 20/20.
    assert progress[0] == "Exporting: 1/20 image 1" and progress[-1] == "Exporting: 20/20 image 20"
    assert len(progress) == 11


def test_the_cli_driver_draws_a_progress_bar_on_a_terminal() -> None:
    out = FakeTerminal()
    result = drive_with_progressbar(counting(5, log_every=5), "Exporting", file=out)
    assert result == "5 images done"
    text = out.getvalue()
    assert "Exporting" in text and "5/5" in text and "100%" in text and "image 5" in text
    assert "Bild 5 klar (Åsa Öberg)\n" in text


def test_the_cli_driver_closes_the_job_on_ctrl_c() -> None:
    cleaned = threading.Event()

    def job() -> Generator[Event, None, None]:
        try:
            yield Progress(1, 3)
            raise KeyboardInterrupt
        finally:
            cleaned.set()

    with pytest.raises(KeyboardInterrupt):
        drive_with_progressbar(job(), "Backup", file=io.StringIO())
    assert cleaned.is_set()


def winding_down(cancel: threading.Event, gate: Gate) -> Generator[Event, None, str]:
    """Copy files until told to stop, then say how far it got (as an export does)."""
    copied = 0
    try:
        while not cancel.is_set():
            gate.reached.release()
            assert gate.step.acquire(timeout=WAIT)
            copied += 1
            yield Progress(copied, 10)
        yield LogLine("Stopping after this file.", "warning")
        return f"cancelled after {copied} files"
    finally:
        gate.cleaned_up.set()


def test_a_winding_down_job_sees_cancel_itself_and_keeps_its_result() -> None:
    registry = JobRegistry()
    gate = Gate()
    job_id = registry.start_winding_down("Export", lambda cancel: winding_down(cancel, gate))
    assert gate.reached.acquire(timeout=WAIT)
    gate.step.release()
    assert gate.reached.acquire(timeout=WAIT)  # the first file is done, the second begun
    assert registry.cancel(job_id).state is JobState.CANCELLING
    gate.step.release()  # the job is not closed: it finishes its file and returns
    status = registry.wait(job_id, WAIT)
    assert status.state is JobState.CANCELLED
    assert status.result == "cancelled after 2 files"
    assert [line.text for line in status.log] == [
        "Stopping after this file.",
        "Cancelled by the administrator.",
    ]


def test_a_winding_down_job_that_is_not_cancelled_succeeds() -> None:
    registry = JobRegistry()

    def quick(cancel: threading.Event) -> Generator[Event, None, str]:
        yield Progress(1, 1)
        return "cancel was set" if cancel.is_set() else "done"

    status = registry.wait(registry.start_winding_down("Export", quick), WAIT)
    assert (status.state, status.result) == (JobState.SUCCEEDED, "done")


def test_shutdown_closes_a_winding_down_job_at_its_next_event() -> None:
    registry = JobRegistry()
    gate = Gate()

    def deaf(_cancel: threading.Event) -> Generator[Event, None, str]:
        try:
            for step in itertools.count(1):
                if step == 1:
                    gate.reached.release()
                yield Progress(step)
            return "never"
        finally:
            gate.cleaned_up.set()

    job_id = registry.start_winding_down("Export", deaf)
    assert gate.reached.acquire(timeout=WAIT)
    registry.shutdown(timeout=WAIT)
    status = registry.status(job_id)
    assert status.state is JobState.CANCELLED and status.result is None
    assert gate.cleaned_up.is_set()


def test_a_job_that_runs_alone_waits_for_the_others_and_holds_them_off() -> None:
    # A restore replaces the live database and image folder: not under a running export.
    registry = JobRegistry()
    gate = Gate()
    export = registry.start("Export", lambda: gate.job(1))
    assert gate.reached.acquire(timeout=WAIT)
    with pytest.raises(Refused, match="Restore backup waits until nothing else runs"):
        registry.start("Restore backup", lambda: counting(1), alone=True)
    gate.step.release()
    registry.wait(export, WAIT)
    other = Gate()
    restore = registry.start("Restore backup", lambda: other.job(1), alone=True)
    assert other.reached.acquire(timeout=WAIT)
    with pytest.raises(Refused, match="Restore backup is running; wait for it to end first"):
        registry.start("Export", lambda: counting(1))
    other.step.release()
    assert registry.wait(restore, WAIT).state is JobState.SUCCEEDED
    again = registry.start("Export", lambda: counting(1))
    assert registry.wait(again, WAIT).state is JobState.SUCCEEDED
