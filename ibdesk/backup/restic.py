"""restic, the backup engine, run as a subprocess with ``--json``.

The repository and its password file go in the environment (``RESTIC_REPOSITORY``,
``RESTIC_PASSWORD_FILE``), never on a command line where other accounts could read them.
restic 0.14 (Debian 12) exits 1 both for a wrong password and for a missing repository, so
its stderr decides which sentence the administrator reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ibdesk.errors import Refused, UserError
from ibdesk.i18n import gettext as _

PROGRESS_FPS = 4  # status lines a second from a streamed command


class ResticError(UserError):
    """restic failed; the message says why in one sentence."""


class MissingRepository(ResticError):
    """No repository answers at the location."""


class WrongPassword(ResticError):
    """The password file does not open the repository."""


class RepositoryLocked(ResticError, Refused):
    """Another run holds the repository's lock."""


def bundled_restic() -> str | None:
    """Return the restic a built program carries beside its executable (Windows: the pinned
    restic.exe that build/build.py verified), or None when not built or not bundled."""
    if not getattr(sys, "frozen", False):
        return None
    name = "restic.exe" if os.name == "nt" else "restic"
    folders = [Path(sys.executable).resolve().parent]
    inside = getattr(sys, "_MEIPASS", None)  # PyInstaller's _internal folder
    if inside:
        folders.append(Path(inside))
    for folder in folders:
        if (folder / name).is_file():
            return str(folder / name)
    return None


def restic_program() -> str:
    """Return restic's path (a test's IBDESK_RESTIC, the bundled one, else PATH's)."""
    found = os.environ.get("IBDESK_RESTIC") or bundled_restic() or shutil.which("restic")
    if not found:
        if getattr(sys, "frozen", False) and os.name == "nt":
            raise ResticError(
                _("restic.exe is missing beside ibdesk.exe; install the program again.")
            )
        raise ResticError(_("restic is not installed; install the restic package."))
    return found


_PASSWORD_IN_URL = re.compile(r"(://[^/@:\s]*):[^/@\s]*@")


def shown(text: str) -> str:
    """Return a repository location (or restic's words about it) as it may be shown or
    logged: a password written into the address (``rest:https://user:secret@host/``) masked."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", text)


def explain(stderr: str, repository: str) -> ResticError:
    """Turn restic's stderr into one sentence for the administrator (no password in it)."""
    stderr, repository = shown(stderr), shown(repository)
    text = stderr.lower()
    if "wrong password" in text or "no key found" in text:
        return WrongPassword(
            _(
                "The backup repository's password is wrong: the password file in the "
                "configuration folder does not open %(repository)s.",
                repository=repository,
            )
        )
    if "is there a repository" in text or "repository does not exist" in text:
        return MissingRepository(
            _(
                "There is no backup repository at %(repository)s; check that the disk is "
                "connected, or create the repository first.",
                repository=repository,
            )
        )
    if "already locked" in text:
        return RepositoryLocked(
            _(
                "The backup repository %(repository)s is in use by another run; wait for it "
                "to end and try again.",
                repository=repository,
            )
        )
    if "no space left" in text:
        return ResticError(
            _(
                "The backup target %(repository)s is full; nothing was lost, but this backup "
                "was not made: free space or choose a larger disk.",
                repository=repository,
            )
        )
    if "permission denied" in text:
        return ResticError(
            _(
                "This program may not write to the backup repository %(repository)s.",
                repository=repository,
            )
        )
    last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "")
    return ResticError(
        _("restic failed: %(detail)s", detail=last.removeprefix("Fatal: ") or "no message")
    )


def _json_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except ValueError:
                continue


@dataclass(frozen=True)
class Restic:
    """One repository and its password file."""

    repository: str
    password_file: Path

    def env(self) -> dict[str, str]:
        """Return the environment restic runs in (secrets here, never in argv)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env["RESTIC_REPOSITORY"] = self.repository
        env["RESTIC_PASSWORD_FILE"] = str(self.password_file)
        env.setdefault("RESTIC_CACHE_DIR", str(self.password_file.parent / "restic-cache"))
        return env

    def run(self, args: Sequence[str], *, check: bool = True, cwd: Path | None = None) -> str:
        """Run a restic command to its end; return stdout, or raise a one-sentence error."""
        done = subprocess.run(
            [restic_program(), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
            cwd=cwd,
        )
        if check and done.returncode != 0:
            raise explain(done.stderr, self.repository)
        return done.stdout

    def json(self, args: Sequence[str]) -> Any:
        """Run a restic command with ``--json`` and parse its one JSON answer."""
        out = self.run([*args, "--json"])
        return json.loads(out) if out.strip() else None

    def stream(self, args: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Run a restic command with ``--json`` and yield each JSON line as it comes.

        Closing the iterator (a cancelled job) stops restic; it writes a snapshot only once
        the backup is complete, so a stopped run leaves nothing that looks finished.
        """
        # restic prints 60 status lines a second with --json; a page that polls once a
        # second needs a few (each line is parsed here and passed on as progress).
        env = {**self.env(), "RESTIC_PROGRESS_FPS": str(PROGRESS_FPS)}
        process = subprocess.Popen(
            [restic_program(), *args, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stderr is not None
        # restic writes its "error" lines (a file it could not read) to stderr: drained on a
        # thread, or a full pipe (64 KiB: a few hundred unreadable files) would stop restic
        # and this loop for ever. They are passed on once stdout ends.
        errors: list[str] = []
        drain = threading.Thread(target=errors.extend, args=(process.stderr,), daemon=True)
        drain.start()
        try:
            yield from _json_lines(process.stdout)
            code = process.wait()
            drain.join()
            yield from _json_lines(errors)
            stderr = "".join(line for line in errors if not line.lstrip().startswith("{"))
            if code == 3:
                raise ResticError(
                    _(
                        "Some files could not be read, so the backup is incomplete: %(detail)s",
                        detail=stderr.strip().splitlines()[-1] if stderr.strip() else "",
                    )
                )
            if code != 0:
                raise explain(stderr, self.repository)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            drain.join(timeout=10)
            process.stdout.close()
            process.stderr.close()
