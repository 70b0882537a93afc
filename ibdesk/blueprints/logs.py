"""The Logs tab: the patient log (filter, keyset pages, CSV), system and login logs, a
patient's log extract, and [Verify log] (seal, then check the hash chain, as a job).

Log pages read through a read-only session, so that paging or a long CSV download never
holds SQLite's writer lock while the workstations write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, request, stream_with_context, url_for
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ibdesk import auditwords, limits, logs, patients, personnummer, web
from ibdesk.blueprints import page_or_partial
from ibdesk.blueprints.jobs import registry
from ibdesk.db import session_scope
from ibdesk.errors import UserError
from ibdesk.forms.logs import AuditFilterForm, LoginFilterForm, SystemFilterForm
from ibdesk.i18n import N_
from ibdesk.i18n import gettext as _
from ibdesk.jobs import JobStatus
from ibdesk.logs import auditchain

bp = Blueprint("logs", __name__, url_prefix="/logs")

PAGE_SIZE = logs.PAGE_SIZE
VERIFY_JOB = N_("Verify log")
VERIFY_WAIT_S = 2.0  # a small log is checked while the button waits; a big one shows progress
FILTER_KEYS = ("personnummer", "user", "action", "since", "until")
SYSTEM_FILTER_KEYS = ("level", "action", "since", "until")


@bp.context_processor
def _log_context() -> dict[str, Any]:
    zone = dt.datetime.now().astimezone().strftime("UTC%z")
    return {
        "describe_changes": auditwords.describe_changes,
        "event_name": auditwords.event_name,
        "level_names": auditwords.LEVEL_NAMES,
        "known_actions": logs.KNOWN_ACTIONS,
        "time_zone": f"{zone[:-2]}:{zone[-2:]}",
    }


@contextmanager
def reading() -> Iterator[Session]:
    """Open a read-only session on the database in force."""
    with session_scope(web.database().ready_engine(), read_only=True) as session:
        yield session


def _cursor() -> int | None:
    value = request.args.get("cursor", "")
    if not value:
        return None
    cursor = limits.row_id(value)
    if cursor is None:
        raise UserError(_("That log page does not exist; open the log from its first page again."))
    return cursor


def _filter(form: AuditFilterForm) -> logs.AuditFilter:
    return logs.AuditFilter(
        personnummer=form.personnummer.data or "",
        user=form.user.data or "",
        action=form.action.data or "",
        since=form.since.data,
        until=form.until.data,
    )


def _query() -> dict[str, str]:
    """Return the filter as typed, to carry into the Older and CSV links."""
    return {key: request.args[key] for key in FILTER_KEYS if request.args.get(key)}


def _running_verify() -> JobStatus | None:
    return registry().running(VERIFY_JOB)


@bp.get("/")
def index() -> tuple[str, int]:
    """Show the patient log, newest first, filtered by patient, user, event and dates."""
    form = AuditFilterForm(request.args)
    context: dict[str, Any] = {
        "form": form,
        "query": _query(),
        "cursor": _cursor(),
        "verify_job": _running_verify(),
        "search_problem": personnummer.typed_problem(form.personnummer.data or ""),
    }
    if not form.validate():
        return page_or_partial("logs/index.html", "logs/_audit.html", entries=None, **context), 400
    with reading() as session:
        try:
            entries = logs.audit_page(session, _filter(form), cursor=_cursor(), limit=PAGE_SIZE)
        except UserError as error:
            context["problem"] = str(error)
            entries = None
        describe = auditwords.Describer(session, entries.rows if entries else ())
        html = page_or_partial(
            "logs/index.html",
            "logs/_audit.html",
            entries=entries,
            lines=list(describe.grouped(entries.rows)) if entries else [],
            describe_event=describe,
            **context,
        )
    return html, 200 if entries is not None else 400


@bp.get("/export.csv")
def export() -> Response:
    """Download every event the filter shows, as CSV (streamed, newest first)."""
    form = AuditFilterForm(request.args)
    if not form.validate():
        problems = [message for errors in form.errors.values() for message in errors]
        raise UserError(" ".join(str(p) for p in problems))
    flt = _filter(form)
    number = flt.normalised_number()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    name = f"patient-log-{number}-{stamp}.csv" if number else f"patient-log-{stamp}.csv"
    return Response(
        # The request stays for the whole download: the CSV's words in the window's language.
        stream_with_context(_csv_chunks(web.database().ready_engine(), flt)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _csv_chunks(engine: Engine, flt: logs.AuditFilter) -> Iterator[str]:
    # The byte order mark makes spreadsheet programs read åäö as UTF-8.
    yield "\ufeff"
    with session_scope(engine, read_only=True) as session:
        yield from logs.audit_csv(session, flt)


@bp.get("/system")
def system() -> tuple[str, int]:
    """Show the system log, newest first, filtered by level, event and dates."""
    form = SystemFilterForm(request.args)
    query = {k: request.args[k] for k in SYSTEM_FILTER_KEYS if request.args.get(k)}
    context: dict[str, Any] = {"form": form, "query": query, "cursor": _cursor()}
    if not form.validate():
        html = page_or_partial("logs/system.html", "logs/_system.html", entries=None, **context)
        return html, 400
    flt = logs.SystemFilter(
        level=form.level.data or "",
        action=form.action.data or "",
        since=form.since.data,
        until=form.until.data,
    )
    with reading() as session:
        entries = logs.system_page(session, flt, cursor=_cursor(), limit=PAGE_SIZE)
        return page_or_partial(
            "logs/system.html", "logs/_system.html", entries=entries, **context
        ), 200


@bp.get("/logins")
def logins() -> str:
    """Show the login log (successes and failures, machine and reason), newest first."""
    form = LoginFilterForm(request.args)
    with reading() as session:
        entries = logs.login_page(
            session,
            user=form.user.data or "",
            failures_only=bool(form.failures.data),
            cursor=_cursor(),
            limit=PAGE_SIZE,
        )
        query = {k: request.args[k] for k in ("user", "failures") if request.args.get(k)}
        return page_or_partial(
            "logs/logins.html",
            "logs/_logins.html",
            form=form,
            entries=entries,
            query=query,
            cursor=_cursor(),
            login_reason=auditwords.login_reason,
        )


@bp.get("/patient/<number>")
def patient_extract(number: str) -> str:
    """Show everyone who has seen or changed one patient's record: printable, with CSV."""
    normalised = personnummer.stored_form(number)  # also a number kept as typed in 1.2
    with reading() as session:
        describe = auditwords.Describer(session)
        found = patients.search(session, normalised, limit=1).rows
        return page_or_partial(
            "logs/extract.html",
            "logs/_extract.html",
            number=normalised,
            patient=found[0] if found else None,
            access=logs.patient_access(session, normalised),
            events=describe.grouped(
                logs.audit_rows(session, logs.AuditFilter(personnummer=normalised))
            ),
            describe_event=describe,
            made_at=dt.datetime.now(dt.UTC),
            made_by=web.actor().user,
            csv_url=url_for("logs.export", personnummer=normalised),
        )


@bp.post("/verify")
def verify_start() -> str:
    """Seal new events and check the whole chain on a worker thread; wait a moment for it."""
    engine = web.database().ready_engine()
    job_id = registry().start(VERIFY_JOB, lambda: auditchain.seal_and_verify(engine))
    job = registry().wait(job_id, timeout=VERIFY_WAIT_S)
    return page_or_partial("logs/verify.html", "logs/_verify.html", job=job)


@bp.get("/verify/<job_id>")
def verify_result(job_id: str) -> str:
    """Show the check's result once it has ended (or its progress while it runs)."""
    job = registry().status(job_id, VERIFY_JOB, log_tail=50)
    return page_or_partial("logs/verify.html", "logs/_verify.html", job=job)
