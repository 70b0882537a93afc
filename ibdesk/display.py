"""How values are shown to people: the one place, for the pages, the printout, the PDF and the CLI.

- A personnummer as staff write it: ``19121212-1212``.
- A date ``2026-12-01`` and a time ``14:05`` in both languages, in this computer's time zone.
- A whole number with the language's separators: ``1 234 567`` in Swedish (a NO-BREAK SPACE,
  U+00A0, between thousands, as Swedish typography and Windows do), ``1,234,567`` in English.
- A byte size in decimal units (kB = 1000 bytes, MB = 1000 kB ...) with one decimal:
  ``45,8 MB`` in Swedish, ``45.8 MB`` in English. Decimal, not 1024-based, because that is
  what disk makers print and what the export's ``MB`` always meant; Windows Explorer counts
  in 1024s, so its figure for the same folder is up to 7 % smaller at GB sizes.
- A media kind's name (``Sound``, not "Audio"), in the current language.

The language is ``ibdesk.i18n.current_language()``: the window's in a request, the locale
environment's in the CLI. The Jinja filters are registered once, by ``install``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.numbers import format_decimal
from markupsafe import Markup, escape

from ibdesk.i18n import current_language, gettext, lazy_gettext, ngettext

_DECIMAL_UNITS = ("kB", "MB", "GB", "TB", "PB")

# The name of each media kind (MediaKind values), as a caption and as a table row heading.
MEDIA_KINDS = {
    "intraoral": lazy_gettext("Intraoral X-ray"),
    "panoramic": lazy_gettext("Panoramic X-ray"),
    "photo": lazy_gettext("Photo"),
    "video": lazy_gettext("Video"),
    "audio": lazy_gettext("Sound"),
    "document": lazy_gettext("Document"),
}
MEDIA_KINDS_PLURAL = {
    "intraoral": lazy_gettext("Intraoral X-rays"),
    "panoramic": lazy_gettext("Panoramic X-rays"),
    "photo": lazy_gettext("Photos"),
    "video": lazy_gettext("Videos"),
    "audio": lazy_gettext("Sound recordings"),
    "document": lazy_gettext("Documents"),
}


def personnummer(number: str | None) -> str:
    """Show a normalised 12-digit personnummer as ``YYYYMMDD-NNNN`` (others as they are)."""
    if not number:
        return ""
    if len(number) == 12 and number.isdigit():
        return f"{number[:8]}-{number[8:]}"
    return number


def number(value: int | float, *, decimals: int = 0) -> str:
    """Show a number with the current language's thousands and decimal separators."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return str(format_decimal(value, format=pattern, locale=current_language()))


def byte_size(count: int | None) -> str:
    """Show a byte count in decimal units with one decimal: ``532 B``, ``45.8 MB``."""
    if count is None:
        return "–"
    if abs(count) < 1000:
        return f"{number(count)} B"
    amount = float(count)
    chosen = _DECIMAL_UNITS[-1]
    for unit in _DECIMAL_UNITS:
        amount /= 1000
        if abs(amount) < 999.95:
            chosen = unit
            break
    return f"{number(amount, decimals=1)} {chosen}"


def _local(value: dt.datetime) -> dt.datetime:
    """Return a time in this computer's time zone (a naive value is already local)."""
    return value.astimezone()


def date(value: dt.date | dt.datetime | None) -> str:
    """Show a date as ``2026-12-01`` (a timestamp by its local date); "" for none."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = _local(value).date()
    return value.isoformat()


def time(value: dt.datetime | None, *, seconds: bool = False) -> str:
    """Show a timestamp's local time as ``14:05`` (``14:05:09`` with seconds)."""
    if value is None:
        return ""
    return _local(value).strftime("%H:%M:%S" if seconds else "%H:%M")


def date_time(value: dt.datetime | None, *, seconds: bool = False) -> str:
    """Show a timestamp as ``2026-12-01 14:05`` in local time; "" for none."""
    if value is None:
        return ""
    return f"{date(value)} {time(value, seconds=seconds)}"


def when(value: dt.date | dt.datetime | None) -> str:
    """Show a date as a date and a timestamp to the minute; "–" for none."""
    if value is None:
        return "–"
    if isinstance(value, dt.datetime):
        return date_time(value)
    return date(value)


def media_kind(kind: str) -> str:
    """Name a media kind: ``Intraoral X-ray``, ``Sound`` ..."""
    label = MEDIA_KINDS.get(kind)
    return str(label) if label is not None else kind


def media_kind_plural(kind: str) -> str:
    """Name a media kind as a heading over many: ``Intraoral X-rays``, ``Sound recordings``."""
    label = MEDIA_KINDS_PLURAL.get(kind)
    return str(label) if label is not None else kind


def media_count(kind: str, count: int) -> str:
    """Say how many media of a kind: ``1 photo``, ``2 intraoral X-rays``."""
    shown = number(count)
    forms = {
        "intraoral": ngettext("%(n)s intraoral X-ray", "%(n)s intraoral X-rays", count, n=shown),
        "panoramic": ngettext("%(n)s panoramic X-ray", "%(n)s panoramic X-rays", count, n=shown),
        "photo": ngettext("%(n)s photo", "%(n)s photos", count, n=shown),
        "video": ngettext("%(n)s video", "%(n)s videos", count, n=shown),
        "audio": ngettext("%(n)s sound recording", "%(n)s sound recordings", count, n=shown),
        "document": ngettext("%(n)s document", "%(n)s documents", count, n=shown),
    }
    return forms.get(kind, f"{shown} {kind}")


_PATH_BREAKS = frozenset("/\\:.-_@?&")


def breakable_path(text: str | None) -> Markup:
    """Return a path or address with line-break chances after its separators only.

    Long paths then wrap at ``/`` or ``\\`` rather than in the middle of a folder's name.
    """
    parts = []
    for ch in text or "":
        parts.append(escape(ch))
        if ch in _PATH_BREAKS:
            parts.append(Markup("<wbr>"))
    return Markup("").join(parts)


def filters() -> dict[str, Any]:
    """Return the display functions by their Jinja filter names."""
    return {
        "pn": personnummer,
        "number": number,
        "bytes": byte_size,
        "date": date,
        "time": time,
        "date_time": date_time,
        "when": when,
        "media_kind": media_kind,
        "media_kind_plural": media_kind_plural,
        "path": breakable_path,
    }


def template_globals() -> dict[str, Any]:
    """Return the display helpers templates call as functions."""
    return {"media_count": media_count, "media_kinds": tuple(MEDIA_KINDS)}


def install(app: Any) -> None:
    """Register the display functions as the app's Jinja filters (once, in create_app)."""
    app.jinja_env.filters.update(filters())
    app.jinja_env.globals.update(template_globals())


def install_in(env: Any) -> None:
    """Register the same filters, globals and translations in a plain Jinja environment."""
    from ibdesk import i18n

    env.filters.update(filters())
    env.globals.update(template_globals())
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True)


def database(url: Any) -> str:
    """Name a database as an administrator does: "SQLite file C:\\ImageBank\\x.sqlite3"."""
    from urllib.parse import unquote_plus

    from ibdesk.db import normalize_url, parse_odbc

    try:
        parsed = normalize_url(url) if isinstance(url, str) else url
    except Exception:  # a URL that cannot be read is named as it was given
        return str(url)
    backend = parsed.get_backend_name()
    name = parsed.database or ""
    if backend == "sqlite":
        return gettext("SQLite file %(path)s", path=name or ":memory:")
    server = parsed.host or "localhost"
    if backend == "mssql":
        odbc = parsed.query.get("odbc_connect")
        if isinstance(odbc, str):
            fields = {
                key.upper(): value.strip() for key, value in parse_odbc(unquote_plus(odbc)).items()
            }
            server = fields.get("SERVER", server)
            name = fields.get("DATABASE", name)
        if parsed.port:
            server = f"{server},{parsed.port}"
        return gettext("SQL Server %(server)s, database %(name)s", server=server, name=name)
    if parsed.port:
        server = f"{server}:{parsed.port}"
    if backend == "postgresql":
        return gettext("PostgreSQL server %(server)s, database %(name)s", server=server, name=name)
    return gettext(
        "%(backend)s server %(server)s, database %(name)s",
        backend=backend,
        server=server,
        name=name,
    )


def schema(state: str | None, revision: str | None) -> tuple[str, str]:
    """Say a schema state in words ("ImageBank 2.1, up to date"), with the revision as detail."""
    words = {
        "current": gettext("ImageBank 2.1, up to date"),
        "older": gettext("ImageBank 2.1, older than this program: update the database"),
        "newer": gettext("Newer than this program: install the newer ImageBank SysAdmin"),
        "empty": gettext("Empty: no ImageBank tables yet"),
        "foreign": gettext("Not an ImageBank database"),
    }
    text = words.get(str(state), gettext("Unknown")) if state else gettext("Unknown")
    details = gettext("Schema revision %(revision)s", revision=revision) if revision else ""
    return text, details
