"""The one way ibdesk writes text that a spreadsheet may open: no cell can start a formula.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, after a tab or
carriage return, what follows) as a formula, so a user or machine name such as
``=HYPERLINK(...)`` would run on the reader's computer. As OWASP describes for CSV injection,
such a cell (even after leading spaces) gets a leading ``'`` (the spreadsheet then shows the
text as it is) and the CSV writer quotes every cell that holds a separator or a quote.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

# And their full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20), which spreadsheets with an
# East Asian input setting read as the same operators.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def cell(value: Any) -> Any:
    """Return a cell value a spreadsheet shows as text: a leading ``'`` before a formula start."""
    # Leading white space too (any kind, a no-break space or an ideographic one): some
    # spreadsheets trim it on import and then see the formula.
    if isinstance(value, str) and _trimmed(value).startswith(FORMULA_START):
        return "'" + value
    return value


def _trimmed(value: str) -> str:
    # Tab and carriage return stay: they start a formula themselves.
    index = 0
    while index < len(value) and value[index].isspace() and value[index] not in "\t\r":
        index += 1
    return value[index:]


def row(values: Iterable[Any]) -> list[Any]:
    """Return a row whose text cells are all neutralised."""
    return [cell(value) for value in values]


def text_cell(value: Any) -> str:
    """Return a value for a tab-separated line: no tab or line break inside, no formula start."""
    flat = " ".join(str(value).replace("\t", " ").splitlines())
    return str(cell(flat))


def tsv_line(*values: Any) -> str:
    """Return one tab-separated line of neutralised cells."""
    return "\t".join(text_cell(value) for value in values)


class Writer:
    """A ``csv.writer`` that neutralises every cell it writes (the only CSV writer to use)."""

    def __init__(self, out: _Writable) -> None:
        """Write CSV rows to ``out``."""
        self._writer = csv.writer(out)

    def writerow(self, values: Iterable[Any]) -> None:
        """Write one row, each text cell neutralised."""
        self._writer.writerow(row(values))
