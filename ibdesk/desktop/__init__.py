"""The desktop shell (being split into submodules; ``window`` holds it all for now)."""

from ibdesk.desktop.window import *  # noqa: F403
