"""``ibdesk db``: schema check and upgrade, ODBC drivers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from ibdesk import config, schema
from ibdesk.audit import local_admin, system_event, unattended
from ibdesk.cli import FILE, FOLDER, Runtime, emit, json_option, pass_runtime, runtime_command
from ibdesk.cli.progress import drive
from ibdesk.db import display_url, odbc_drivers, server_info
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.settings import attach as attaching
from ibdesk.settings import backup as backups
from ibdesk.settings import connection, dbadmin, dblogins, results
from ibdesk.settings.connection import ServerSpec


@click.group("db")
def db_group() -> None:
    """Database tools: check, upgrade, create, list, attach, back up; logins; drivers."""


@runtime_command(db_group, "check")
def check(runtime: Runtime, as_json: bool) -> None:
    """Say whether the schema is current, older (upgrade offered) or newer (refused)."""
    choice = runtime.choice()
    status = schema.check(runtime.engine())
    info = server_info(choice.url)
    data = {
        "state": status.state.value,
        "revision": status.revision,
        "program_revision": status.head,
        "message": status.command_message,
        "database": display_url(choice.url),
        "backend": info.backend,
        "source": choice.source,
    }
    emit(data, as_json, f"{info.label}: {status.command_message}")
    if status.state in (schema.SchemaState.NEWER, schema.SchemaState.FOREIGN):
        raise SystemExit(2)
    if status.state is not schema.SchemaState.CURRENT:
        raise SystemExit(1)


@runtime_command(db_group, "upgrade")
@click.option(
    "--backup-to",
    type=FOLDER,
    help=_l(
        "Folder for the verified backup taken first when there is data to migrate "
        "(default: the backups folder of this program's data folder)."
    ),
)
@click.option(
    "--backed-up-on-server",
    is_flag=True,
    help=_l("SQL Server: confirm the database was backed up on the server first."),
)
def upgrade(
    runtime: Runtime, backup_to: Path | None, backed_up_on_server: bool, as_json: bool
) -> None:
    """Create the ImageBank tables, or migrate an older schema to this program's.

    The same update as General settings' [Update database]: a verified backup first.
    """
    job = dbadmin.update_job(
        runtime.engine(create=True),
        backup_to or backups.default_backup_folder(),
        backed_up_on_server=backed_up_on_server,
    )
    outcome = drive(job, _("Updating"), quiet=True)
    said = results.updated(outcome)  # the words of General settings' [Update database]
    for line in said.details:
        click.echo(line, err=True)
    result = outcome.upgrade
    emit(
        {"from": result.from_revision, "to": result.to_revision, "changed": result.changed},
        as_json,
        said.message,
    )


@db_group.command("drivers")
@json_option()
def drivers(as_json: bool) -> None:
    """List the ODBC drivers installed on this machine (for SQL Server connections)."""
    names = odbc_drivers()
    if not names and not as_json:
        raise UserError(
            _(
                "No ODBC drivers are installed; install unixodbc and tdsodbc (or Microsoft's "
                "ODBC Driver for SQL Server)."
            )
        )
    emit(names, as_json, "\n".join(names))


def _server_options(fn: Any) -> Any:
    options = [
        click.option(
            "--backend",
            type=click.Choice(["sqlite", "postgresql", "mssql"]),
            help=_("Server type (default: that of the current database)."),
        ),
        click.option("--host", default="", help=_("Server name or address.")),
        click.option("--port", type=int, default=None, help=_("TCP port.")),
        click.option("--instance", default="", help=_("SQL Server instance name.")),
        click.option("--user", default="", help=_("Login name.")),
        click.option(
            "--password",
            default="",
            envvar="IBDESK_DB_PASSWORD",
            help=_("Password (or set IBDESK_DB_PASSWORD; never logged)."),
        ),
        click.option("--trusted", is_flag=True, help=_("SQL Server: Windows authentication.")),
        click.option("--driver", default="", help=_("SQL Server: ODBC driver name.")),
        click.option("--no-encrypt", is_flag=True, help=_("SQL Server: do not encrypt.")),
        click.option(
            "--trust-server-certificate",
            is_flag=True,
            help=_("SQL Server: accept the server's certificate unchecked."),
        ),
        click.option("--folder", default="", help=_("SQLite: the folder of the database files.")),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _spec(runtime: Runtime, values: dict[str, Any]) -> ServerSpec:
    if not values.get("backend"):
        return connection.spec_from_url(runtime.choice().url)
    return ServerSpec(
        backend=values["backend"],
        host=values["host"],
        port=values["port"],
        instance=values["instance"],
        user=values["user"],
        password=values["password"],
        trusted=values["trusted"],
        driver=values["driver"],
        encrypt=not values["no_encrypt"],
        trust_server_certificate=values["trust_server_certificate"],
        folder=values["folder"],
    )


@db_group.command("test-connection")
@_server_options
@pass_runtime
def test_connection(runtime: Runtime, **values: Any) -> None:
    """Connect to the database server (default: the current database's server)."""
    click.echo(dbadmin.test_server(_spec(runtime, values)))


@runtime_command(db_group, "list")
@_server_options
def list_databases(runtime: Runtime, as_json: bool, **values: Any) -> None:
    """List the databases on the server (SQLite: the database files in the folder)."""
    names = dbadmin.list_databases(_spec(runtime, values))
    emit(names, as_json, "\n".join(names) or _("No databases."))


@db_group.command("create")
@click.argument("name")
@_server_options
@click.option("--use", is_flag=True, help=_l("Make it this program's database afterwards."))
@pass_runtime
def create(runtime: Runtime, name: str, use: bool, **values: Any) -> None:
    """Create a new ImageBank database on the server, with the current schema."""
    target = dbadmin.create_database(_spec(runtime, values), name)
    if use:
        config.set_database_url(target.render_as_string(hide_password=False))
    click.echo(
        _("Created %(target)s and made it the database in use.", target=display_url(target))
        if use
        else _("Created %(target)s.", target=display_url(target))
    )


@db_group.command("use")
@click.argument("url")
def use(url: str) -> None:
    """Make an existing ImageBank database this program's database (saved locally, 0600)."""
    status = dbadmin.test_database(url)
    if status.state in (schema.SchemaState.FOREIGN, schema.SchemaState.NEWER):
        raise UserError(status.command_message)
    path = config.set_database_url(url)
    click.echo(
        _(
            "Using %(url)s (saved in %(path)s). %(detail)s",
            url=display_url(url),
            path=path,
            detail=status.command_message,
        )
    )


@db_group.command(
    "attach",
    help=_l(
        "Attach an existing 2.1 database (a SQLite file, SQL Server .mdf/.ldf, or on "
        "PostgreSQL a pg_dump -Fc file restored into a new database) and use it."
    ),
)
@click.argument("path", required=False, default="")
@click.option(
    "--name", default="", help=_l("SQL Server, PostgreSQL: name for the attached database.")
)
@click.option("--ldf", default="", help=_l("SQL Server: the log file (.ldf)."))
@click.option(
    "--from-dump",
    "dump",
    type=FILE,
    default=None,
    help=_l("PostgreSQL: a dump made by pg_dump -Fc, restored into the new database --name."),
)
@_server_options
@pass_runtime
def attach(
    runtime: Runtime, path: str, name: str, ldf: str, dump: Path | None, **values: Any
) -> None:
    """Attach an existing 2.1 database (a SQLite file, SQL Server .mdf/.ldf, or a dump)."""
    spec = _spec(runtime, values)
    if dump is not None:
        if not name:
            raise UserError(_("Name the new database with --name."))
        job = attaching.attach_dump_job(spec, dump, name, actor=local_admin())
        done = drive(job, _("Restoring"))
        click.echo(
            _(
                "Attached %(target)s from %(dump)s; it is now the database in use. %(detail)s",
                target=display_url(done.url),
                dump=dump,
                detail=done.status.command_message,
            )
        )
        return
    target = dbadmin.attach(spec, name=name, path=path, ldf=ldf)
    config.set_database_url(target.render_as_string(hide_password=False))
    click.echo(_("Attached %(target)s; it is now the database in use.", target=display_url(target)))


@runtime_command(db_group, "backup")
@click.option("--to", "folder", required=True, type=FOLDER, help=_l("Folder for the copy."))
def backup(runtime: Runtime, folder: Path, as_json: bool) -> None:
    """Copy the database alone and verify the copy (the full backup: ibdesk backup run).

    On SQL Server, the --to folder is one on the server, and the statements to run there are
    printed.
    """
    url = runtime.choice().url
    if make_url(url).get_backend_name() == "mssql":
        statements = backups.mssql_backup_plan(url, str(folder))
        text = backups.mssql_backup_note() + "\n\n" + "\n".join(statements)
        emit({"statements": statements}, as_json, text)
        return
    # Made for cron: recorded as this machine's operating-system account, marked as such.
    job = backups.backup_job(runtime.ready_engine(), folder, unattended())
    result = drive(job, _("Backing up"), quiet=as_json)
    emit(
        {"path": str(result.path), "bytes": result.bytes, "verified": result.verified},
        as_json,
        _(
            "Backup written to %(path)s (%(bytes)s bytes); verified: %(verified)s.",
            path=result.path,
            bytes=format(result.bytes, ","),
            verified=result.verified,
        ),
    )


def _login_password_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return the ``--login-password`` option: asked twice, hidden, unless the variable is set."""
    return click.option(
        "--login-password",
        envvar="IBDESK_LOGIN_PASSWORD",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help=help,
    )


def login_command(
    name: str, option: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Callable[[Callable[..., Any]], click.Command]:
    """Return a db command on one workstation LOGIN: the argument, ``option``, the runtime."""

    def decorate(function: Callable[..., Any]) -> click.Command:
        return db_group.command(name)(click.argument("login")(option(pass_runtime(function))))

    return decorate


@contextmanager
def _login_change(runtime: Runtime, event: str, login: str) -> Iterator[str]:
    """Check the server and the sign-in, yield the database URL, then log ``event``."""
    url = runtime.choice().url
    dblogins.check_server(url)
    actor = runtime.signed_in()
    yield url
    with runtime.session() as session:
        system_event(session, actor, event, login)


@login_command(
    "create-login",
    _login_password_option(_l("The new login's password (or set IBDESK_LOGIN_PASSWORD).")),
)
def create_login(runtime: Runtime, login: str, login_password: str) -> None:
    """Create a database login for workstations: read/write of the data, no DDL."""
    with _login_change(runtime, "db.create_login", login) as url:
        dbadmin.create_login(url, login, login_password)
    click.echo(
        _("Login %(login)s created with workstation rights (no table changes).", login=login)
    )


@runtime_command(db_group, "logins")
def logins(runtime: Runtime, as_json: bool) -> None:
    """List the database logins that can use this database (workstations and owner)."""
    found = dblogins.list_logins(runtime.choice().url)
    lines = [
        _("%(name)s (owner)", name=item.name) if item.is_owner else item.name for item in found
    ]
    emit(
        [{"name": item.name, "owner": item.is_owner} for item in found],
        as_json,
        "\n".join(lines) or _("No logins can use this database."),
    )


@login_command(
    "login-password",
    _login_password_option(_l("The login's new password (or set IBDESK_LOGIN_PASSWORD).")),
)
def login_password(runtime: Runtime, login: str, login_password: str) -> None:
    """Give a workstation login a new password."""
    with _login_change(runtime, "db.login_password", login) as url:
        dblogins.change_password(url, login, login_password)
    click.echo(_("Login %(login)s has a new password.", login=login))


@login_command(
    "drop-login", click.option("--yes", is_flag=True, help=_l("Do not ask for confirmation."))
)
def drop_login(runtime: Runtime, login: str, yes: bool) -> None:
    """Remove a workstation login (the workstations using it can no longer connect)."""
    with _login_change(runtime, "db.drop_login", login) as url:
        if not yes:
            click.confirm(
                _("Remove the login %(login)s? Workstations using it cannot connect.", login=login),
                abort=True,
            )
        dblogins.drop_login(url, login)
    click.echo(_("Login %(login)s removed.", login=login))


def register(main: click.Group) -> None:
    """Add the db commands to the ibdesk command."""
    main.add_command(db_group)
