"""Active Directory settings: clinic-wide in the database, the lookup password on this computer.

The settings are clinic-wide (workstations sign AD users in too), except the lookup
account's password, which stays in this computer's configuration folder (0600): only this
program's lookups need it; a signing-in user binds as themselves.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ibdesk import audit, clinic_settings, config, private
from ibdesk.audit import Actor
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

SETTING_KEY = "active_directory"
PASSWORD_FILE = "ad-bind-password"
LDAPS, STARTTLS, PLAIN = "ldaps", "starttls", "plain"
SECURITIES = (LDAPS, STARTTLS, PLAIN)


@dataclass(frozen=True)
class Mapping:
    """An AD group (its DN) whose members, nested ones included, get an ImageBank group."""

    ad_group: str
    group: str


@dataclass(frozen=True)
class ADSettings:
    """The clinic's Active Directory settings (no password: that stays on this computer)."""

    enabled: bool = False
    servers: tuple[str, ...] = ()
    port: int = 0
    security: str = LDAPS
    ca_pem: str = ""
    base_dn: str = ""
    upn_suffix: str = ""
    bind_user: str = ""
    mappings: tuple[Mapping, ...] = field(default=())

    @property
    def effective_port(self) -> int:
        """Return the port in force (636 for LDAPS, else 389, unless one was chosen)."""
        return self.port or (636 if self.security == LDAPS else 389)

    @property
    def upn_domain(self) -> str:
        """Return the suffix added to a bare user name (from the base DN unless chosen)."""
        if self.upn_suffix:
            return self.upn_suffix
        parts = [
            p.split("=", 1)[1] for p in self.base_dn.split(",") if p.strip().lower()[:3] == "dc="
        ]
        return ".".join(p.strip() for p in parts).lower()

    @property
    def insecure(self) -> bool:
        """Return whether passwords would cross the network unencrypted."""
        return self.security == PLAIN

    def to_json(self) -> str:
        """Return the settings as stored."""
        data = asdict(self)
        data["servers"] = list(self.servers)
        data["mappings"] = [asdict(m) for m in self.mappings]
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> ADSettings:
        """Read stored settings (absent or damaged ones mean AD is off)."""
        try:
            data = json.loads(text or "{}")
            return cls(
                enabled=bool(data.get("enabled", False)),
                servers=tuple(str(s) for s in data.get("servers", ())),
                port=int(data.get("port", 0)),
                security=str(data.get("security", LDAPS)),
                ca_pem=str(data.get("ca_pem", "")),
                base_dn=str(data.get("base_dn", "")),
                upn_suffix=str(data.get("upn_suffix", "")),
                bind_user=str(data.get("bind_user", "")),
                mappings=tuple(
                    Mapping(str(m["ad_group"]), str(m["group"])) for m in data.get("mappings", ())
                ),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()


def load_settings(session: Session) -> ADSettings:
    """Return the clinic's AD settings."""
    return ADSettings.from_json(clinic_settings.get(session, SETTING_KEY))


def _summary(settings: ADSettings) -> dict[str, Any]:
    data = json.loads(settings.to_json())
    data["ca_pem"] = "(certificate)" if settings.ca_pem else ""
    data["mappings"] = "; ".join(f"{m.ad_group} → {m.group}" for m in settings.mappings)
    data["servers"] = ", ".join(settings.servers)
    return data


def check_settings(settings: ADSettings) -> ADSettings:
    """Return the settings cleaned up, or refuse the first thing wrong in one sentence."""
    servers = tuple(s.strip() for s in settings.servers if s.strip())
    for server in servers:
        if len(server) > 253 or any(c in server for c in " /\\:@?#"):
            raise UserError(_("%(name)s is not a server name or address.", name=server[:80]))
    if settings.security not in SECURITIES:
        raise UserError(_("Choose LDAPS, StartTLS or plain LDAP."))
    if not 0 <= settings.port <= 65535:
        raise UserError(_("A port is a number from 1 to 65535."))
    if settings.enabled and not servers:
        raise UserError(_("Name at least one domain controller."))
    base = settings.base_dn.strip()
    if settings.enabled and "dc=" not in base.lower():
        raise UserError(_("The base DN looks like DC=clinic,DC=local."))
    if len(base) > 400 or len(settings.bind_user) > 200 or len(settings.upn_suffix) > 200:
        raise UserError(_("A name in the Active Directory settings is too long."))
    if settings.ca_pem.strip():
        check_ca(settings.ca_pem)
    elif settings.enabled and settings.security != PLAIN:
        raise UserError(
            _("Give the CA certificate that signed the domain controllers' certificates.")
        )
    return replace(
        settings,
        servers=servers,
        base_dn=base,
        bind_user=settings.bind_user.strip(),
        upn_suffix=settings.upn_suffix.strip().lstrip("@"),
        ca_pem=settings.ca_pem.strip(),
    )


def check_ca(pem: str) -> None:
    """Refuse text that holds no usable PEM certificate."""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise UserError(_("The CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)."))
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise UserError(_("The CA file's certificate cannot be read.")) from None


def save_settings(
    session: Session, actor: Actor, settings: ADSettings, password: str | None = None
) -> ADSettings:
    """Store the settings (and, when given, the lookup account's password on this computer)."""
    clean = check_settings(settings)
    before = _summary(load_settings(session))
    clinic_settings.put(session, SETTING_KEY, clean.to_json(), by=actor.user)
    changes = audit.diff(before, _summary(clean))
    if password is not None:
        save_password(password)
        changes["bind_password"] = ["…", "(changed)"]
    if changes:
        text = "; ".join(f"{k} {b!r} → {a!r}" for k, (b, a) in changes.items())
        level = "warning" if clean.insecure and clean.enabled else "info"
        audit.system_event(session, actor, "ad.settings", text, level=level)
    return clean


def password_path() -> Path:
    """Return where the lookup account's password is kept on this computer."""
    return config.config_dir() / PASSWORD_FILE


def save_password(password: str) -> None:
    """Write the lookup account's password, readable by this operating-system account only."""
    if len(password) > 256:
        raise UserError(_("A password may be at most 256 characters."))
    path = password_path()
    private.make_folder(path.parent)
    config.write_private(path, password)


def load_password() -> str:
    """Return the lookup account's password, or an empty string when none is kept here."""
    try:
        return password_path().read_text(encoding="utf-8")
    except OSError:
        return ""
