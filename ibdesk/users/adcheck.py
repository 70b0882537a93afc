"""The Active Directory connection test: TCP, TLS, bind, user search, group resolution.

Each stage is one line (``Stage``); the test stops at the first stage that fails,
since the later ones could only fail for the same reason.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, replace
from typing import Any

from ibdesk.i18n import gettext as _
from ibdesk.users.directory import (
    _USER_ATTRIBUTES,
    PLAIN,
    STARTTLS,
    TIMEOUT,
    ADSettings,
    ADUser,
    DirectoryError,
    LDAPException,
    _entries,
    _server,
    _user,
    certificate_message,
    close,
    escape_filter_chars,
    group_dns,
    ldap3,
    lookup_connection,
    missing_group_message,
    unreachable_message,
)


@dataclass(frozen=True)
class Stage:
    """One line of the connection test: which stage, whether it passed, and what was seen."""

    name: str
    ok: bool
    message: str


def _peer_names(peer: dict[str, Any]) -> str:
    names = [
        value for kind, value in peer.get("subjectAltName", ()) if kind in ("DNS", "IP Address")
    ]
    return ", ".join(names) or "-"


def test_connection(
    settings: ADSettings, groups: set[str], user: str = "", password: str | None = None
) -> list[Stage]:
    """Try each stage in turn (TCP, TLS, bind, user search, group resolution); stop at a failure.

    ``groups`` are the ImageBank group names that exist, to check the mapping against;
    ``user`` an AD account name to look up (else any user is searched for); ``password``
    the lookup account's, when not the one kept on this computer (settings not yet saved).
    """
    stages: list[Stage] = []
    if not settings.servers:
        return [Stage("TCP", False, _("Name at least one domain controller."))]
    host = settings.servers[0]
    tcp = _tcp_stage(host, settings.effective_port)
    stages.append(tcp)
    if not tcp.ok:
        return stages
    one = replace(settings, servers=(host,), enabled=True)
    tls, go_on = _tls_stage(settings, one, host)
    stages.append(tls)
    if not go_on:
        return stages
    try:
        conn = lookup_connection(one, password)
    except DirectoryError as error:
        stages.append(Stage(_("Bind"), False, str(error)))
        return stages
    stages.append(Stage(_("Bind"), True, _("Signed in as %(name)s.", name=settings.bind_user)))
    stages.extend(_user_stages(conn, settings, user, groups))
    return stages


def _tcp_stage(host: str, port: int) -> Stage:
    """Check that the domain controller answers on its port at all."""
    try:
        socket.create_connection((host, port), timeout=TIMEOUT).close()
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        return Stage(
            "TCP",
            False,
            _(
                "%(server)s port %(port)s cannot be reached: %(reason)s.",
                server=host,
                port=port,
                reason=reason,
            ),
        )
    return Stage("TCP", True, _("%(server)s answers on port %(port)s.", server=host, port=port))


def _tls_stage(settings: ADSettings, one: ADSettings, host: str) -> tuple[Stage, bool]:
    """Check the TLS handshake with ``host``; return its stage and whether the test goes on.

    Plain LDAP fails this stage as a warning only: the test goes on without TLS.
    """
    if settings.security == PLAIN:
        return (
            Stage(
                "TLS",
                False,
                _("Plain LDAP: passwords cross the network unencrypted (for testing only)."),
            ),
            True,
        )
    server, tls = _server(one, host)
    conn = ldap3.Connection(server, receive_timeout=TIMEOUT, raise_exceptions=False)
    try:
        conn.open()
        if settings.security == STARTTLS and not conn.start_tls():
            raise LDAPException("StartTLS refused")
    except LDAPException as error:
        reason = (tls.refused if tls is not None else "") or str(error)
        return Stage("TLS", False, certificate_message(host, reason)), False
    finally:
        close(conn)
    assert tls is not None
    subject = dict(item[0] for item in tls.peer.get("subject", ()))
    return (
        Stage(
            "TLS",
            True,
            _(
                "Certificate of %(subject)s for %(names)s: trusted, and it names %(server)s.",
                subject=subject.get("commonName", "-"),
                names=_peer_names(tls.peer),
                server=host,
            ),
        ),
        True,
    )


def _user_stages(
    conn: ldap3.Connection, settings: ADSettings, user: str, groups: set[str]
) -> list[Stage]:
    """Search for a user, then resolve its groups, on the bound ``conn`` (closed afterwards)."""
    stages: list[Stage] = []
    try:
        account = escape_filter_chars(user.strip()[:100])
        match = f"(sAMAccountName={account})" if account else ""
        query = f"(&(objectCategory=person)(objectClass=user){match})"
        found = next(iter(_entries(conn, settings.base_dn, query, _USER_ATTRIBUTES)), None)
        if found is None:
            stages.append(
                Stage(
                    _("User search"),
                    False,
                    _(
                        "The lookup account found no user under %(base)s: check the base DN, "
                        "and that the account may read the directory.",
                        base=settings.base_dn,
                    ),
                )
            )
            return stages
        person = _user(found)
        stages.append(
            Stage(
                _("User search"),
                True,
                _("Found %(name)s (%(dn)s).", name=person.username, dn=person.dn),
            )
        )
        stages.append(_group_stage(conn, settings, person, groups))
    except LDAPException:
        stages.append(Stage(_("User search"), False, unreachable_message(settings)))
    finally:
        close(conn)
    return stages


def _group_stage(
    conn: ldap3.Connection, settings: ADSettings, person: ADUser, groups: set[str]
) -> Stage:
    name = _("Group resolution")
    known = {g.lower() for g in groups}
    for mapping in settings.mappings:
        if mapping.group.lower() not in known:
            return Stage(name, False, missing_group_message(mapping))
        query = f"(distinguishedName={escape_filter_chars(mapping.ad_group)})"
        if next(iter(_entries(conn, settings.base_dn, query, ["cn"])), None) is None:
            return Stage(
                name,
                False,
                _(
                    "Active Directory has no group %(dn)s (mapped to %(group)s).",
                    dn=mapping.ad_group,
                    group=mapping.group,
                ),
            )
    dns = group_dns(conn, settings, person.dn)
    mapped = sorted(
        {m.group for m in settings.mappings if m.ad_group.lower() in {d.lower() for d in dns}}
    )
    return Stage(
        name,
        True,
        _(
            "Groups of %(name)s, nested ones included: %(count)s; mapped to: %(groups)s.",
            name=person.username,
            count=len(dns),
            groups=", ".join(mapped) or "-",
        ),
    )
