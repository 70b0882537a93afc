"""``ibdesk logs``: the Logs tab's commands (every change to every patient, verify the chain)."""

from __future__ import annotations

import sys

import click

from ibdesk import auditwords, logs
from ibdesk.cli import Runtime, emit, runtime_command
from ibdesk.cli.progress import drive
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.logs import auditchain


@click.group("logs")
def logs_group() -> None:
    """Show and verify the patient log."""


@runtime_command(logs_group, "show")
@click.option("--patient", "number", default="", help=_l("Only this patient's events."))
@click.option("--user", default="", help=_l("Only this user's events."))
@click.option("--action", default="", help=_l("Only this action (e.g. patient.update)."))
@click.option("--since", default=None, help=_l("From this day (YYYY-MM-DD)."))
@click.option("--until", default=None, help=_l("To this day (YYYY-MM-DD)."))
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help=_l("Print every matching event as CSV."))
def show_logs(
    runtime: Runtime,
    number: str,
    user: str,
    action: str,
    since: str | None,
    until: str | None,
    limit: int,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Show the patient log, newest first."""
    flt = logs.AuditFilter(
        number, user, action, logs.parse_date(since, "start"), logs.parse_date(until, "end")
    )
    with runtime.session(read_only=True) as session:
        runtime.signed_in(session)  # the patient log is patient data
        if as_csv:
            for chunk in logs.audit_csv(session, flt):
                click.echo(chunk, nl=False)
            return
        page = logs.audit_page(session, flt, limit=limit)
        rows = [
            {
                "id": e.id,
                "seq": e.seq,
                "at": e.at.isoformat(),
                "user": e.user_name,
                "machine": e.machine,
                "personnummer": e.personnummer,
                "action": e.action,
                "entity": e.entity,
                "entity_id": e.entity_id,
                "changes": auditwords.describe_changes(e.changes),
            }
            for e in page.rows
        ]
    emit(
        rows,
        as_json,
        lambda: (
            "\n".join(
                f"{r['at'][:19]}  {r['user']:<20} {r['machine']:<12} {r['personnummer'] or '':<12} "
                f"{r['action']:<18} {r['changes']}"
                for r in rows
            )
            or _("No events match.")
        ),
    )


@runtime_command(logs_group, "verify")
def verify_logs(runtime: Runtime, as_json: bool) -> None:
    """Seal new events, then check the whole chain for tampering (as [Verify log] does)."""
    check = drive(auditchain.seal_and_verify(runtime.ready_engine()), _("Checking"), quiet=as_json)
    sealed, report = check.sealed, check.report
    emit(
        {
            "ok": report.ok,
            "checked": report.checked,
            "sealed_now": sealed,
            "problem": report.problem,
            "event_id": report.event_id,
            "seq": report.seq,
        },
        as_json,
        _("The audit log is intact: %(checked)s events checked.", checked=report.checked)
        if report.ok
        else _("TAMPERING FOUND: %(problem)s", problem=report.problem),
    )
    if not report.ok:
        sys.exit(1)


def register(main: click.Group) -> None:
    """Add the logs commands to the ibdesk command."""
    main.add_command(logs_group)
