"""``ibdesk db``: schema check and upgrade, ODBC drivers."""

from __future__ import annotations

import click

from ibdesk import schema
from ibdesk.cli import Runtime, emit, pass_runtime
from ibdesk.db import display_url, odbc_drivers, server_info
from ibdesk.errors import UserError


@click.group("db")
def db_group() -> None:
    """Database tools: check and upgrade the schema, list ODBC drivers."""


@db_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
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
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_runtime
def upgrade(runtime: Runtime, as_json: bool) -> None:
    """Create the ImageBank tables, or migrate an older schema to this program's."""
    result = schema.upgrade(runtime.engine(create=True))
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
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def drivers(as_json: bool) -> None:
    """List the ODBC drivers installed on this machine (for SQL Server connections)."""
    names = odbc_drivers()
    if not names and not as_json:
        raise UserError(
            "No ODBC drivers are installed; install unixodbc and tdsodbc (or Microsoft's "
            "ODBC Driver for SQL Server)."
        )
    emit(names, as_json, "\n".join(names))


def register(main: click.Group) -> None:
    """Add the db commands to the ibdesk command."""
    main.add_command(db_group)
