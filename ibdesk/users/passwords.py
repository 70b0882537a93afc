"""Passwords of local accounts: the rule (ASVS 4.0 V2, NIST 800-63B) and Argon2id.

The rule: 12 to 128 characters of any kind (compared after Unicode NFKC normalisation, so
the same phrase typed on another keyboard matches), no composition rules and no expiry,
but never one of the common passwords of ``common-passwords.txt.gz`` (see its licence file
beside it) nor the user name.

Argon2id with time cost 1, 64 MiB of memory and one lane: one verification costs about
120 ms on the 2-core machine this was measured on (``benchmarks/users.py`` prints it),
inside the 50-250 ms the clinic's sign-in budget allows.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
import re
import unicodedata
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

MIN_LENGTH = 12
MAX_LENGTH = 128
TIME_COST = 1
MEMORY_KIB = 65536
PARALLELISM = 1
_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
_COMMON_FILE = Path(__file__).with_name("common-passwords.txt.gz")
# Local words the shipped (English-speaking) list cannot know.
_LOCAL_COMMON = ("lösenord", "losenord", "imagebank", "administrator", "tandläkare")


class PasswordRejected(UserError):
    """A password that does not meet the rule; the message says why."""


def normalize(password: str) -> str:
    """Return the password in Unicode NFKC form (what is hashed and compared)."""
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the offline list of common and breached passwords (lower-cased, NFKC)."""
    with gzip.open(_COMMON_FILE, "rt", encoding="utf-8") as handle:
        listed = {normalize(line.strip()).lower() for line in handle if line.strip()}
    return frozenset(listed | set(_LOCAL_COMMON))


def is_common(password: str) -> bool:
    """Return whether the password is on the list of common passwords."""
    lowered = normalize(password).lower()
    listed = common_passwords()
    if lowered in listed:
        return True
    # "sommar2026sommar2026" or "lösenord12345": a listed word with only digits around it.
    stripped = lowered.strip("0123456789!. ")
    return bool(stripped) and stripped in listed and len(stripped) >= 6


def check_rule(password: str, *, username: str = "") -> None:
    """Refuse a password that is too short or long, common, or the user name itself."""
    text = normalize(password)
    if not text:
        raise PasswordRejected(_("Type a password."))
    if len(text) < MIN_LENGTH:
        raise PasswordRejected(
            _(
                "The password must be at least %(count)s characters long; a short phrase "
                "of a few words is easy to remember and hard to guess.",
                count=MIN_LENGTH,
            )
        )
    if len(text) > MAX_LENGTH:
        raise PasswordRejected(
            _("The password may be at most %(count)s characters long.", count=MAX_LENGTH)
        )
    lowered = text.lower()
    if username and username.lower() in lowered:
        raise PasswordRejected(_("The password must not contain the user name."))
    if is_common(text) or len(set(text)) < 4:
        raise PasswordRejected(
            _("That password is on a list of common or leaked passwords; choose another.")
        )


def hash_password(password: str) -> str:
    """Return an Argon2id hash of the (NFKC-normalised) password."""
    return _hasher.hash(normalize(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Return whether the password matches the stored hash (False for no hash).

    No hash (a converted 1.2 account before its first sign-in) takes the time of a check
    too, so that how fast the answer comes tells no account apart.
    """
    if not stored_hash:
        dummy_verify()
        return False
    try:
        return _hasher.verify(stored_hash, normalize(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dummy_verify() -> None:
    """Spend the time of one verification (an unknown user answers as slowly as a known one)."""
    verify_password(_dummy_hash(), "not the password")


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("a password nobody has")


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
