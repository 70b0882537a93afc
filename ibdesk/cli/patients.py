"""``ibdesk patients`` and ``ibdesk sets``: the Patients tab's actions from the command line."""

from __future__ import annotations

import sys
from typing import Any

import click

from ibdesk import display, patients
from ibdesk.cli import ROW_ID, Runtime, emit, pass_runtime, runtime_command
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.patients import signing

# Typing the personnummer a second time is what stands between a typo and the wrong patient.
_confirm_option = click.option(
    "--confirm", required=True, metavar="PN", help=_l("Type the personnummer again to confirm.")
)


@click.group("patients")
def patients_group() -> None:
    """Find, show, delete, restore and purge patients."""


@runtime_command(patients_group, "find")
@click.argument("text", default="")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def find(runtime: Runtime, text: str, limit: int, as_json: bool) -> None:
    """Search by personnummer (any form or its beginning) or by name; blank lists all."""
    with runtime.session(read_only=True) as session:
        runtime.signed_in(session)
        page = patients.search(session, text, limit=limit)
    data = [
        {
            "personnummer": r.personnummer,
            "kind": r.kind,
            "first_name": r.first_name,
            "last_name": r.last_name,
            "deleted": r.deleted,
        }
        for r in page.rows
    ]
    if not data and not as_json:
        raise UserError(_("No patient matches '%(text)s'.", text=text))
    emit(
        data,
        as_json,
        lambda: "\n".join(
            f"{r.display_number}  {r.last_name}, {r.first_name}{'  (deleted)' if r.deleted else ''}"
            for r in page.rows
        ),
    )


@runtime_command(patients_group, "show")
@click.argument("number")
def show(runtime: Runtime, number: str, as_json: bool) -> None:
    """Show a patient's details, image sets and media (the viewing is logged)."""
    with runtime.session() as session:
        info = patients.details(session, number, actor=runtime.signed_in(session))
        p = info.patient
        data: dict[str, Any] = {
            "personnummer": p.personnummer,
            "kind": p.kind,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "address": p.address,
            "postal_code": p.postal_code,
            "city": p.city,
            "phone": p.phone,
            "note": p.note,
            "created_at": p.created_at.isoformat(),
            "modified_at": p.modified_at.isoformat(),
            "deleted": p.deleted_at is not None,
            "image_sets": [
                {
                    "id": s.id,
                    "taken_on": s.taken_on.isoformat(),
                    "description": s.description,
                    "signed_by": s.signed_by,
                    "signed_at": s.signed_at.isoformat() if s.signed_at else None,
                    "media": [m.__dict__ for m in s.media],
                }
                for s in info.image_sets
            ],
        }
    lines = [
        f"{display.personnummer(p.personnummer)}  {p.last_name}, {p.first_name}"
        f"{'  (deleted)' if p.deleted_at else ''}",
        f"{p.address}, {p.postal_code} {p.city}  tel. {p.phone}".strip(", "),
        f"{len(info.image_sets)} image sets, {info.media_count} media",
    ]
    lines += [
        f"  set {s.id}  {s.taken_on}  {s.description}  {len(s.media)} media"
        f"{'  signed by ' + s.signed_by if s.signed_by else ''}"
        for s in info.image_sets
    ]
    emit(data, as_json, "\n".join(lines))


@patients_group.command("delete")
@click.argument("number")
@_confirm_option
@pass_runtime
def delete(runtime: Runtime, number: str, confirm: str) -> None:
    """Hide a patient from the workstations (an administrator can restore it)."""
    with runtime.session() as session:
        patient = patients.delete_patient(
            session, runtime.signed_in(session), number, confirm=confirm
        )
        click.echo(
            _(
                "Patient %(personnummer)s deleted (restore with `ibdesk patients "
                "restore %(personnummer)s`).",
                personnummer=patient.personnummer,
            )
        )


@patients_group.command("restore")
@click.argument("number")
@pass_runtime
def restore(runtime: Runtime, number: str) -> None:
    """Bring a deleted patient back."""
    with runtime.session() as session:
        patient = patients.restore_patient(session, runtime.signed_in(session), number)
        click.echo(_("Patient %(personnummer)s restored.", personnummer=patient.personnummer))


@runtime_command(patients_group, "purge")
@click.argument("number")
@_confirm_option
def purge(runtime: Runtime, number: str, confirm: str, as_json: bool) -> None:
    """Remove a patient's rows and files for good (not allowed with signed image sets)."""
    with runtime.session() as session:
        result = patients.purge_patient(
            session, runtime.signed_in(session), number, confirm=confirm
        )
    emit(
        result.__dict__,
        as_json,
        _(
            "Purged %(personnummer)s: %(image_sets)s image sets, %(media)s media, "
            "%(files_removed)s files removed.",
            **vars(result),
        )
        + (
            " " + _("Could not remove: %(files)s.", files=", ".join(result.files_left))
            if result.files_left
            else ""
        ),
    )
    if result.files_left:
        sys.exit(1)


@click.group("sets")
def sets_group() -> None:
    """Sign, unsign and verify image sets."""


@sets_group.command("sign")
@click.argument("set_id", type=ROW_ID)
@pass_runtime
def sign(runtime: Runtime, set_id: int) -> None:
    """Sign an image set: read-only for the workstations until unsigned."""
    with runtime.session() as session:
        image_set = signing.sign(session, runtime.signed_in(session), set_id)
        click.echo(
            _(
                "Image set %(set_id)s signed; digest %(signature_digest)s.",
                set_id=set_id,
                signature_digest=image_set.signature_digest,
            )
        )


@sets_group.command("unsign")
@click.argument("set_id", type=ROW_ID)
@click.option("--reason", required=True, help=_l("Why the set must be changed (kept in the log)."))
@pass_runtime
def unsign(runtime: Runtime, set_id: int, reason: str) -> None:
    """Remove a set's signature so it can be changed again."""
    with runtime.session() as session:
        signing.unsign(session, runtime.signed_in(session), set_id, reason)
        click.echo(_("Image set %(set_id)s unsigned.", set_id=set_id))


@runtime_command(sets_group, "verify")
@click.argument("set_id", type=ROW_ID)
def verify(runtime: Runtime, set_id: int, as_json: bool) -> None:
    """Check that a signed set still matches what was signed, files included."""
    with runtime.session(read_only=True) as session:
        result = signing.verify(session, set_id)
    emit(
        {"set": set_id, "ok": result.ok, "problems": result.problems},
        as_json,
        _("Image set %(set_id)s matches its signature.", set_id=set_id)
        if result.ok
        else "\n".join(
            [
                _("Image set %(set_id)s does NOT match its signature:", set_id=set_id),
                *result.problems,
            ]
        ),
    )
    if not result.ok:
        sys.exit(1)


def register(main: click.Group) -> None:
    """Add the patients and sets commands to the ibdesk command."""
    for group in (patients_group, sets_group):
        main.add_command(group)
