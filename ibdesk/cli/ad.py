"""``ibdesk ad set|show|test|users|groups|map``: Active Directory, as in the Users tab.

Every command needs a signed-in ImageBank administrator (``ibdesk login``).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from ibdesk.cli import Runtime, emit, pass_runtime, runtime_command
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.users import adcheck, directory, groups


@click.group("ad")
def ad_group() -> None:
    """Active Directory: settings, connection test, users, groups and the group mapping."""


def _settings_dict(settings: directory.ADSettings) -> dict[str, Any]:
    return {
        "enabled": settings.enabled,
        "servers": list(settings.servers),
        "port": settings.effective_port,
        "security": settings.security,
        "ca": bool(settings.ca_pem),
        "base_dn": settings.base_dn,
        "upn_suffix": settings.upn_domain,
        "bind_user": settings.bind_user,
        "bind_password_here": bool(directory.load_password()),
        "mappings": [dataclasses.asdict(m) for m in settings.mappings],
    }


def _signed_in_settings(runtime: Runtime) -> directory.ADSettings:
    """Return the Active Directory settings, once the administrator's sign-in is checked."""
    with runtime.session(read_only=True) as session:
        runtime.signed_in(session)
        return directory.load_settings(session)


def _read_ca(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")[:200_000]
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(_("Cannot read the CA file %(path)s.", path=str(path))) from error


@ad_group.command("set")
@click.option("--enable/--disable", "enabled", default=None, help=_l("Let AD users sign in."))
@click.option(
    "--server", "servers", multiple=True, help=_l("A domain controller (repeat, in order).")
)
@click.option("--port", type=int, default=None, help=_l("Port (default 636 for LDAPS, else 389)."))
@click.option("--security", type=click.Choice(directory.SECURITIES), default=None)
@click.option("--ca-file", type=click.Path(path_type=Path), default=None, help=_l("CA (PEM)."))
@click.option("--base-dn", default=None, help=_l("For example DC=clinic,DC=local."))
@click.option("--upn-suffix", default=None, help=_l("Added to bare user names (default: from DN)."))
@click.option("--bind-user", default=None, help=_l("The lookup account, e.g. ibdesk@clinic.local."))
@click.option("--bind-password-stdin", is_flag=True, help=_l("Read its password from stdin."))
@pass_runtime
def set_command(
    runtime: Runtime,
    enabled: bool | None,
    servers: tuple[str, ...],
    port: int | None,
    security: str | None,
    ca_file: Path | None,
    base_dn: str | None,
    upn_suffix: str | None,
    bind_user: str | None,
    bind_password_stdin: bool,
) -> None:
    """Change the Active Directory settings (what is not given stays)."""
    with runtime.session() as session:
        actor = runtime.signed_in(session)
        old = directory.load_settings(session)
        changes: dict[str, Any] = {
            key: value
            for key, value in (
                ("enabled", enabled),
                ("port", port),
                ("security", security),
                ("base_dn", base_dn),
                ("upn_suffix", upn_suffix),
                ("bind_user", bind_user),
            )
            if value is not None
        }
        if servers:
            changes["servers"] = servers
        if ca_file is not None:
            changes["ca_pem"] = _read_ca(ca_file)
        password = sys.stdin.readline().rstrip("\n") if bind_password_stdin else None
        new = directory.save_settings(session, actor, dataclasses.replace(old, **changes), password)
    if new.insecure and new.enabled:
        click.echo(
            _("Warning: plain LDAP sends passwords unencrypted; for testing only."), err=True
        )
    click.echo(_("The Active Directory settings were saved."))


@runtime_command(ad_group, "show")
def show(runtime: Runtime, as_json: bool) -> None:
    """Show the Active Directory settings."""
    data = _settings_dict(_signed_in_settings(runtime))
    lines = [f"{key}: {value}" for key, value in data.items() if key != "mappings"]
    lines += [f"map: {m['ad_group']} → {m['group']}" for m in data["mappings"]]
    emit(data, as_json, "\n".join(lines))


@runtime_command(ad_group, "test")
@click.option("--user", "username", default="", help=_l("An AD account to look up."))
def test_command(runtime: Runtime, username: str, as_json: bool) -> None:
    """Test each stage: TCP, TLS, bind, user search, group resolution (exit 1 on a failure)."""
    with runtime.session(read_only=True) as session:
        runtime.signed_in(session)
        settings = directory.load_settings(session)
        names = {g.name for g in groups.list_groups(session)}
    stages = adcheck.test_connection(settings, names, username)
    data = [dataclasses.asdict(s) for s in stages]
    emit(
        {"ok": all(s.ok for s in stages), "stages": data},
        as_json,
        "\n".join(f"{'✓' if s.ok else '✗'} {s.name}: {s.message}" for s in stages),
    )
    if not all(s.ok for s in stages):
        sys.exit(1)


@runtime_command(ad_group, "users")
@click.argument("search", default="")
def users_command(runtime: Runtime, search: str, as_json: bool) -> None:
    """List AD users whose account or display name holds SEARCH (the lookup account)."""
    found = directory.find_users(_signed_in_settings(runtime), search)
    rows = [dataclasses.asdict(u) for u in found]
    lines = [
        f"{u.username:<24} {u.display_name:<32} {_('disabled') if u.disabled else ''}".rstrip()
        for u in found
    ]
    emit(rows, as_json, "\n".join(lines) or _("No Active Directory user matches."))


@runtime_command(ad_group, "groups")
@click.argument("search", default="")
def groups_command(runtime: Runtime, search: str, as_json: bool) -> None:
    """List AD groups whose name holds SEARCH, and the ImageBank group each maps to."""
    settings = _signed_in_settings(runtime)
    mapped = {m.ad_group.lower(): m.group for m in settings.mappings}
    found = directory.find_groups(settings, search)
    rows = [{"dn": g.dn, "name": g.name, "mapped_to": mapped.get(g.dn.lower())} for g in found]
    lines = [f"{r['name']:<32} {r['mapped_to'] or ''}".rstrip() for r in rows]
    emit(rows, as_json, "\n".join(lines) or _("No Active Directory group matches."))


@runtime_command(ad_group, "map")
@click.argument("ad_group", required=False)
@click.argument("group", required=False)
@click.option("--remove", is_flag=True, help=_l("Remove the AD group's mapping."))
def map_command(
    runtime: Runtime, ad_group: str | None, group: str | None, remove: bool, as_json: bool
) -> None:
    """Map AD_GROUP (name or DN) to the ImageBank GROUP; with no arguments, list the mappings."""
    from ibdesk.users import adaccounts

    with runtime.session() as session:
        actor = runtime.signed_in(session)
        if ad_group is None:
            settings = directory.load_settings(session)
        elif remove:
            settings = adaccounts.set_mapping(session, actor, ad_group, None)
        elif group is None:
            raise UserError(_("Name the ImageBank group to map it to (or use --remove)."))
        else:
            settings = adaccounts.set_mapping(session, actor, ad_group, group)
        known = {g.name.lower() for g in groups.list_groups(session)}
    rows = [
        {**dataclasses.asdict(m), "group_exists": m.group.lower() in known}
        for m in settings.mappings
    ]
    lines = [
        f"{m.ad_group} → {m.group}" if r["group_exists"] else directory.missing_group_message(m)
        for m, r in zip(settings.mappings, rows, strict=True)
    ]
    emit(rows, as_json, "\n".join(lines) or _("No AD group is mapped."))


def register(main: click.Group) -> None:
    """Add ``ibdesk ad`` to ``ibdesk``."""
    main.add_command(ad_group)
