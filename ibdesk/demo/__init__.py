"""Demo clinics at any scale: patients, image sets, media, audit history and log-ins.

Rows go in through ``ibdesk.bulkwrite`` (COPY on PostgreSQL, executemany elsewhere, ids
reserved up front), a chunk of patients per transaction, so 100 000
patients with two million media rows take minutes and memory stays flat. With files, real
media files are written to the image folder first (to a temporary name, then renamed) and
removed again if their chunk's transaction fails, so rows and files always match.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from sqlalchemy import Engine

from ibdesk import audit, bulkwrite, statistics
from ibdesk.db import session_scope
from ibdesk.demo.options import DemoOptions, DemoSummary
from ibdesk.demo.writer import ChunkWriter
from ibdesk.i18n import gettext as _
from ibdesk.models import UTCDateTime
from ibdesk.progress import Job, LogLine, Progress

CHUNK_PATIENTS = 1000


def generate(engine: Engine, options: DemoOptions) -> Job[DemoSummary]:
    """Fill the database with a demo clinic, a chunk of patients per transaction."""
    options.check()
    started = time.perf_counter()
    rng = random.Random(options.seed)
    used: set[str] = set()
    total = DemoSummary()
    done = 0
    while done < options.patients:
        count = min(CHUNK_PATIENTS, options.patients - done)
        writer: ChunkWriter | None = None
        try:
            with session_scope(engine) as session:
                # Touches every index at random places: give it 512 MB (as before).
                bulkwrite.prepare(session, cache_mib=512)
                writer = ChunkWriter(session, options, rng, used)
                part = writer.write(count)
        except BaseException:
            for path in writer.files_written if writer else []:
                path.unlink(missing_ok=True)
            raise
        total.add(part)
        done += count
        yield Progress(done, options.patients, "patients")
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


def iter_chunks(total: int, size: int) -> Iterator[int]:
    """Yield chunk sizes that add up to total."""
    while total > 0:
        yield min(size, total)
        total -= size


__all__ = ["DemoOptions", "DemoSummary", "UTCDateTime", "generate"]
