"""A large demo's rows, built in a second process while this one writes them.

Building the rows in Python takes about as long as writing them, and SQLite writes in the
calling thread: a second process builds chunk after chunk (a thread cannot: a busy thread
and ``executemany`` hand the interpreter lock to and fro, and the write never ends) and
hands each over a queue of two, so memory stays flat. It draws from the same generator
state in the same order, with ids counted from the tables' highest (``bulkload.LocalIds``):
the same seed makes the same clinic as in one process. Rows only: a run with media files
writes them in its own process, where a failed transaction can remove them again.
"""

from __future__ import annotations

import queue as queues
import random
import traceback
from collections.abc import Generator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any

from ibdesk import workers
from ibdesk.bulkload import LocalIds
from ibdesk.demo.options import DemoOptions
from ibdesk.demo.writer import Chunk, ChunkBuilder, iter_chunks
from ibdesk.i18n import gettext as _

QUEUED_CHUNKS = 2


@dataclass(frozen=True)
class _Failed:
    """The builder stopped with an error: its traceback, for the log."""

    trace: str


class BuilderError(RuntimeError):
    """The second process could not build the demo's rows."""


def chunks(
    options: DemoOptions, rng: random.Random, ids: LocalIds, chunk_patients: int
) -> Generator[Chunk]:
    """Yield the run's chunks as a second process builds them; stop it when closed."""
    context = workers.worker_context()
    queue: Queue[Chunk | _Failed | None] = context.Queue(maxsize=QUEUED_CHUNKS)
    process = context.Process(  # type: ignore[attr-defined]
        target=_build_all,
        args=(options, rng.getstate(), ids, chunk_patients, queue),
        name="ibdesk-demo-rows",
        daemon=True,
    )
    process.start()
    try:
        while (item := _next(queue, process)) is not None:
            yield item
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        queue.close()


def _next(queue: Queue[Chunk | _Failed | None], process: BaseProcess) -> Chunk | None:
    while True:
        try:
            item = queue.get(timeout=0.5)
        except queues.Empty:
            if process.exitcode is None:
                continue
            try:  # what it put just before it ended
                item = queue.get(timeout=2)
            except queues.Empty:
                raise BuilderError(
                    _(
                        "The demo's row builder stopped unexpectedly (exit code %(code)s, "
                        "perhaps out of memory); nothing was written.",
                        code=process.exitcode,
                    )
                ) from None
        if isinstance(item, _Failed):
            raise BuilderError(
                _(
                    "The demo's row builder failed; nothing was written:\n%(trace)s",
                    trace=item.trace,
                )
            )
        return item


def _build_all(
    options: DemoOptions,
    state: Any,
    ids: LocalIds,
    chunk_patients: int,
    queue: Queue[Chunk | _Failed | None],
) -> None:
    """In the second process: build every chunk, then None (or the error), into ``queue``."""
    workers.init_helper()
    rng = random.Random()
    rng.setstate(state)
    builder = ChunkBuilder(options, rng, set(), ids)
    try:
        for count in iter_chunks(options.patients, chunk_patients):
            queue.put(builder.build(count))
    except BaseException:
        queue.put(_Failed(traceback.format_exc()))
        return
    queue.put(None)
