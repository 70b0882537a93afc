"""The one exception type whose message is shown to the administrator as it is."""

from __future__ import annotations


class UserError(Exception):
    """A problem the administrator can act on, worded as one clear sentence.

    The CLI prints it on stderr without a traceback and exits non-zero; the web app shows
    it on the page. Raise it (or a subclass) only after nothing has been half-written.
    """

    exit_code = 1


class NotFound(UserError):
    """Something named by the administrator does not exist."""


class Refused(UserError):
    """The action is not allowed in the current state (for example a signed image set)."""
