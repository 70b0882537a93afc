"""Run the ibdesk command with ``python -m ibdesk``; also the built program's entry point."""

import multiprocessing
import os
import sys


def run() -> None:
    """Be a multiprocessing helper, the PDF printer or the display probe if asked, else ibdesk."""
    # First of all: a built program's export workers and multiprocessing's own helper
    # processes start this same executable, and freeze_support() makes them what they are.
    multiprocessing.freeze_support()
    from ibdesk import pdf

    if os.environ.get(pdf.CHILD_ENV):  # a built program printing a PDF for itself
        sys.exit(pdf.main())
    from ibdesk import desktop

    if os.environ.get(desktop.PROBE_ENV):  # a built program probing its display: no CLI
        desktop.run_probe()
        return
    from ibdesk.cli import main

    main(prog_name="ibdesk")


run()
