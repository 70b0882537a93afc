"""Babel extraction for ``ibdesk/cli``: its ``_()`` calls, and each command's docstring.

A click command's docstring is its help text; ``ibdesk.cli.translate_docstrings`` shows it in
the terminal's language, so the catalogue must hold it. Babel's own Python extractor finds the
``_()`` calls; this adds the docstring of every function decorated as a command or group
(``@x.command(...)``, ``@x.group(...)``, or a helper named ``..._command``, such as
``@runtime_command(x, ...)``) that gives no ``help=`` of its own. Named in ``babel.cfg``;
``scripts/i18n.py`` runs it.
"""

from __future__ import annotations

import ast
import io
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

from babel.messages.extract import extract_python

_DECORATORS = ("command", "group")


def _command_decorator(node: ast.expr) -> ast.Call | None:
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in _DECORATORS or name.endswith("_command"):
            return node
    return None


def docstrings(source: str) -> Iterator[tuple[int, str]]:
    """Yield (line, text) of each command docstring that is its help."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        calls = [c for c in map(_command_decorator, node.decorator_list) if c is not None]
        if not calls or any(k.arg == "help" for c in calls for k in c.keywords):
            continue
        text = ast.get_docstring(node)  # cleaned as inspect.cleandoc cleans it
        if text:
            yield node.body[0].lineno, text


def extract(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str | None, str | tuple[str, ...], list[str]]]:
    """Babel extraction method: the file's ``_()`` messages, then its command docstrings."""
    data = fileobj.read()
    yield from extract_python(io.BytesIO(data), keywords, comment_tags, options)
    for line, text in docstrings(data.decode(options.get("encoding", "utf-8"))):
        yield line, None, text, []
