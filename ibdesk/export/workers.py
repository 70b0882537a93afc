"""The pool of worker processes that encode an export's media files.

Workers start as every helper does (``ibdesk.workers``: a fork server, or spawn on
Windows); each gets a share of OpenJPEG's threads, ignores Ctrl-C and exits when the
export process dies. ``jobs=0`` runs every file in the calling process instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ibdesk.errors import UserError
from ibdesk.export import media, pixels
from ibdesk.export.media import FileResult, FileTask
from ibdesk.i18n import gettext as _
from ibdesk.workers import worker_context

T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each task at once in this process."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run the task now and return its finished future."""
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future


class WorkerPool:
    """Started on the first file; replaced when a worker dies; shut down when done."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._executor: Executor | None = None
        self.generation = 0  # which pool: counted up each time one starts

    def submit(self, task: FileTask) -> Future[FileResult]:
        """Hand a file to a worker (``generation`` then names the pool it went to)."""
        for _attempt in range(2):
            if self._executor is None:
                self._executor = self._start()
                self.generation += 1
            try:
                return self._executor.submit(media.export_file, task)
            except BrokenProcessPool:
                # A worker died (killed, out of memory): start a fresh pool and go on.
                self.shutdown()
        raise UserError(_("The export's worker processes cannot be started."))

    def broken(self, generation: int) -> None:
        """Drop the pool of that generation, whose worker died, if it is still the current one.

        The other files of a broken pool fail one by one, some after a new pool has taken
        new files: that new pool must stay.
        """
        if generation == self.generation:
            self.shutdown()

    def shutdown(self) -> None:
        """Cancel the files not started, wait for those being encoded, stop the workers."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _start(self) -> Executor:
        cores = os.cpu_count() or 1
        if self.jobs == 0:
            pixels.set_threads(cores)
            return InlineExecutor()
        return ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=worker_context(),
            initializer=media.init_worker,
            initargs=(max(1, cores // self.jobs),),
        )
