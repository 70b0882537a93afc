"""Run the ibdesk command with ``python -m ibdesk``."""

from ibdesk.cli import main

main(prog_name="ibdesk")
