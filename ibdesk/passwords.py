"""Password hashing (Argon2id) and the password rule for local accounts."""

from __future__ import annotations

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
