"""The command line speaks the terminal's language (LANG), messages and help texts alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ibdesk.cli import main

ENGLISH = {"LANG": "C.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
SWEDISH = {"LANG": "sv_SE.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (ENGLISH, "Error: Give either --all or one or more --patient PN."),
        (SWEDISH, "Fel: Ange antingen --all eller en eller flera --patient PN."),
    ],
)
def test_a_usage_error_is_worded_in_the_terminals_language(
    env: dict[str, str], expected: str
) -> None:
    result = CliRunner().invoke(main, ["export", "--to", "."], env=env)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (ENGLISH, "No license is installed; install one with `ibdesk license install FILE`."),
        (SWEDISH, "Ingen licens är installerad; installera en med `ibdesk license install FIL`."),
    ],
)
def test_a_command_answers_in_the_terminals_language(
    db_url: str, env: dict[str, str], expected: str
) -> None:
    result = CliRunner().invoke(main, ["--db", db_url, "license", "show"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (ENGLISH, "ibdesk: The start date 'yesterday' is not a date; write it as YYYY-MM-DD."),
        (SWEDISH, "ibdesk: Startdatumet 'yesterday' är inget datum; skriv det som ÅÅÅÅ-MM-DD."),
    ],
)
def test_a_domain_error_is_worded_in_the_terminals_language(
    db_url: str, env: dict[str, str], expected: str
) -> None:
    result = CliRunner().invoke(
        main, ["--db", db_url, "logs", "show", "--since", "yesterday"], env=env
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == expected


def _help(language: str, *command: str) -> str:
    """Run the real ibdesk in a new process, so its help is built in that language."""
    env = {**os.environ, "LANG": language, "LC_ALL": "", "LC_MESSAGES": ""}
    done = subprocess.run(
        [sys.executable, "-m", "ibdesk", *command, "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_command_and_option_help_follow_lang() -> None:
    english = _help("C.UTF-8", "export")
    swedish = _help("sv_SE.UTF-8", "export")
    assert "Export every patient (not deleted)." in english
    assert "Exportera alla patienter (som inte är borttagna)." in swedish
    assert "Export every patient" not in swedish
    top = _help("sv_SE.UTF-8")
    assert "Sök, visa, ta bort, återställ och radera patienter." in top
    assert "Exportera patienter till XML och JPEG 2000" in top
    # Click's own words come from the catalogue too.
    assert top.startswith("Användning: ibdesk") and "Visa det här meddelandet och avsluta." in top
    assert _help("C.UTF-8").startswith("Usage: ibdesk")


_HELP_TEXTS = """
import json, click
from ibdesk.cli import main
found = {}
def walk(cmd, path):
    found[path or "ibdesk"] = str(cmd.help or "")
    for param in cmd.params:
        if getattr(param, "help", None):
            found[f"{path} --{param.name}"] = str(param.help)
    for name, sub in getattr(cmd, "commands", {}).items():
        walk(sub, f"{path} {name}".strip())
walk(main, "")
print(json.dumps(found))
"""


def _help_texts(language: str) -> dict[str, str]:
    env = {**os.environ, "LANG": language, "LC_ALL": "", "LC_MESSAGES": ""}
    done = subprocess.run(
        [sys.executable, "-c", _HELP_TEXTS], env=env, capture_output=True, text=True, check=True
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found


def test_every_command_and_option_has_help_in_swedish() -> None:
    english, swedish = _help_texts("C.UTF-8"), _help_texts("sv_SE.UTF-8")
    assert english.keys() == swedish.keys() and len(english) > 150
    missing = [where for where, text in english.items() if not text]
    assert missing == [], f"no help: {missing}"
    same = {where for where in english if english[where] == swedish[where]}
    assert same <= {"ad set --ca_file"}, f"help only in English: {sorted(same)}"
