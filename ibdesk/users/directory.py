"""Active Directory: its settings, the staged connection test, lookups and an AD user's bind.

Every connection is made anew (AD drops idle ones) with a 5-second connect and answer
timeout, over LDAPS or StartTLS verified against the clinic's CA certificate with Python's
own checks (``ssl.CERT_REQUIRED`` and the server's name or address on its certificate);
ldap3's own ``Tls`` checks nothing by default and is never used as it comes. Plain LDAP is
only possible behind the "insecure, for testing" switch.

The settings live in ``adsettings`` (clinic-wide, in the database; the lookup account's
password in this computer's configuration folder, 0600).

Every value put in an LDAP filter goes through ``escape_filter_chars``.
"""

from __future__ import annotations

import ssl
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

with warnings.catch_warnings():
    # ldap3 2.9 imports names newer pyasn1 releases deprecate (tagMap, typeMap).
    warnings.filterwarnings("ignore", r"(tag|type)Map is deprecated", DeprecationWarning)
    import ldap3
    from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import parse_dn

import contextlib

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.users.adsettings import (
    LDAPS,
    PLAIN,
    SECURITIES,
    STARTTLS,
    ADSettings,
    Mapping,
    check_ca,
    check_settings,
    load_password,
    load_settings,
    password_path,
    save_password,
    save_settings,
)

__all__ = [
    "LDAPS",
    "PLAIN",
    "SECURITIES",
    "STARTTLS",
    "ADSettings",
    "LDAPException",
    "Mapping",
    "check_ca",
    "check_settings",
    "escape_filter_chars",
    "ldap3",
    "load_password",
    "load_settings",
    "password_path",
    "save_password",
    "save_settings",
]

TIMEOUT = 5  # seconds; an int: ldap3 packs it into SO_RCVTIMEO
UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN: nested membership
_USER_ATTRIBUTES = [
    "objectGUID",
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "userAccountControl",
    "msDS-User-Account-Control-Computed",
]
MAX_RESULTS = 500


class DirectoryError(UserError):
    """Active Directory could not answer as needed; the message says why, in one sentence."""


class Unreachable(DirectoryError):
    """No domain controller answered within the timeout."""


class CertificateRefused(DirectoryError):
    """The domain controller's certificate is not trusted or does not name it."""


class BindRefused(DirectoryError):
    """AD refused a bind; ``code`` is AD's sub-code (``52e`` wrong password, ``533`` disabled)."""

    def __init__(self, message: str, code: str = "") -> None:
        """Keep the sentence and AD's sub-code."""
        super().__init__(message)
        self.code = code


def tls_context(settings: ADSettings) -> ssl.SSLContext:
    """Return a context that trusts only the clinic's CA and checks the server's name."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=settings.ca_pem or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class VerifiedTls(ldap3.Tls):
    """ldap3's TLS hook with Python's own certificate and name checks (and what they said)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        """Use ``context`` for every handshake."""
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.context = context
        self.refused = ""
        self.peer: dict[str, Any] = {}

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        """Wrap the connection's socket, checking the certificate and name in the handshake."""
        try:
            wrapped = self.context.wrap_socket(
                connection.socket,
                server_side=False,
                do_handshake_on_connect=do_handshake,
                server_hostname=connection.server.host,
            )
        except ssl.SSLCertVerificationError as error:
            self.refused = error.verify_message or str(error)
            raise
        self.peer = wrapped.getpeercert() or {}
        connection.socket = wrapped


def _server(settings: ADSettings, host: str) -> tuple[ldap3.Server, VerifiedTls | None]:
    tls = None if settings.security == PLAIN else VerifiedTls(tls_context(settings))
    server = ldap3.Server(
        host,
        port=settings.effective_port,
        use_ssl=settings.security == LDAPS,
        tls=tls,
        connect_timeout=TIMEOUT,
        get_info=ldap3.NONE,
    )
    return server, tls


def close(conn: ldap3.Connection) -> None:
    """Unbind and close the socket, also after a failed open (ldap3 leaves that one open)."""
    sock = conn.socket
    try:
        if not conn.closed:
            conn.unbind()
    except (LDAPException, OSError):
        pass
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _sub_code(message: str) -> str:
    marker = "data "
    at = message.find(marker)
    return message[at + len(marker) :].split(",")[0].strip().lower() if at >= 0 else ""


def _refused_message(code: str) -> str:
    if code == "533":
        return _("This account is disabled in Active Directory; ask an administrator.")
    if code == "775":
        return _("This account is locked in Active Directory; ask an administrator.")
    if code in {"532", "773", "701"}:
        return _("This account's Active Directory password has expired; change it in Windows.")
    return _("Wrong user name or password.")


def certificate_message(host: str, reason: str) -> str:
    """Return the sentence for a certificate that is not trusted or does not name the server."""
    return _(
        "The certificate of %(server)s is not trusted (%(reason)s); check the CA file and "
        "that the server's name is on its certificate.",
        server=host,
        reason=reason,
    )


def unreachable_message(settings: ADSettings) -> str:
    """Return the sentence for a directory nobody answers for."""
    return _(
        "Active Directory (%(servers)s) did not answer within %(seconds)s seconds; AD users "
        "cannot sign in now, local ImageBank accounts still can.",
        servers=", ".join(settings.servers) or "-",
        seconds=int(TIMEOUT),
    )


def connect(settings: ADSettings, user: str, password: str) -> ldap3.Connection:
    """Bind as ``user`` to the first domain controller that answers; refuse in one sentence."""
    if not settings.enabled or not settings.servers:
        raise DirectoryError(_("Active Directory is not set up."))
    if not password:  # an empty password would be an anonymous bind, which "succeeds"
        raise BindRefused(_("Wrong user name or password."), "52e")
    for host in settings.servers:
        server, tls = _server(settings, host)
        conn = ldap3.Connection(
            server,
            user=user,
            password=password,
            receive_timeout=TIMEOUT,
            read_only=True,
            raise_exceptions=False,
            auto_referrals=False,
        )
        try:
            conn.open()
            if settings.security == STARTTLS and not conn.start_tls():
                raise DirectoryError(
                    _("%(server)s refused StartTLS; use LDAPS or check the server.", server=host)
                )
            bound = conn.bind()
        except LDAPException:
            close(conn)
            if tls is not None and tls.refused:
                raise CertificateRefused(certificate_message(host, tls.refused)) from None
            continue  # the next domain controller, if there is one
        if not bound:
            code = _sub_code(str(conn.result.get("message", "")))
            close(conn)
            raise BindRefused(_refused_message(code), code)
        return conn
    raise Unreachable(unreachable_message(settings))


def _entries(
    conn: ldap3.Connection, base: str, query: str, attributes: list[str]
) -> Iterator[dict[str, Any]]:
    found = conn.extend.standard.paged_search(
        base, query, attributes=attributes, paged_size=200, generator=True
    )
    for item in found:
        if item.get("type") == "searchResEntry":  # referrals are skipped
            yield item


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


@dataclass(frozen=True)
class ADUser:
    """A user as AD knows them, and the DNs of every group they belong to, nested included."""

    guid: str
    username: str
    upn: str
    display_name: str
    dn: str
    disabled: bool
    locked: bool
    groups: tuple[str, ...] = ()


def _guid(raw: Any) -> str:
    value = _first(raw)
    if isinstance(value, bytes):
        return str(uuid.UUID(bytes_le=value))
    return str(uuid.UUID(str(value).strip("{}")))


def _user(entry: dict[str, Any]) -> ADUser:
    attributes = entry["attributes"]
    control = int(_first(attributes.get("userAccountControl")) or 0)
    computed = int(_first(attributes.get("msDS-User-Account-Control-Computed")) or 0)
    return ADUser(
        guid=_guid(attributes.get("objectGUID")),
        username=str(_first(attributes.get("sAMAccountName")) or "").lower(),
        upn=str(_first(attributes.get("userPrincipalName")) or ""),
        display_name=str(_first(attributes.get("displayName")) or ""),
        dn=str(entry["dn"]),
        disabled=bool(control & UF_ACCOUNTDISABLE),
        locked=bool((control | computed) & UF_LOCKOUT),
    )


def group_dns(conn: ldap3.Connection, settings: ADSettings, user_dn: str) -> tuple[str, ...]:
    """Return the DNs of every group the user is in, through any depth of nesting."""
    query = f"(&(objectClass=group)(member:{IN_CHAIN}:={escape_filter_chars(user_dn)}))"
    return tuple(sorted(str(e["dn"]) for e in _entries(conn, settings.base_dn, query, ["cn"])))


def split_login(typed: str, settings: ADSettings) -> tuple[str, str]:
    """Return (UPN to bind as, account name) for what a person typed: name, name@x or DOM\\name."""
    text = typed.strip()[:256]
    if "\\" in text:
        text = text.split("\\", 1)[1]
    if "@" in text:
        return text, text.split("@", 1)[0]
    return f"{text}@{settings.upn_domain}", text


def sign_in(settings: ADSettings, typed: str, password: str) -> ADUser:
    """Bind as the person (UPN and password, over TLS) and read who they are and their groups."""
    upn, account = split_login(typed, settings)
    conn = connect(settings, upn, password)
    try:
        found = _user(_bound_entry(conn, settings, upn, account))
        if found.disabled:
            raise BindRefused(_refused_message("533"), "533")
        if found.locked:
            raise BindRefused(_refused_message("775"), "775")
        return replace(found, groups=group_dns(conn, settings, found.dn))
    except LDAPException:
        raise Unreachable(unreachable_message(settings)) from None
    finally:
        close(conn)


def _people(conn: ldap3.Connection, base: str, condition: str) -> list[dict[str, Any]]:
    query = f"(&(objectCategory=person)(objectClass=user){condition})"
    return list(_entries(conn, base, query, _USER_ATTRIBUTES))


def _bound_entry(
    conn: ldap3.Connection, settings: ADSettings, upn: str, account: str
) -> dict[str, Any]:
    """Return the directory entry of the account the bind accepted, and nobody else's.

    AD binds a UPN written on an account first, else its implicit one (account@the domain's
    DNS name). So: the account whose UPN it is, looked for in the whole domain; failing that,
    the account of that name, but only when the UPN is this domain's own. The entry must lie
    under the base DN, and the server's "who am I" must name it: an account of another
    domain, or outside the base DN, is never taken for one that happens to be inside.
    """
    root = ",".join(
        p.strip() for p in settings.base_dn.split(",") if p.strip()[:3].lower() == "dc="
    )
    dns = ".".join(p.split("=", 1)[1].strip() for p in root.split(",") if "=" in p).lower()
    entries = _people(
        conn, root or settings.base_dn, f"(userPrincipalName={escape_filter_chars(upn)})"
    )
    if not entries and upn.rsplit("@", 1)[-1].lower() == dns:
        entries = _people(
            conn, root or settings.base_dn, f"(sAMAccountName={escape_filter_chars(account)})"
        )
    if len(entries) > 1:
        raise DirectoryError(
            _(
                "Several Active Directory accounts answer to %(name)s; sign in with your "
                "full user name (name@domain).",
                name=upn,
            )
        )
    bound = _who_am_i(conn)
    if (
        not entries
        or not _is_under(str(entries[0]["dn"]), settings.base_dn)
        or (bound is not None and bound != _user(entries[0]).username)
    ):
        raise DirectoryError(
            _(
                "Active Directory accepted the password but this account cannot be found "
                "under %(base)s; check the base DN.",
                base=settings.base_dn,
            )
        )
    return entries[0]


def _who_am_i(conn: ldap3.Connection) -> str | None:
    """Return the account name the server says is bound ("u:DOMAIN\\name"), if it says."""
    said = conn.extend.standard.who_am_i()
    text = said.decode() if isinstance(said, bytes) else str(said or "")
    if not text.startswith("u:"):
        return None
    return text[2:].rsplit("\\", 1)[-1].lower() or None


def _is_under(dn: str, base: str) -> bool:
    """Return whether an entry's DN lies under (or is) the base DN, compared as AD does."""

    def parts(name: str) -> list[tuple[str, str]]:
        try:
            found = parse_dn(name, escape=False, strip=True)
        except LDAPInvalidDnError:
            found = [(*p.split("=", 1), "") for p in name.split(",") if "=" in p]
        return [(kind.strip().lower(), value.strip().lower()) for kind, value, _sep in found]

    inner, outer = parts(dn), parts(",".join(p.strip() for p in base.split(",")))
    return len(inner) >= len(outer) and inner[len(inner) - len(outer) :] == outer


def lookup_connection(settings: ADSettings, password: str | None = None) -> ldap3.Connection:
    """Bind as the lookup account (with the password kept on this computer unless given)."""
    if not settings.bind_user:
        raise DirectoryError(_("Set a lookup (bind) account in the Active Directory settings."))
    password = password or load_password()
    if not password:
        raise DirectoryError(
            _(
                "The lookup account's password is not kept on this computer; "
                "type it in the settings."
            )
        )
    try:
        return connect(settings, settings.bind_user, password)
    except BindRefused:
        raise DirectoryError(
            _(
                "Active Directory refused the lookup account %(name)s; "
                "check its name and password.",
                name=settings.bind_user,
            )
        ) from None


def find_users(settings: ADSettings, text: str = "") -> list[ADUser]:
    """Return the AD users whose account or display name holds ``text`` (the lookup account)."""
    value = escape_filter_chars(text.strip()[:100])
    match = f"(|(sAMAccountName=*{value}*)(displayName=*{value}*))" if value else ""
    query = f"(&(objectCategory=person)(objectClass=user){match})"
    conn = lookup_connection(settings)
    try:
        found = [_user(e) for e in _entries(conn, settings.base_dn, query, _USER_ATTRIBUTES)]
    except LDAPException:
        raise Unreachable(unreachable_message(settings)) from None
    finally:
        close(conn)
    return sorted(found, key=lambda u: u.username)[:MAX_RESULTS]


@dataclass(frozen=True)
class ADGroup:
    """An AD group: its DN and account name."""

    dn: str
    name: str


def find_groups(settings: ADSettings, text: str = "", password: str | None = None) -> list[ADGroup]:
    """Return the AD groups whose name holds ``text`` (the lookup account)."""
    value = escape_filter_chars(text.strip()[:100])
    match = f"(|(sAMAccountName=*{value}*)(cn=*{value}*))" if value else ""
    query = f"(&(objectClass=group){match})"
    conn = lookup_connection(settings, password)
    try:
        found = [
            ADGroup(str(e["dn"]), str(_first(e["attributes"].get("sAMAccountName")) or ""))
            for e in _entries(conn, settings.base_dn, query, ["sAMAccountName"])
        ]
    except LDAPException:
        raise Unreachable(unreachable_message(settings)) from None
    finally:
        close(conn)
    return sorted(found, key=lambda g: g.name.lower())[:MAX_RESULTS]


def resolve_group(settings: ADSettings, name: str, password: str | None = None) -> str:
    """Return the DN of the AD group named ``name`` (or ``name`` itself when it is a DN)."""
    text = name.strip()[:400]
    if "=" in text:
        return text
    exact = [g for g in find_groups(settings, text, password) if g.name.lower() == text.lower()]
    if not exact:
        raise DirectoryError(_("Active Directory has no group named %(name)s.", name=text[:100]))
    return exact[0].dn


def missing_group_message(mapping: Mapping) -> str:
    """Return the sentence for a mapping to an ImageBank group that no longer exists."""
    return _(
        "The AD group %(dn)s is mapped to the ImageBank group %(group)s, which no longer "
        "exists; map it again or remove the mapping.",
        dn=mapping.ad_group,
        group=mapping.group,
    )
