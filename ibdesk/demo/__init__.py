"""Demo clinics at any scale: patients, image sets, media, audit history and log-ins.

Rows go in through ``ibdesk.bulkwrite`` (COPY on PostgreSQL, executemany elsewhere, ids
reserved up front), built a chunk of patients at a time, so memory stays flat. A clinic
with no patients and media yet is filled in one transaction whose tables' secondary
indexes (and PostgreSQL's foreign keys) are built, and whose rows are counted for the
statistics, once after the rows (``ibdesk.bulkload``, ``statistics.settle``); a failed or
cancelled run leaves the database exactly as it was (``benchmarks/demo.py`` times two
million media). A large one without files has its rows built in a second process while
this one writes (``demo.producer``). A clinic that has patients gets a transaction per
chunk. With files, real media files are written to the image folder first (to a temporary
name, then renamed) and removed again if their transaction fails, so rows and files always
match.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Generator, Iterator
from contextlib import closing

from sqlalchemy import Engine

from ibdesk import audit, bulkload, bulkwrite, statistics
from ibdesk.db import session_scope
from ibdesk.demo import producer
from ibdesk.demo.options import DemoOptions, DemoSummary
from ibdesk.demo.writer import Chunk, ChunkBuilder, iter_chunks, taken_in
from ibdesk.i18n import gettext as _
from ibdesk.models import AuditEvent, ImageSet, LoginEvent, MediaItem, Patient, UTCDateTime
from ibdesk.progress import Job, LogLine, Progress

CHUNK_PATIENTS = 1000
# From this many patients (without files) a second process builds the rows: below it,
# starting it (the fork server loads its libraries first) costs about what it saves
# (measured: 3.0 s in one process against 3.6 s at 5 000 patients, even at 10 000, 31 s
# against 27 s at 40 000).
PROCESS_FROM_PATIENTS = 10_000
# The tables a demo writes; into a clinic with no patients and media yet, in one go.
LOADED = (Patient, ImageSet, MediaItem, AuditEvent, LoginEvent)


def generate(engine: Engine, options: DemoOptions) -> Job[DemoSummary]:
    """Fill the database with a demo clinic, a chunk of patients at a time."""
    options.check()
    started = time.perf_counter()
    rng = random.Random(options.seed)
    used: set[str] = set()
    total = DemoSummary()
    with session_scope(engine) as session:
        empty = bulkload.tables_empty(session, (Patient, MediaItem))
    if empty:
        yield from _into_empty(engine, options, rng, used, total)
    else:
        yield from _chunk_by_chunk(engine, options, rng, used, total)

    with session_scope(engine) as session:
        statistics.fold(session)
        audit.system_event(
            session,
            audit.Actor("ibdesk demo"),
            "demo.generate",
            f"{total.patients} patients, {total.media} media, {total.files} files",
        )
    total.seconds = time.perf_counter() - started
    yield LogLine(
        _(
            "Made %(patients)s patients, %(image_sets)s image sets, %(media)s media "
            "(%(files)s files), %(audit_events)s audit events in %(seconds)s s.",
            **vars(total) | {"seconds": round(total.seconds, 1)},
        )
    )
    return total


def _into_empty(
    engine: Engine, options: DemoOptions, rng: random.Random, used: set[str], total: DemoSummary
) -> Iterator[Progress | LogLine]:
    """Fill empty tables in one transaction, their secondary indexes built after the rows."""
    builder: ChunkBuilder | None = None
    try:
        with session_scope(engine) as session:
            # Rows only appended (no index to keep): 64 MB does, and memory stays flat (512 MB
            # measured no faster at a million media and took 500 MB more).
            bulkwrite.prepare(session, cache_mib=64)
            with (
                bulkload.indexes_after(session, LOADED),
                bulkload.triggers_after(session, LOADED),
            ):
                ids = bulkload.LocalIds.of(session, LOADED)
                if options.image_folder is None and options.patients >= PROCESS_FROM_PATIENTS:
                    chunks = producer.chunks(options, rng, ids, CHUNK_PATIENTS)
                else:
                    builder = ChunkBuilder(options, rng, used, ids)
                    chunks = _built(builder, options.patients)
                with closing(chunks):  # a second process stops at once on any error
                    for chunk in chunks:
                        chunk.write(session)
                        total.add(chunk.summary)
                        yield Progress(total.patients, options.patients, "patients")
                bulkload.advance_sequences(session, LOADED)
                yield LogLine(
                    _(
                        "All rows are written; now the indexes are built (a while for a "
                        "large clinic)."
                    )
                )
                statistics.settle(session)
    except BaseException:
        for path in builder.files_written if builder else []:
            path.unlink(missing_ok=True)
        raise


def _built(builder: ChunkBuilder, patients: int) -> Generator[Chunk]:
    for count in iter_chunks(patients, CHUNK_PATIENTS):
        yield builder.build(count)


def _chunk_by_chunk(
    engine: Engine, options: DemoOptions, rng: random.Random, used: set[str], total: DemoSummary
) -> Iterator[Progress]:
    """Add to a clinic that has rows already, a transaction per chunk of patients."""
    for count in iter_chunks(options.patients, CHUNK_PATIENTS):
        builder: ChunkBuilder | None = None
        try:
            with session_scope(engine) as session:
                # Touches every index at random places: give it 512 MB (as before).
                bulkwrite.prepare(session, cache_mib=512)
                ids = functools.partial(bulkwrite.reserve_ids, session)
                builder = ChunkBuilder(options, rng, used, ids, taken_in(session))
                chunk = builder.build(count)
                chunk.write(session)
        except BaseException:
            for path in builder.files_written if builder else []:
                path.unlink(missing_ok=True)
            raise
        total.add(chunk.summary)
        yield Progress(total.patients, options.patients, "patients")


__all__ = ["DemoOptions", "DemoSummary", "UTCDateTime", "generate"]
