"""The conversion's reports: JSON, the reject file as CSV, and a page to print (HTML).

One template (``conversion/print.html``) serves the tab's [Print] and ``ibdesk convert
--report FILE.html``; it is rendered here in a plain Jinja environment (the CLI never builds
the web app). CSV cells go through ``ibdesk.csvsafe`` (a 1.2 value is hostile text).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from ibdesk import config, csvsafe, display
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.models import ConversionIssue

REJECT_HEADER = ("table", "source_key", "column", "reason", "rejected", "raw_value", "new_value")


def issues(session: Session) -> Iterator[ConversionIssue]:
    """Yield every issue recorded, in order (keyset paging: memory stays flat)."""
    after = 0
    while True:
        batch = list(
            session.scalars(
                select(ConversionIssue)
                .where(ConversionIssue.id > after)
                .order_by(ConversionIssue.id)
                .limit(2000)
            )
        )
        if not batch:
            return
        yield from batch
        after = batch[-1].id
        session.expunge_all()


def reject_csv(session: Session) -> str:
    """Return the reject file: table, source key, column, reason code and raw value."""
    out = io.StringIO()
    writer = csvsafe.Writer(out)
    writer.writerow(REJECT_HEADER)
    for issue in issues(session):
        writer.writerow(
            (
                issue.source_table,
                issue.source_key,
                issue.column_name,
                issue.reason,
                "yes" if issue.rejected else "no",
                issue.raw_value,
                issue.new_value,
            )
        )
    return out.getvalue()


def analysis_csv(report: dict[str, Any]) -> str:
    """Return an analysis report as CSV: one line per problem example and per count."""
    out = io.StringIO()
    writer = csvsafe.Writer(out)
    writer.writerow(("section", "name", "count", "table", "key", "column", "raw"))
    for name, count in report.get("tables", {}).items():
        writer.writerow(("table", name, count, "", "", "", ""))
    for kind, found in report.get("problems", {}).items():
        writer.writerow(("problem", kind, found["count"], "", "", "", ""))
        for example in found["examples"]:
            writer.writerow(
                (
                    "example",
                    kind,
                    "",
                    example["table"],
                    example["key"],
                    example["column"],
                    example["raw"],
                )
            )
    return out.getvalue()


def as_json(report: dict[str, Any]) -> str:
    """Return a report as JSON."""
    return json.dumps(report, indent=2, ensure_ascii=False, default=str)


def html(report: dict[str, Any]) -> str:
    """Render a report as a page to print."""
    env = Environment(
        loader=PackageLoader("ibdesk", "templates"), autoescape=select_autoescape(default=True)
    )
    display.install_in(env)
    return env.get_template("conversion/print.html").render(
        report=report, printed_on=dt.date.today()
    )


def save(report: dict[str, Any], path: Path, session: Session | None = None) -> None:
    """Write a report to a file (0600: it names patients); the format follows the suffix."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = as_json(report)
    elif suffix in (".html", ".htm"):
        text = html(report)
    elif suffix == ".csv":
        text = reject_csv(session) if session is not None else analysis_csv(report)
    else:
        raise UserError(_("Save the report as .json, .csv or .html."))
    # It names patients: 0600 from its first byte, and whole or not at all.
    config.write_private(path, text)
