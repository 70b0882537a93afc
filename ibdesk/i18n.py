"""Swedish and English: which language is in force, and the one set of gettext functions.

Inside the window a request's language is Flask-Babel's locale: the administrator's stored
choice (``language`` in the local configuration file, so it is remembered per OS user), else
the system's. Outside a request (the CLI, domain code run from it) the language follows the
locale environment (``LC_ALL``, ``LC_MESSAGES``, ``LANG``) or, with none set, the system
locale. Domain code calls these functions too, so a ``UserError`` raised during a request is
worded in the window's language and the same error from the CLI in the terminal's.

Messages are whole sentences with named placeholders: ``gettext("%(count)d images",
count=n)``. Strings built at import time (form labels, tab labels) use ``lazy_gettext``.
"""

from __future__ import annotations

import locale
import os
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations
from flask import current_app, has_app_context
from flask_babel import LazyString
from markupsafe import escape

ENGLISH = "en"
SWEDISH = "sv"
# The languages of the switch, each named in its own language.
LANGUAGES = {SWEDISH: "Svenska", ENGLISH: "English"}
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
_PREFERENCE_KEY = "language"
_APP_KEY = "ibdesk.language"
# Set on a worker thread so that a job speaks the language of the page that started it.
_THREAD_LANGUAGE: ContextVar[str | None] = ContextVar("ibdesk_language", default=None)


def _language_of(name: str | None) -> str | None:
    """Return "sv" or "en" for a locale name such as sv_SE.UTF-8 or Swedish_Sweden."""
    if not name:
        return None
    lowered = name.lower()
    if lowered.startswith(("sv", "swedish")):
        return SWEDISH
    return ENGLISH


def system_language() -> str:
    """Return the language of the locale environment, else of the system: sv or en."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return _language_of(value) or ENGLISH
    try:
        name = locale.getlocale(locale.LC_MESSAGES if hasattr(locale, "LC_MESSAGES") else 0)[0]
    except (ValueError, TypeError):
        name = None
    return _language_of(name) or ENGLISH


def stored_language() -> str | None:
    """Return the language this OS user chose in the window, if any (and readable)."""
    from ibdesk import config  # config words its errors with this module's gettext

    try:
        value = config.load().get(_PREFERENCE_KEY)
    except config.ConfigError:
        return None
    return value if value in LANGUAGES else None


def remember_language(language: str) -> None:
    """Store the window's language for this OS user."""
    if language not in LANGUAGES:
        raise ValueError(language)
    from ibdesk import config

    data = config.load()
    data[_PREFERENCE_KEY] = language
    config.save(data)


def window_language() -> str:
    """Return the window's language: the stored choice, else the system's."""
    return stored_language() or system_language()


def select_locale() -> str:
    """Flask-Babel's locale selector: the app's language (kept per launch) or the system's."""
    if has_app_context():
        language = current_app.extensions.get(_APP_KEY)
        if language in LANGUAGES:
            return str(language)
    return system_language()


def set_app_language(app: Any, language: str) -> None:
    """Use this language for the app's following requests."""
    app.extensions[_APP_KEY] = language


def current_language() -> str:
    """Return the language of this request (or app), or of the locale environment."""
    if has_app_context():
        return select_locale()
    return _THREAD_LANGUAGE.get() or system_language()


def use_language(language: str | None) -> None:
    """Word messages in this language in the current context (outside any app); None goes
    back to the system's language."""
    _THREAD_LANGUAGE.set(language)


@lru_cache(maxsize=4)
def translations(language: str) -> NullTranslations:
    """Return the compiled catalogue of a language (English needs none)."""
    if language == ENGLISH:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")


def gettext(message: str, **variables: Any) -> str:
    """Translate a message into the current language and fill its named placeholders."""
    text = translations(current_language()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Translate a message whose wording depends on a count (``%(num)d`` is that count)."""
    variables.setdefault("num", num)
    text = translations(current_language()).ngettext(singular, plural, num)
    return text % variables


def pgettext(context: str, message: str, **variables: Any) -> str:
    """Translate a short message whose meaning depends on its context."""
    text = str(translations(current_language()).pgettext(context, message))
    return text % variables if variables else text


class LazyText(LazyString):
    """A message translated when shown, escaped in templates like any other text.

    Flask-Babel's LazyString passes itself off as markup (``__html__``), so a page would
    print a translation's ``'`` or ``<`` unescaped; messages are text, never markup.
    """

    def __html__(self) -> str:
        """Return the translation escaped, as a page prints any text."""
        return str(escape(str(self)))


def lazy_gettext(message: str, **variables: Any) -> LazyString:
    """Return a message translated each time it is shown (for class attributes)."""
    return LazyText(gettext, message, **variables)


def lazy_ngettext(singular: str, plural: str, num: int, **variables: Any) -> LazyString:
    """Return a count-dependent message translated each time it is shown."""
    return LazyText(ngettext, singular, plural, num, **variables)


def lazy_pgettext(context: str, message: str, **variables: Any) -> LazyString:
    """Return a context-dependent message translated each time it is shown."""
    return LazyText(pgettext, context, message, **variables)


def N_(message: str) -> str:
    """Mark a message for the catalogue and return it unchanged; it is translated when shown.

    For names that must stay the same whatever the language (a job's name is its key in
    the registry); the page shows them through ``_()``.
    """
    return message


_ = gettext
