"""A large demo's rows, built in a second process while this one writes them.

Building the rows in Python takes about half as long as writing them, and the write keeps
this thread busy (SQLite writes in it; PostgreSQL's COPY is fed from it): a second process
builds chunk after chunk (a thread cannot: a busy thread and ``executemany`` hand the
interpreter lock to and fro, and the write never ends) and hands each over a pipe, one at
a time, so memory stays flat. It draws from the same generator state in the same order,
with ids counted from the tables' highest (``bulkload.LocalIds``): the same seed makes the
same clinic as in one process. Rows only: a run with media files
writes them in its own process, where a failed transaction can remove them again.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Generator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ibdesk import workers
from ibdesk.bulkload import LocalIds
from ibdesk.demo.options import DemoOptions
from ibdesk.demo.writer import Chunk, ChunkBuilder, iter_chunks
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Failed:
    """The builder stopped with an error: its last line, and its traceback for the log."""

    error: str
    trace: str


class BuilderError(UserError):
    """The second process could not build the demo's rows; nothing was written."""


def chunks(
    options: DemoOptions, rng: random.Random, ids: LocalIds, chunk_patients: int
) -> Generator[Chunk]:
    """Yield the run's chunks as a second process builds them; stop it when closed."""
    context = workers.worker_context()
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(  # type: ignore[attr-defined]
        target=_build_all,
        args=(options, rng.getstate(), ids, chunk_patients, writer),
        name="ibdesk-demo-rows",
        daemon=True,
    )
    try:
        process.start()
        # The builder holds the only writing end: if it dies, even halfway through a chunk,
        # reading ends at once instead of waiting for the rest.
        writer.close()
        while (item := _next(reader, process)) is not None:
            yield item
    finally:
        if process.is_alive():
            process.kill()
        if process.pid is not None:
            process.join()
        reader.close()


def _next(reader: Connection, process: BaseProcess) -> Chunk | None:
    try:
        item = reader.recv()
    except (EOFError, OSError):  # OSError: it ended halfway through sending a chunk
        process.join()
        raise BuilderError(
            _(
                "The demo's row builder stopped unexpectedly (exit code %(code)s, perhaps out "
                "of memory); nothing was written.",
                code=process.exitcode,
            )
        ) from None
    if isinstance(item, _Failed):
        logger.error("The demo's row builder failed:\n%s", item.trace)
        raise BuilderError(
            _(
                "The demo's row builder failed (%(error)s); nothing was written.",
                error=item.error,
            )
        )
    assert item is None or isinstance(item, Chunk)
    return item


def _build_all(
    options: DemoOptions, state: Any, ids: LocalIds, chunk_patients: int, writer: Connection
) -> None:
    """In the second process: send every chunk, then None (or the error), down ``writer``.

    A chunk is sent whole and waits in the pipe until it is read: one chunk in the pipe and
    one being built, at the most.
    """
    workers.init_helper()
    rng = random.Random()
    rng.setstate(state)
    builder = ChunkBuilder(options, rng, set(), ids)
    try:
        for count in iter_chunks(options.patients, chunk_patients):
            writer.send(builder.build(count))
    except BrokenPipeError:  # the writing process has stopped reading: it is closing
        return
    except BaseException as error:
        last = traceback.format_exception_only(error)[-1].strip()
        writer.send(_Failed(last, traceback.format_exc()))
        return
    writer.send(None)
