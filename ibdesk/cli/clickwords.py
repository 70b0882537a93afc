"""Click's own words (usage, option and error lines) in the ibdesk catalogue.

Click translates them with the standard ``gettext`` module; ``use_catalogue`` points that
module at ibdesk's catalogue, so ``LANG=sv_SE.UTF-8 ibdesk --help`` is Swedish throughout.
The messages below are click's, listed so that extraction keeps them in the catalogue.
"""

from __future__ import annotations

import gettext

from ibdesk.i18n import N_, TRANSLATIONS_DIR

DOMAIN = "messages"
CLICK_MESSAGES = (
    N_("Usage:"),
    N_("Options"),
    N_("Commands"),
    N_("Show this message and exit."),
    N_("Show the version and exit."),
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("No such command {name!r}."),
    N_("No such option {name!r}."),
    N_("Missing option"),
    N_("Missing argument"),
    N_("Missing command."),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Aborted!"),
)


def use_catalogue() -> None:
    """Let click's messages come from ibdesk's catalogue, in the locale's language."""
    gettext.bindtextdomain(DOMAIN, str(TRANSLATIONS_DIR))
    gettext.textdomain(DOMAIN)
