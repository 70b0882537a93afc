"""How this program starts helper processes, and how they end with it.

Never a plain fork of this process (the web app runs threads, and forking a threaded
process is unsafe): on POSIX a fork server starts once, with the image libraries loaded,
and forks helpers from itself; Windows has only spawn (a built program's helpers start
the same executable: ``multiprocessing.freeze_support`` in ``ibdesk.__main__``). Each
helper watches its parent and exits with it, so a killed program (kill -9, a crash)
leaves none behind. Used by the export's encoders and the demo's row builder.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from multiprocessing.context import BaseContext

# Only third-party modules: the fork server imports them before it has our sys.path.
_PRELOAD = ["numpy", "PIL.Image", "glymur"]


def worker_context() -> BaseContext:
    """Return how helper processes are started (fork server, or spawn on Windows)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def init_helper() -> None:
    """Prepare this helper process: no Ctrl-C, and exit when the parent dies."""
    # Ctrl-C reaches the whole process group; the parent itself decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        # A helper waiting on a queue would otherwise wait forever.
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="ibdesk-parent-watch", daemon=True).start()
