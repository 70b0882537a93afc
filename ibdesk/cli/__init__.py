"""The ``ibdesk`` command: every admin action of the window, scriptable.

``ibdesk`` alone opens the desktop window; each sub-command calls the same domain code as
the window's tabs. Errors meant for the administrator print one sentence on stderr and exit
non-zero, with no traceback.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ibdesk import config, limits, private, schema
from ibdesk.audit import Actor
from ibdesk.db import DatabaseError, explain, make_engine, session_scope
from ibdesk.errors import UserError
from ibdesk.i18n import gettext, lazy_gettext
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import Right
from ibdesk.users import clisession

# Each module registers its commands on `main` with register(main).
COMMAND_MODULES = (
    "settings",
    "wizard",
    "export",
    "licensing",
    "users",
    "ad",
    "patients",
    "logs",
    "statistics",
    "backup",
    "conversion",
    "shell",
)


@dataclass
class Runtime:
    """What every command shares: the database chosen by --db, IBDESK_DB or the config."""

    db_option: str | None = None
    _engines: dict[bool, Engine] = field(default_factory=dict)

    def choice(self) -> config.DatabaseChoice:
        """Return the database URL in force and where it came from."""
        return config.resolve_database(self.db_option)

    def engine(self, *, create: bool = False) -> Engine:
        """Return an engine for the chosen database (creating a SQLite file only if asked)."""
        if create not in self._engines:
            choice = self.choice()
            if choice.source == "default":
                private.data_dir()
            self._engines[create] = make_engine(choice.url, create=create)
        return self._engines[create]

    def ready_engine(self) -> Engine:
        """Return an engine for a database whose schema is current, or explain why not."""
        engine = self.engine()
        status = schema.check(engine)
        if not status.usable:
            raise DatabaseError(status.command_message)
        return engine

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """Open a session on a ready database that commits on success."""
        with session_scope(self.ready_engine(), read_only=read_only) as session:
            yield session

    def signed_in(self, session: Session | None = None) -> Actor:
        """Return the administrator signed in with ``ibdesk login`` (else say how to sign in).

        Every command that reads or changes patient data, users or licenses acts as this
        person, checked before it changes anything; the commands a schedule runs (backup,
        statistics, image check) do not ask.
        """
        if session is None:
            with self.session(read_only=True) as own:
                return clisession.signed_in_actor(own, Right.ADMINISTER)
        return clisession.signed_in_actor(session, Right.ADMINISTER)

    def close(self) -> None:
        """Release every connection pool."""
        for engine in self._engines.values():
            engine.dispose()


pass_runtime = click.make_pass_decorator(Runtime)


# A row id on the command line: a number larger than any id is said plainly, not sent on.
ROW_ID = click.IntRange(1, limits.ROW_ID_MAX)

# A folder, or a file, named on the command line: the command gets a Path.
FOLDER = click.Path(file_okay=False, path_type=Path)
FILE = click.Path(dir_okay=False, path_type=Path)


def json_option(what: str = "result") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return the one ``--json`` option (``as_json``): print the result as JSON for scripts."""
    helps = {
        "result": _("Print the result as JSON."),
        "report": _("Print the report as JSON."),
        "statistics": _("Print the statistics as JSON."),
        "summary": _("Print the summary as JSON."),
    }
    return click.option(
        "--json", "as_json", is_flag=True, help=helps[what], callback=_remember_json
    )


# In the context's meta, shared by the whole command: --json was given; the JSON is printed.
_JSON, _JSON_DONE = "ibdesk.json", "ibdesk.json.printed"


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_JSON] = True
    return value


def _fail(ctx: click.Context, message: str, code: int) -> None:
    """Say why the command failed on stderr and, under --json, as JSON on stdout; exit.

    A command that printed its JSON result and then fails (to exit non-zero on problems it
    reported) prints no second document.
    """
    click.echo(_("ibdesk: %(error)s", error=message), err=True)
    if ctx.meta.get(_JSON) and not ctx.meta.get(_JSON_DONE):
        click.echo(json.dumps({"error": message, "exit_code": code}, ensure_ascii=False))
    ctx.exit(code)


def runtime_command(
    group: click.Group, name: str, what: str = "result"
) -> Callable[[Callable[..., Any]], click.Command]:
    """Return a subcommand of ``group`` that is passed the runtime and has ``--json`` last.

    The shape of every command a script reads: ``def f(runtime, ..., as_json)``.
    """

    def decorate(function: Callable[..., Any]) -> click.Command:
        command = group.command(name)(pass_runtime(function))
        json_option(what)(command)  # appended after the function's own options
        return command

    return decorate


def emit(data: Any, as_json: bool, text: str | Callable[[], str]) -> None:
    """Print the result as JSON for scripts or as text for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.meta[_JSON_DONE] = True  # a failure after this leaves the result alone
    else:
        click.echo(text() if callable(text) else text)


class IbdeskGroup(click.Group):
    """A command group that turns administrator-facing errors into one line on stderr.

    Under ``--json`` the same sentence is also printed on stdout as ``{"error", "exit_code"}``,
    so a script reading stdout always gets JSON.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line, with click's own words in the terminal's language too."""
        from ibdesk.cli import clickwords

        clickwords.use_catalogue()
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; print UserError messages plainly and exit non-zero."""
        try:
            return super().invoke(ctx)
        except UserError as error:
            _fail(ctx, str(error), error.exit_code)
        except KeyboardInterrupt:
            _fail(ctx, gettext("interrupted."), 130)
        except Exception as error:
            # A database driver error that escaped the domain layer still gets one sentence.
            from sqlalchemy.exc import SQLAlchemyError

            if isinstance(error, SQLAlchemyError):
                runtime = ctx.find_object(Runtime)
                url = runtime.choice().url if runtime else None
                _fail(ctx, explain(error, url), 1)
            raise
        finally:
            runtime = ctx.find_object(Runtime)
            if runtime is not None:
                runtime.close()


@click.group(cls=IbdeskGroup, invoke_without_command=True)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help=lazy_gettext("Database URL (else IBDESK_DB, else the local configuration, else SQLite)."),
)
@click.version_option(package_name="ibdesk", help=_l("Show the version and exit."))
@click.pass_context
def main(ctx: click.Context, db_url: str | None) -> None:
    """ImageBank SysAdmin: run alone to open the window, or give a command."""
    ctx.obj = Runtime(db_option=db_url)
    if ctx.invoked_subcommand is None:
        launch = _optional_launcher()
        if launch is None:
            click.echo(ctx.get_help())
            return
        launch(ctx.obj)


def _optional_launcher() -> Callable[[Runtime], None] | None:
    try:
        module = importlib.import_module("ibdesk.cli.shell")
    except ModuleNotFoundError as error:
        if error.name != "ibdesk.cli.shell":
            raise
        return None
    launcher: Callable[[Runtime], None] = module.launch
    return launcher


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"ibdesk.cli.{name}").register(main)


def translate_docstrings(command: click.Command) -> None:
    """Show each command's docstring, its help, in the terminal's language.

    The catalogue holds every command docstring (``scripts/clihelp.py`` extracts them); a
    command that gives ``help=`` itself keeps it.
    """
    if type(command.help) is str:
        command.help = lazy_gettext(inspect.cleandoc(command.help))
    for sub in getattr(command, "commands", {}).values():
        translate_docstrings(sub)


_register()
translate_docstrings(main)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
