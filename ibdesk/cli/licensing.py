"""``ibdesk license`` and ``ibdesk seats``: the Licensing tab's actions, a workstation's claim."""

from __future__ import annotations

from pathlib import Path

import click

from ibdesk import licensing
from ibdesk.cli import ROW_ID, Runtime, emit, runtime_command
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.licensing import LicenseInfo, seats
from ibdesk.licensing.seats import SeatInfo


def _when(value: object) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if hasattr(value, "isoformat") else "–"


def describe(info: LicenseInfo) -> str:
    """Return the license as the text ``ibdesk license show`` prints."""
    lines = [f"*** {info.notice} ***"] if info.notice else []
    if info.problem:
        lines.append(f"NOT VALID: {info.problem}")
    expires = info.expires_on.isoformat() if info.expires_on else "never"
    key = f"{info.key_name} ({info.key_id})" if info.key_name else info.key_id
    lines += [
        f"{info.title} {info.license_id}",
        f"  Registered to: {info.registered_to}",
        f"  Seats:         {info.seats} ({info.active_seats} active)",
        f"  Created:       {info.created_on.isoformat()}",
        f"  Expires:       {expires}",
        f"  Key:           {key}",
        f"  Installed:     {_when(info.installed_at)} by {info.installed_by or '–'}",
    ]
    return "\n".join(lines)


def _current(runtime: Runtime) -> LicenseInfo | None:
    """Return the license in force, verified again (None when none is installed)."""
    with runtime.session(read_only=True) as session:
        return licensing.current_license(session)


def _seat_table(rows: list[SeatInfo]) -> str:
    header = ("ID", "SEAT", "HOSTNAME", "MAC", "MACHINE ID", "FIRST SEEN", "LAST SEEN")
    table = [header] + [
        (
            str(s.id),
            str(s.slot),
            s.hostname,
            s.mac,
            s.machine_id,
            _when(s.first_seen),
            _when(s.last_seen),
        )
        for s in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


@click.group("license")
def license_group() -> None:
    """The clinic's license: install a file from the vendor, show the current one."""


@runtime_command(license_group, "install")
@click.argument("file", type=click.Path(path_type=Path))
def install(runtime: Runtime, file: Path, as_json: bool) -> None:
    """Install a license file; the current one stays until the new one is validated."""
    try:
        with file.open("rb") as handle:
            data = licensing.read_upload(handle)
    except OSError as error:
        raise UserError(
            _("Cannot read %(file)s: %(value)s.", file=file, value=error.strerror or error)
        ) from error
    with runtime.session() as session:
        info = licensing.install_license(session, data, runtime.signed_in(session), name=str(file))
    emit(info.as_dict(), as_json, lambda: _("Installed.") + "\n" + describe(info))


@runtime_command(license_group, "show")
def show(runtime: Runtime, as_json: bool) -> None:
    """Show the current license, verified again, with its active seats."""
    info = _current(runtime)
    if info is None:
        emit(
            None,
            as_json,
            _("No license is installed; install one with `ibdesk license install FILE`."),
        )
        return
    emit(info.as_dict(), as_json, lambda: describe(info))


@runtime_command(license_group, "history")
def history(runtime: Runtime, as_json: bool) -> None:
    """List every license installed in this database, newest first."""
    with runtime.session(read_only=True) as session:
        rows = licensing.license_history(session)
    emit(
        [r.as_dict() for r in rows],
        as_json,
        lambda: (
            "\n\n".join((_("CURRENT") + " " if r.is_current else "") + describe(r) for r in rows)
            or _("No license has been installed.")
        ),
    )


@click.group("seats")
def seats_group() -> None:
    """Workstation seats: list, free, and claim one as a workstation does."""


def _in_use(used: int, total: int | None) -> str:
    if not used:
        if total is None:
            return _("No seats are in use (0).")
        return _("No seats are in use (0 of %(total)s).", total=total)
    if total is None:
        return _("%(used)s seats in use.", used=used)
    return _("%(used)s of %(total)s seats in use.", used=used, total=total)


@runtime_command(seats_group, "list")
def list_command(runtime: Runtime, as_json: bool) -> None:
    """List the seats held by workstations."""
    with runtime.session(read_only=True) as session:
        rows = seats.list_seats(session)
        info = licensing.current_license(session)
    total = info.seats if info is not None else None
    notice = f"*** {info.notice} ***\n" if info is not None and info.notice else ""
    emit(
        [s.as_dict() for s in rows],
        as_json,
        lambda: (
            notice
            + (_seat_table(rows) + "\n" + _in_use(len(rows), total) if rows else _in_use(0, total))
        ),
    )


@runtime_command(seats_group, "release")
@click.argument("seat_id", metavar="ID", type=ROW_ID)
def release(runtime: Runtime, seat_id: int, as_json: bool) -> None:
    """Free the seat with this ID (of a computer that is gone)."""
    with runtime.session() as session:
        seat = seats.release_seat(session, seat_id, runtime.signed_in(session))
    said = _(
        "Freed seat ID %(id)s of %(host)s (%(mac)s).", id=seat.id, host=seat.hostname, mac=seat.mac
    )
    emit(seat.as_dict(), as_json, said)


@runtime_command(seats_group, "claim")
@click.option("--mac", required=True, help=_l("The workstation's MAC address."))
@click.option("--machine-id", required=True, help=_l("The workstation's machine ID."))
@click.option("--hostname", required=True, help=_l("The workstation's host name."))
def claim(runtime: Runtime, mac: str, machine_id: str, hostname: str, as_json: bool) -> None:
    """Claim a seat as a workstation does (its own again if it has one)."""
    with runtime.session() as session:
        seat = seats.claim_seat(session, mac, machine_id, hostname)
    info = _current(runtime)
    notice = info.notice if info is not None else None
    data = seat.as_dict() | {"license_notice": notice}
    emit(
        data,
        as_json,
        _(
            "%(host)s holds seat %(slot)s (ID %(id)s).",
            host=seat.hostname,
            slot=seat.slot,
            id=seat.id,
        )
        + (f"\n*** {notice} ***" if notice else ""),
    )


@runtime_command(seats_group, "heartbeat")
@click.option("--mac", required=True, help=_l("The workstation's MAC address."))
@click.option("--machine-id", required=True, help=_l("The workstation's machine ID."))
def heartbeat(runtime: Runtime, mac: str, machine_id: str, as_json: bool) -> None:
    """Record that a workstation holding a seat is still running."""
    with runtime.session() as session:
        seat = seats.heartbeat(session, mac, machine_id)
    said = _("Seat ID %(id)s last seen %(when)s.", id=seat.id, when=_when(seat.last_seen))
    emit(seat.as_dict(), as_json, said)


def register(main: click.Group) -> None:
    """Add the license and seats commands to the ibdesk command."""
    main.add_command(license_group)
    main.add_command(seats_group)
