"""The statistics printout: one template for the window's print page, its PDF and the CLI.

``statistics/print.html`` is rendered by Flask for the window's print layout and, for a PDF,
by a plain Jinja environment here (the CLI never builds the web app): the same filters, the
stylesheet inside, printed by Qt WebEngine in a child process (``ibdesk.pdf``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ibdesk import display
from ibdesk.errors import Refused
from ibdesk.i18n import gettext as _
from ibdesk.settings.connection import DatabaseLabel
from ibdesk.statistics import Gathered, charts

_PRINT_CSS = Path(__file__).resolve().parent.parent / "static" / "print.css"


def _month_chart(gathered: Gathered) -> charts.BarChart | None:
    if gathered.report is None:
        return None
    return charts.bar_chart([(m.month, m.count) for m in gathered.report.months])


def report_context(gathered: Gathered) -> dict[str, Any]:
    """Return what the report's templates show: the figures and the chart."""
    return {"gathered": gathered, "chart": _month_chart(gathered)}


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ibdesk", "templates"), autoescape=select_autoescape(default=True)
    )
    display.install_in(env)
    return env


def print_context(gathered: Gathered, label: DatabaseLabel, *, embed_css: bool) -> dict[str, Any]:
    """Return the printout's context; with ``embed_css`` its stylesheet is inside (for a PDF)."""
    css = Markup(_PRINT_CSS.read_text(encoding="utf-8")) if embed_css else None
    return {
        "label": label,
        "printed_on": dt.date.today(),
        "embedded_css": css,
        **report_context(gathered),
    }


def pdf_html(gathered: Gathered, label: DatabaseLabel) -> str:
    """Render the printout for a PDF to file away; refuse when the numbers are incomplete."""
    if gathered.problem is not None:
        raise Refused(
            _(
                "The statistics are incomplete, so no PDF was made: %(problem)s",
                problem=gathered.problem,
            )
        )
    template = _environment().get_template("statistics/print.html")
    return template.render(**print_context(gathered, label, embed_css=True))


def pdf_name(today: dt.date) -> str:
    """Return the file name a statistics PDF is saved under."""
    return f"imagebank-statistics-{today.isoformat()}.pdf"
