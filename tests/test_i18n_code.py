"""No user-facing sentence in the Python code escapes the catalogue.

An AST scan of ibdesk/: the messages of the exceptions the administrator reads, of
``flash``, ``Answer``, job log lines and ``click.echo``, the labels, help texts and
validator messages of forms, and the help of CLI options must be wrapped in ``_()`` /
``_l()`` (or be built from wrapped sentences); a bare literal with words fails.
"""

from __future__ import annotations

import ast
import re

import i18ncheck

PACKAGE = i18ncheck.REPO / "ibdesk"
# The vendor's own licensing tool (ibdesk-vendor) runs at the vendor, in English only.
SKIPPED = {PACKAGE / "vendor.py"}
MESSAGE_CALLS = {
    "UserError",
    "NotFound",
    "Refused",
    "ConfigError",
    "DatabaseError",
    "LicenseError",
    "SeatError",
    "PersonnummerError",
    "PasswordRejected",
    "MissingKey",
    "PdfError",
    "ExportFailed",
    "FileProblem",
    "ItemProblem",
    "InvalidExport",
    "ValidationError",
    "UsageError",
    "BadParameter",
    "ClickException",
    "flash",
    "echo",
    "secho",
    "LogLine",
}
VALIDATORS = {"DataRequired", "InputRequired", "Length", "NumberRange", "Optional", "Regexp"}
CLICK_PARAMETERS = {"option", "argument", "command", "group"}
WRAPPERS = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "pgettext"}
_WORDS = re.compile(r"[A-Za-z]{2,}")


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _bare_words(node: ast.expr) -> str | None:
    """Return the words of a literal not wrapped in _(), if the expression holds one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if _WORDS.search(node.value) else None
    if isinstance(node, ast.JoinedStr):
        text = "".join(p.value for p in node.values if isinstance(p, ast.Constant))
        return text if _WORDS.search(str(text)) else None
    if isinstance(node, ast.BinOp):
        return _bare_words(node.left) or _bare_words(node.right)
    if isinstance(node, ast.IfExp):
        return _bare_words(node.body) or _bare_words(node.orelse)
    return None


def _shown_arguments(call: ast.Call) -> list[ast.expr]:
    """Return the arguments of a call that people read."""
    name = _name(call.func)
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    if name in MESSAGE_CALLS:
        return [*call.args[:1], *(keywords[k] for k in ("message", "problem") if k in keywords)]
    if name == "Answer":
        return list(call.args[1:])
    if name.endswith("Field"):
        return [*call.args[:1], *(keywords[k] for k in ("label", "description") if k in keywords)]
    if name in VALIDATORS:
        # DataRequired("…") and InputRequired("…") take their message first.
        first = call.args[:1] if name in ("DataRequired", "InputRequired") else []
        return [*first, *([keywords["message"]] if "message" in keywords else [])]
    if name in CLICK_PARAMETERS:
        return [keywords[k] for k in ("help", "short_help", "prompt") if k in keywords]
    return []


def unwrapped(source: str, filename: str) -> list[str]:
    """List the user-facing literals of one module that are not wrapped in _()."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call) or _name(node.func) in WRAPPERS:
            continue
        for argument in _shown_arguments(node):
            words = _bare_words(argument)
            if words is not None:
                found.append(f"{filename}:{argument.lineno}: {words[:70]!r}")
    return found


def test_the_scan_catches_the_forms_a_bare_message_takes() -> None:
    source = """
raise UserError("The folder is gone.")
raise Refused(f"Seat {n} is free.")
flash("Saved.", "success")
answer = Answer("error", "Install the license first.")
click.echo("Press Ctrl+C to stop.")
field = StringField("User name", description="As in anna.admin.")
@click.option("--all", help="Export every patient.")
def f(): pass
name = StringField(_("Name"), validators=[DataRequired("Type a name.")])
raise UserError(_("The folder is gone."))
raise NotFound(_("Patient %(id)s does not exist.", id=n))
flash(_("Saved."), "success")
Answer("error", str(error))
click.echo(f"{label}: {count}")
"""
    found = unwrapped(source, "example.py")
    assert [line.split(":")[1] for line in found] == ["2", "3", "4", "5", "6", "7", "7", "8", "10"]


def test_no_user_facing_literal_in_the_code_is_left_unwrapped() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in SKIPPED or "migrations" in path.parts:
            continue
        found += unwrapped(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    assert not found, "wrap these in _() or _l():\n" + "\n".join(found)
