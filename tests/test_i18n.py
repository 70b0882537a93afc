"""The catalogue keeps up with the code: no user-facing string without Swedish."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import click
import i18ncheck
from babel.messages.mofile import read_mo
from click.testing import CliRunner

from ibdesk.cli import main

TEMPLATES = i18ncheck.REPO / "ibdesk" / "templates"
# Text between tags, outside {{ }}, {% %} and {# #}: visible words a template forgot to wrap.
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_TEXT = re.compile(r">([^<>]*[A-Za-z]{2,}[^<>]*)<")
# Attributes people read (hover text, empty-field hints, screen readers, image text).
_SHOWN_ATTRIBUTE = re.compile(
    r"""\b(title|placeholder|aria-label|alt)\s*=\s*("([^"]*)"|'([^']*)')""", re.I
)
# Literal text handed to a macro (title=, label=, ...) inside {{ }} or {% %} without _().
_MACRO_LITERAL = re.compile(
    r"""\b(title|label|placeholder|alt|text|caption|hint|empty)\s*=\s*("[^"]*[A-Za-z]{2,}[^"]*"|'[^']*[A-Za-z]{2,}[^']*')"""
)
_ALLOWED = {"ImageBank SysAdmin", "ImageBank", "DEMO", "TEST", "Svenska", "English", "ms"}


def test_every_extracted_message_has_a_swedish_translation() -> None:
    missing = i18ncheck.untranslated()
    assert not missing, "untranslated (run scripts/i18n.py):\n" + "\n".join(missing)


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    with i18ncheck.SV_MO.open("rb") as fh:
        compiled = read_mo(fh)
    source = i18ncheck.swedish()

    def key(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    wanted = {key(m.id): key(m.string) for m in source if m.id and not m.fuzzy}
    got = {key(m.id): key(m.string) for m in compiled if m.id}
    assert got == wanted, "the .mo is stale: run scripts/i18n.py"


def test_templates_have_no_visible_text_outside_gettext() -> None:
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = _JINJA.sub("", path.read_text(encoding="utf-8"))
        # Styles, scripts and commands shown as code are not words to translate.
        text = re.sub(r"<(style|script|code)\b.*?</\1>", "", text, flags=re.S)
        for match in _TEXT.finditer(text):
            words = " ".join(match.group(1).replace("·", " ").split())
            if words and words not in _ALLOWED:
                found.append(f"{path.relative_to(TEMPLATES)}: {words}")
    assert not found, "wrap these in _():\n" + "\n".join(found)


def shown_attribute_literals(template: str) -> list[str]:
    """List attribute values people read that hold words outside {{ _() }}."""
    found = []
    blocks = [m.span() for m in re.finditer(r"\{\{.*?\}\}|\{%.*?%\}", template, flags=re.S)]
    for match in _SHOWN_ATTRIBUTE.finditer(template):
        if any(start <= match.start() < end for start, end in blocks):
            continue  # a macro's argument: the check below looks at those
        value = match.group(3) if match.group(3) is not None else match.group(4)
        words = _JINJA.sub("", value)
        if re.search(r"[A-Za-z]{2,}", words) and words.strip() not in _ALLOWED:
            found.append(f"{match.group(1)}={value!r}")
    for block in re.findall(r"\{\{.*?\}\}|\{%.*?%\}", template, flags=re.S):
        found += [f"{m.group(1)}={m.group(2)}" for m in _MACRO_LITERAL.finditer(block)]
    return found


def test_the_attribute_check_catches_bare_words() -> None:
    bad = (
        "<img alt=\"Patient photo\"><input placeholder='Search'>"
        '<button title="Cancel {{ name }}" aria-label="{{ _(\'Close\') }}">'
        '{{ alert(message, title="Stopped") }}'
    )
    assert shown_attribute_literals(bad) == [
        "alt='Patient photo'",
        "placeholder='Search'",
        "title='Cancel {{ name }}'",
        'title="Stopped"',
    ]
    good = '<img alt="{{ _(\'Patient photo\') }}"><span title="{{ item.path }}">'
    assert shown_attribute_literals(good) == []


def test_templates_have_no_attribute_text_outside_gettext() -> None:
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.relative_to(TEMPLATES)}: {f}" for f in shown_attribute_literals(text)]
    assert not found, "wrap these in _():\n" + "\n".join(found)


def test_the_cli_speaks_the_language_of_lang(tmp_path: Path) -> None:
    runner = CliRunner()
    env_sv = {"LANG": "sv_SE.UTF-8"}
    missing = tmp_path / "a-file.txt"
    missing.write_text("not an export", encoding="utf-8")
    english = runner.invoke(main, ["export", "verify", str(missing)], env={"LANG": "C"})
    swedish = runner.invoke(main, ["export", "verify", str(missing)], env=env_sv)
    assert english.exit_code != 0 and swedish.exit_code != 0
    assert english.stderr.strip() == f"ibdesk: {missing} is not a folder."
    assert swedish.stderr.strip() == f"ibdesk: {missing} är ingen mapp."


def _commands(command: click.Command, path: str = "ibdesk") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, f"{path} {name}")


def test_every_commands_help_is_in_the_swedish_catalogue() -> None:
    with i18ncheck.SV_MO.open("rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if isinstance(m.id, str)}
    helps = {path: inspect.cleandoc(str(cmd.help)) for path, cmd in _commands(main) if cmd.help}
    # under the C locale a lazy help shows its msgid: the English text the catalogue keys on
    missing = [path for path, text in helps.items() if not compiled.get(text)]
    assert len(helps) > 60 and not missing, (
        f"help without Swedish (see scripts/clihelp.py): {missing}"
    )
