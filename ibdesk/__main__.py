"""Run the ibdesk command with ``python -m ibdesk``; also the built program's entry point."""

import multiprocessing
import os
import sys


def run() -> None:
    """Be a multiprocessing helper or the PDF printer if asked to, else the ibdesk command."""
    # First of all: a built program's export workers and multiprocessing's own helper
    # processes start this same executable, and freeze_support() makes them what they are.
    multiprocessing.freeze_support()
    from ibdesk import pdf

    if os.environ.get(pdf.CHILD_ENV):  # a built program printing a PDF for itself
        sys.exit(pdf.main())
    from ibdesk.cli import main

    main(prog_name="ibdesk")


run()
