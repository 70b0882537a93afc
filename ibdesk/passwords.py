"""Password hashing (Argon2id) and the password rule for local accounts."""

from __future__ import annotations

import hashlib
import hmac
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

MIN_LENGTH = 10
_hasher = PasswordHasher()

_COMMON = {
    "password",
    "password1",
    "lösenord",
    "losenord",
    "1234567890",
    "qwertyuiop",
    "imagebank",
    "administrator",
    "sommar2024",
    "sommar2025",
    "sommar2026",
    "vinter2026",
}


class PasswordRejected(UserError):
    """A password that does not meet the rule; the message says why."""


def check_rule(password: str, *, username: str = "") -> None:
    """Refuse a password that is too short, too common or the user name itself."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(
            _(
                "The password must be at least %(MIN_LENGTH)s characters long; a "
                "short phrase of a few words is easy to remember and hard to guess.",
                MIN_LENGTH=MIN_LENGTH,
            )
        )
    if password.strip() != password:
        raise PasswordRejected(_("The password must not begin or end with a space."))
    lowered = password.lower()
    if username and username.lower() in lowered:
        raise PasswordRejected(_("The password must not contain the user name."))
    if lowered in _COMMON or len(set(password)) < 4:
        raise PasswordRejected(_("That password is too easy to guess; choose another."))


def hash_password(password: str) -> str:
    """Return an Argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Return whether the password matches the stored hash (False for no hash)."""
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_MD5_HEX = re.compile(r"[0-9a-f]{32}")


def legacy_md5(stored: str | None) -> str | None:
    """Return a 1.2 MD5 hash in the form kept for its one-time upgrade (None if not one)."""
    value = (stored or "").strip().lower()
    return value if _MD5_HEX.fullmatch(value) else None


def upgrade_legacy(stored_md5: str | None, password: str) -> str | None:
    """Check a password once against a 1.2 MD5; return its Argon2id hash if it matches.

    ImageBank 1.2 stored unsalted MD5 hex (of the password's UTF-8 bytes, or Windows-1252
    on older installations). The caller replaces the MD5 with the returned hash at once.
    """
    expected = legacy_md5(stored_md5)
    if expected is None:
        return None
    for encoding in ("utf-8", "cp1252"):
        try:
            candidate = hashlib.md5(password.encode(encoding), usedforsecurity=False).hexdigest()
        except UnicodeEncodeError:
            continue
        if hmac.compare_digest(candidate, expected):
            return hash_password(password)
    return None
