"""``ibdesk login|logout|whoami``, ``ibdesk users ...`` and ``ibdesk groups ...``.

Changing users and groups needs a signed-in ImageBank administrator (``ibdesk login``);
``ibdesk users recover`` is the exception: the server's own administrator, at the server.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy.orm import Session

from ibdesk.audit import Actor, local_admin, os_account, this_machine
from ibdesk.cli import Runtime, emit, json_option, pass_runtime, runtime_command
from ibdesk.errors import Refused, UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import Right, UserAccount
from ibdesk.users import accounts, admins, clisession, groups, lists, recovery


def _read_password(prompt: str, from_stdin: bool, *, confirm: bool = False) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")  # a file saved on Windows ends in CR LF
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return value


def _user_dict(user: UserAccount) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "source": user.source,
        "active": user.active,
        "locked": accounts.is_locked(user),
        "groups": sorted(g.name for g in user.groups),
        "rights": sorted(user.rights),
        "last_login_at": user.last_login_at,
    }


@click.command("login")
@click.option("--user", "username", prompt=True, help=_l("Your ImageBank user name."))
@click.option("--password-stdin", is_flag=True, help=_l("Read the password from standard input."))
@pass_runtime
def login(runtime: Runtime, username: str, password_stdin: bool) -> None:
    """Sign in on this computer's command line for an hour."""
    password = _read_password(_("Password"), password_stdin)
    with runtime.session() as session:
        outcome = accounts.authenticate(session, username, password, this_machine())
        session.commit()
        if outcome.user is None:
            raise Refused(outcome.message)
        name = outcome.user.username
        found = clisession.save(session, name)
    click.echo(
        _(
            "Signed in as %(name)s until %(time)s.",
            name=name,
            time=found.expires_at.isoformat(timespec="minutes"),
        )
    )


@click.command("logout")
def logout() -> None:
    """Sign out of the command line."""
    click.echo(_("Signed out.") if clisession.forget() else _("Nobody was signed in."))


@click.command("whoami")
@json_option()
def whoami(as_json: bool) -> None:
    """Say who the command line acts as."""
    found = clisession.load()
    data = {"user": found.username if found else None, "os_account": os_account()}
    text = (
        _("%(name)s (ImageBank user, signed in)", name=found.username)
        if found
        else _(
            "Nobody is signed in; commands run as the operating-system account %(name)s.",
            name=os_account(),
        )
    )
    emit(data, as_json, text)


@click.group("users")
def users_group() -> None:
    """ImageBank's user accounts (needs ibdesk login as an administrator)."""


@runtime_command(users_group, "list")
@click.option("--search", default="", help=_l("Part of a user name or full name."))
@click.option("--page", default=1, type=int)
def list_users(runtime: Runtime, search: str, page: int, as_json: bool) -> None:
    """List accounts, a page at a time."""
    with runtime.session() as session:
        runtime.signed_in(session)
        listing = lists.list_users(session, search, page)
        rows = [_user_dict(u) for u in listing.rows]
    enabled, disabled, locked = _("enabled"), _("disabled"), _("locked")
    width = max(len(enabled), len(disabled))
    lines = [
        f"{r['username']:<24} {enabled if r['active'] else disabled:<{width}}"
        f"{' ' + locked if r['locked'] else ''} {', '.join(r['groups'])}"
        for r in rows
    ]
    lines.append(
        _(
            "%(count)s users, page %(page)s of %(pages)s",
            count=listing.total,
            page=listing.page,
            pages=listing.pages,
        )
    )
    emit({"users": rows, "total": listing.total, "page": listing.page}, as_json, "\n".join(lines))


@users_group.command("add")
@click.argument("username")
@click.option("--name", "display_name", default="", help=_l("Full name."))
@click.option("--group", "group_names", multiple=True, help=_l("A user group (repeat for more)."))
@click.option("--admin", is_flag=True, help=_l("Make the account a member of Administrators."))
@click.option("--password-stdin", is_flag=True, help=_l("Read the password from standard input."))
@pass_runtime
def add(
    runtime: Runtime,
    username: str,
    display_name: str,
    group_names: tuple[str, ...],
    admin: bool,
    password_stdin: bool,
) -> None:
    """Create a local account."""
    with runtime.session() as session:
        # The very first administrator can be made at the server without signing in.
        actor = (
            local_admin()
            if admins.count_admins(session) == 0 and admin
            else runtime.signed_in(session)
        )
        password = _read_password(_("Password"), password_stdin, confirm=True)
        user = accounts.create_user(
            session,
            username,
            password,
            actor=actor,
            display_name=display_name,
            is_admin=admin,
            groups=group_names,
        )
        name = user.username
    click.echo(_("The account %(name)s was created.", name=name))


@users_group.command("edit", help=_l("Change an account's full name or user groups."))
@click.argument("username")
@click.option("--name", "display_name", default=None, help=_l("Full name."))
@click.option(
    "--group", "group_names", multiple=True, help=_l("The user groups, all of them (repeat).")
)
@pass_runtime
def edit(
    runtime: Runtime, username: str, display_name: str | None, group_names: tuple[str, ...]
) -> None:
    """Change an account's full name or groups."""
    with runtime.session() as session:
        actor = runtime.signed_in(session)
        user = accounts.edit_user(
            session,
            actor,
            username,
            display_name=display_name,
            groups=list(group_names) if group_names else None,
        )
        name = user.username
    click.echo(_("The account %(name)s was saved.", name=name))


def _simple(action: str, help_text: Any) -> None:
    @users_group.command(action, help=help_text)
    @click.argument("username")
    @pass_runtime
    def command(runtime: Runtime, username: str) -> None:
        with runtime.session() as session:
            actor = runtime.signed_in(session)
            if action == "unlock":
                accounts.unlock(session, actor, username)
                message = _("%(name)s is unlocked.", name=username)
            elif action == "delete":
                done = accounts.delete_user(session, actor, username)
                message = (
                    _("%(name)s was deleted.", name=username)
                    if done == "deleted"
                    else _(
                        "%(name)s has history in the logs, so the account was disabled, "
                        "not erased.",
                        name=username,
                    )
                )
            else:
                accounts.set_active(session, actor, username, action == "enable")
                message = (
                    _("%(name)s is enabled.", name=username)
                    if action == "enable"
                    else _("%(name)s is disabled.", name=username)
                )
        click.echo(message)


_simple("disable", _l("Disable an account (it can no longer sign in)."))
_simple("enable", _l("Enable a disabled account."))
_simple("delete", _l("Delete an account (or disable it when it has history)."))
_simple("unlock", _l("Lift an account's lockout."))


@users_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help=_l("Read the password from standard input."))
@pass_runtime
def passwd(runtime: Runtime, username: str, password_stdin: bool) -> None:
    """Give an account a new password."""
    with runtime.session() as session:
        actor = runtime.signed_in(session)
        password = _read_password(_("New password"), password_stdin, confirm=True)
        accounts.set_password(session, actor, username, password)
    click.echo(_("%(name)s has a new password.", name=username))


@users_group.command("recover")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help=_l("Read the password from standard input."))
@pass_runtime
def recover(runtime: Runtime, username: str, password_stdin: bool) -> None:
    """Reset a lost administrator password (the server's own administrator, at the server)."""
    clisession.check_recovery_allowed()
    with runtime.session() as session:
        password = _read_password(_("New password"), password_stdin, confirm=True)
        recovery.recover(session, local_admin(), username, password)
    click.echo(
        _(
            "%(name)s has a new password. This is recorded in the system log and shown on "
            "the Overview.",
            name=username,
        )
    )


@click.group("groups")
def groups_group() -> None:
    """User groups and their rights (needs ibdesk login as an administrator)."""


@runtime_command(groups_group, "list")
def list_groups(runtime: Runtime, as_json: bool) -> None:
    """List the groups with their rights and member counts."""
    with runtime.session() as session:
        runtime.signed_in(session)
        found = groups.list_groups(session)
        rows = [
            {"name": g.name, "rights": sorted(g.right_names), "members": len(g.members)}
            for g in found
        ]
        text = "\n".join(
            f"{g.name:<24} {len(g.members):>4}  {', '.join(sorted(g.right_names))}" for g in found
        )
    emit(rows, as_json, text)


@groups_group.command("add")
@click.argument("name")
@click.option("--description", default="")
@click.option(
    "--right",
    "rights",
    multiple=True,
    help=_("A right (repeat): %(rights)s", rights=", ".join(r.value for r in Right)),
)
@pass_runtime
def add_group(runtime: Runtime, name: str, description: str, rights: tuple[str, ...]) -> None:
    """Create a user group."""
    with runtime.session() as session:
        actor = runtime.signed_in(session)
        group = groups.create_group(session, actor, name, description, rights)
        created = group.name
    click.echo(_("The user group %(name)s was created.", name=created))


def _rights_command(
    verb: str, help: Any, change: Callable[[Session, Actor, str, str], object]
) -> click.Command:
    """Return ``ibdesk groups VERB NAME RIGHT``: grant and revoke differ only in the change."""

    @groups_group.command(verb, help=help)
    @click.argument("name")
    @click.argument("right")
    @pass_runtime
    def command(runtime: Runtime, name: str, right: str) -> None:
        with runtime.session() as session:
            change(session, runtime.signed_in(session), name, right)
        click.echo(_("The rights of %(name)s were saved.", name=name))

    return command


grant = _rights_command("grant", _l("Give a group a right."), groups.grant)
revoke = _rights_command("revoke", _l("Take a right from a group."), groups.revoke)


@runtime_command(groups_group, "members")
@click.argument("name")
def members(runtime: Runtime, name: str, as_json: bool) -> None:
    """List a group's members."""
    with runtime.session() as session:
        runtime.signed_in(session)
        names = [u.username for u in groups.members(session, name)]
    emit(names, as_json, "\n".join(names))


def register(main: click.Group) -> None:
    """Add the sign-in, users and groups commands to ``ibdesk``."""
    for command in (login, logout, whoami, users_group, groups_group):
        main.add_command(command)


__all__ = ["UserError", "register"]
