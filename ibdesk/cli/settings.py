"""``ibdesk db``: schema check and upgrade, ODBC drivers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ibdesk import config, schema
from ibdesk.audit import local_admin, system_event, unattended
from ibdesk.cli import Runtime, emit, json_option, pass_runtime
from ibdesk.db import display_url, odbc_drivers, server_info, session_scope
from ibdesk.errors import UserError
from ibdesk.settings import backup as backups
from ibdesk.settings import connection, dbadmin
from ibdesk.settings.connection import ServerSpec


@click.group("db")
def db_group() -> None:
    """Database tools: check, upgrade, create, list, attach, back up; logins; drivers."""


@db_group.command("check")
@json_option()
@pass_runtime
def check(runtime: Runtime, as_json: bool) -> None:
    """Say whether the schema is current, older (upgrade offered) or newer (refused)."""
    choice = runtime.choice()
    status = schema.check(runtime.engine())
    info = server_info(choice.url)
    data = {
        "state": status.state.value,
        "revision": status.revision,
        "program_revision": status.head,
        "message": status.message,
        "database": display_url(choice.url),
        "backend": info.backend,
        "source": choice.source,
    }
    emit(data, as_json, f"{info.label}: {status.message}")
    if status.state in (schema.SchemaState.NEWER, schema.SchemaState.FOREIGN):
        raise SystemExit(2)
    if status.state is not schema.SchemaState.CURRENT:
        raise SystemExit(1)


@db_group.command("upgrade")
@click.option(
    "--backup-to",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the verified backup taken first when there is data to migrate "
    "(default: the backups folder of this program's data folder).",
)
@click.option(
    "--backed-up-on-server",
    is_flag=True,
    help="SQL Server: confirm the database was backed up on the server first.",
)
@json_option()
@pass_runtime
def upgrade(
    runtime: Runtime, backup_to: Path | None, backed_up_on_server: bool, as_json: bool
) -> None:
    """Create the ImageBank tables, or migrate an older schema to this program's.

    The same update as General settings' [Update database]: a verified backup first.
    """
    outcome = dbadmin.update_database(
        runtime.engine(create=True),
        backup_to or backups.default_backup_folder(),
        backed_up_on_server=backed_up_on_server,
    )
    if outcome.backup is not None:
        click.echo(
            f"Backup written to {outcome.backup.path} ({outcome.backup.verified}).", err=True
        )
    result = outcome.upgrade
    if result.changed:
        text = f"Schema upgraded from {result.from_revision or 'empty'} to {result.to_revision}."
    else:
        text = f"Schema already current ({result.to_revision}); nothing to do."
    emit(
        {"from": result.from_revision, "to": result.to_revision, "changed": result.changed},
        as_json,
        text,
    )


@db_group.command("drivers")
@json_option()
def drivers(as_json: bool) -> None:
    """List the ODBC drivers installed on this machine (for SQL Server connections)."""
    names = odbc_drivers()
    if not names and not as_json:
        raise UserError(
            "No ODBC drivers are installed; install unixodbc and tdsodbc (or Microsoft's "
            "ODBC Driver for SQL Server)."
        )
    emit(names, as_json, "\n".join(names))


def _server_options(fn: Any) -> Any:
    options = [
        click.option(
            "--backend",
            type=click.Choice(["sqlite", "postgresql", "mssql"]),
            help="Server type (default: that of the current database).",
        ),
        click.option("--host", default="", help="Server name or address."),
        click.option("--port", type=int, default=None, help="TCP port."),
        click.option("--instance", default="", help="SQL Server instance name."),
        click.option("--user", default="", help="Login name."),
        click.option(
            "--password",
            default="",
            envvar="IBDESK_DB_PASSWORD",
            help="Password (or set IBDESK_DB_PASSWORD; never logged).",
        ),
        click.option("--trusted", is_flag=True, help="SQL Server: Windows authentication."),
        click.option("--driver", default="", help="SQL Server: ODBC driver name."),
        click.option("--no-encrypt", is_flag=True, help="SQL Server: do not encrypt."),
        click.option(
            "--trust-server-certificate",
            is_flag=True,
            help="SQL Server: accept the server's certificate unchecked.",
        ),
        click.option("--folder", default="", help="SQLite: the folder of the database files."),
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


@db_group.command("list")
@_server_options
@json_option()
@pass_runtime
def list_databases(runtime: Runtime, as_json: bool, **values: Any) -> None:
    """List the databases on the server (SQLite: the database files in the folder)."""
    names = dbadmin.list_databases(_spec(runtime, values))
    emit(names, as_json, "\n".join(names) or "No databases.")


@db_group.command("create")
@click.argument("name")
@_server_options
@click.option("--use", is_flag=True, help="Make it this program's database afterwards.")
@pass_runtime
def create(runtime: Runtime, name: str, use: bool, **values: Any) -> None:
    """Create a new ImageBank database on the server, with the current schema."""
    target = dbadmin.create_database(_spec(runtime, values), name)
    if use:
        config.set_database_url(target.render_as_string(hide_password=False))
    click.echo(
        f"Created {display_url(target)}" + (" and made it the database in use." if use else ".")
    )


@db_group.command("use")
@click.argument("url")
def use(url: str) -> None:
    """Make an existing ImageBank database this program's database (saved locally, 0600)."""
    status = dbadmin.test_database(url)
    if status.state in (schema.SchemaState.FOREIGN, schema.SchemaState.NEWER):
        raise UserError(status.message)
    path = config.set_database_url(url)
    click.echo(f"Using {display_url(url)} (saved in {path}). {status.message}")


@db_group.command("attach")
@click.argument("path", required=False, default="")
@click.option("--name", default="", help="SQL Server: name for the attached database.")
@click.option("--ldf", default="", help="SQL Server: the log file (.ldf).")
@_server_options
@pass_runtime
def attach(runtime: Runtime, path: str, name: str, ldf: str, **values: Any) -> None:
    """Attach an existing 2.1 database (a SQLite file, or SQL Server .mdf/.ldf) and use it."""
    spec = _spec(runtime, values)
    target = dbadmin.attach(spec, name=name, path=path, ldf=ldf)
    config.set_database_url(target.render_as_string(hide_password=False))
    click.echo(f"Attached {display_url(target)}; it is now the database in use.")


@db_group.command("backup")
@click.option(
    "--to",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the backup.",
)
@json_option()
@pass_runtime
def backup(runtime: Runtime, folder: Path, as_json: bool) -> None:
    """Back up the database and verify the copy."""
    engine = runtime.ready_engine()
    result = backups.backup(engine, folder)
    with session_scope(engine) as session:
        system_event(session, unattended(), "db.backup", f"{result.path} ({result.verified})")
    emit(
        {"path": str(result.path), "bytes": result.bytes, "verified": result.verified},
        as_json,
        f"Backup written to {result.path} ({result.bytes:,} bytes); verified: {result.verified}.",
    )


@db_group.command("create-login")
@click.argument("login")
@click.option(
    "--login-password",
    envvar="IBDESK_LOGIN_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The new login's password (or set IBDESK_LOGIN_PASSWORD).",
)
@pass_runtime
def create_login(runtime: Runtime, login: str, login_password: str) -> None:
    """Create a database login for workstations: read/write of the data, no DDL."""
    runtime.ready_engine()
    dbadmin.create_login(runtime.choice().url, login, login_password)
    with runtime.session() as session:
        system_event(session, local_admin(), "db.create_login", login)
    click.echo(f"Login {login} created with workstation rights (no table changes).")


def register(main: click.Group) -> None:
    """Add the db commands to the ibdesk command."""
    main.add_command(db_group)
