"""The license file: its text format, its Ed25519 signature and the keys this program trusts.

A license file is small UTF-8 text that an administrator can read::

    ibdesk-license: 1
    license-id: 3f0c2a9e6b1d4c58a7e2f90b1c3d5e7f
    key-id: 9a1b2c3d4e5f6071
    licensee: Folktandvården Exempelstad AB
    org-number: 556677-8899
    seats: 10
    created: 2026-03-01
    expires: 2027-02-28
    signature: ed25519:BASE64

``expires`` is optional (a license without it never expires). The signature is Ed25519
over ``SIGNING_PREFIX`` followed by every line before the signature line, each ending in
LF; the prefix keeps a license signature from ever being valid for anything else a vendor
key signs, and the key id inside the signed text binds the license to its key. Line endings
are normalised to LF and a UTF-8 byte-order mark is dropped before verifying, so a file that
went through Notepad or an e-mail program still verifies; any other change voids it.

Demo licenses (see ``ibdesk.licensing``) use the same format with ``key-id: demo``,
``demo: true``, a ``database-id`` and ``signature: none``; this module only parses them.

Trusted keys are the PEM public keys shipped in ``ibdesk/keys`` plus, for tests and for
anyone evaluating the program, the key file(s) named by ``IBDESK_TRUST_KEY`` (several
separated by the path separator). Licenses verified by the latter are labelled as such.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import functools
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ibdesk import folders
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

MAGIC = "ibdesk-license"
FORMAT_VERSION = "1"
SIGNING_PREFIX = b"ibdesk-license-v1\x00"
TRUST_ENV = "IBDESK_TRUST_KEY"
SHIPPED_KEYS_DIR = Path(__file__).resolve().parent.parent / "keys"
DEMO_KEY_ID = "demo"
# A real license is well under 1 KB; anything far bigger is not one and is not read whole.
MAX_FILE_BYTES = 16 * 1024
MAX_SEATS = 10_000
FIELDS = (
    "license-id",
    "key-id",
    "licensee",
    "org-number",
    "seats",
    "created",
    "expires",
    "demo",
    "database-id",
)
REQUIRED = ("license-id", "key-id", "licensee", "org-number", "seats", "created")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_LICENSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_ORG_NUMBER = re.compile(r"^\d{6}-\d{4}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class LicenseError(UserError):
    """A license that cannot be accepted, explained in one sentence."""


class Trust(enum.StrEnum):
    """Why a license is believed: the shipped vendor key, a key from IBDESK_TRUST_KEY, demo."""

    VENDOR = "vendor"
    TEST_KEY = "test-key"
    DEMO = "demo"


@dataclass(frozen=True)
class TrustedKey:
    """A public key that licenses may be signed with."""

    key_id: str
    name: str
    public_key: Ed25519PublicKey
    source: Trust


@dataclass(frozen=True)
class LicenseDocument:
    """A parsed license file; its signature is checked separately with ``verify``."""

    license_id: str
    key_id: str
    licensee: str
    org_number: str
    seats: int
    created_on: dt.date
    expires_on: dt.date | None
    demo: bool
    database_id: str | None
    text: str
    body: bytes
    signature: bytes | None

    @property
    def registered_to(self) -> str:
        """Return the licensee and organisation number as shown on screen."""
        return f"{self.licensee} ({self.org_number})"


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """Return a key's id: the first 16 hex digits of SHA-256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(data: bytes, source: str) -> Ed25519PublicKey:
    """Read an Ed25519 public key from PEM, or say in one sentence why it is not one."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise LicenseError(_("%(source)s is not a PEM public key file.", source=source)) from error
    if not isinstance(key, Ed25519PublicKey):
        raise LicenseError(
            _("%(source)s holds a public key, but not an Ed25519 one.", source=source)
        )
    return key


def signed_message(body: str | bytes) -> bytes:
    """Return the exact bytes a license signature covers."""
    return SIGNING_PREFIX + (body.encode("utf-8") if isinstance(body, str) else body)


def render_body(fields: dict[str, str]) -> str:
    """Return the text of a license before its signature line, fields in canonical order."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(_("unknown license fields: %(unknown)s", unknown=sorted(unknown)))
    lines = [f"{MAGIC}: {FORMAT_VERSION}"]
    for name in FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        if "\n" in value or "\r" in value or value != value.strip():
            raise ValueError(_("license field %(name)s must be one trimmed line", name=name))
        lines.append(f"{name}: {value}")
    return "\n".join(lines) + "\n"


def parse(data: bytes, *, name: str | None = None) -> LicenseDocument:
    """Parse a license file; raise LicenseError with one sentence for anything malformed.

    The signature is not checked here, but its presence and shape are, so a file cut short
    is reported as incomplete.
    """
    name = name or _("The file")
    not_license = _(
        "%(name)s is not an ImageBank license file; choose the file the vendor sent.", name=name
    )
    lines = _text_lines(data, name=name, not_license=not_license)
    incomplete = _incomplete(name)
    _check_first_line(lines, name=name, not_license=not_license, incomplete=incomplete)
    damaged = _("%(name)s is damaged", name=name)
    fields, signature_line, body_lines = _read_fields(lines, damaged=damaged, incomplete=incomplete)
    missing = [f for f in REQUIRED if not fields.get(f)]
    if missing:
        raise LicenseError(
            _(
                "%(damaged)s: the field '%(missing)s' is missing.",
                damaged=damaged,
                missing=missing[0],
            )
        )
    demo = fields.get("demo") == "true"
    signature = _parse_signature(signature_line, demo=demo, name=name, incomplete=incomplete)
    body = ("\n".join(body_lines) + "\n").encode("utf-8")
    return _document(
        fields,
        body,
        signature,
        demo=demo,
        name=name,
        text=body.decode("utf-8") + f"signature: {signature_line}\n",
    )


def _text_lines(data: bytes, *, name: str, not_license: str) -> list[str]:
    """Decode a license file and split it into lines, without a byte-order mark or CRs."""
    if len(data) > MAX_FILE_BYTES:
        raise LicenseError(not_license)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        cut_in_a_character = error.reason == "unexpected end of data" and error.end == len(data)
        if cut_in_a_character and data.startswith(MAGIC.encode()):
            raise LicenseError(_incomplete(name)) from error
        raise LicenseError(not_license) from error
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _check_first_line(lines: list[str], *, name: str, not_license: str, incomplete: str) -> None:
    """Raise unless the first line names this program's license format and version."""
    first = lines[0].strip()
    if len(lines) == 1 and first and f"{MAGIC}: {FORMAT_VERSION}".startswith(first):
        raise LicenseError(incomplete)
    if not first.startswith(f"{MAGIC}:"):
        raise LicenseError(not_license)
    version = first.partition(":")[2].strip()
    if version != FORMAT_VERSION:
        raise LicenseError(
            _(
                "%(name)s is a license of a format this program does not know "
                "(version %(value)s); update ImageBank SysAdmin first.",
                name=name,
                value=version[:10] or _("missing"),
            )
        )


def _read_fields(
    lines: list[str], *, damaged: str, incomplete: str
) -> tuple[dict[str, str], str, list[str]]:
    """Read the 'field: value' lines after the first one.

    Return the fields, the value of the signature line and the lines the signature covers
    (the first line included); raise if a line is malformed or the signature line is missing.
    """
    fields: dict[str, str] = {}
    signature_line: str | None = None
    body_lines = [lines[0]]
    for number, line in enumerate(lines[1:], start=2):
        if signature_line is not None:
            if line.strip():
                raise LicenseError(
                    _("%(damaged)s: there is text after its signature.", damaged=damaged)
                )
            continue
        key, sep, value = line.partition(":")
        if not sep or _CONTROL.search(line):
            raise LicenseError(
                incomplete
                if number == len(lines)
                else _(
                    "%(damaged)s: line %(number)s is not a 'field: value' line.",
                    damaged=damaged,
                    number=number,
                )
            )
        key, value = key.strip(), value.strip()
        if key == "signature":
            signature_line = value
            continue
        if key not in FIELDS:
            raise LicenseError(
                _("%(damaged)s: it has an unknown field '%(key)s'.", damaged=damaged, key=key[:40])
            )
        if key in fields:
            raise LicenseError(
                _("%(damaged)s: the field '%(key)s' appears twice.", damaged=damaged, key=key)
            )
        fields[key] = value
        body_lines.append(line)
    if signature_line is None:
        raise LicenseError(incomplete)
    return fields, signature_line, body_lines


def _incomplete(name: str) -> str:
    return _(
        "%(name)s is incomplete (it was cut short before the end of its "
        "signature); save the whole file from the vendor again.",
        name=name,
    )


def _parse_signature(value: str, *, demo: bool, name: str, incomplete: str) -> bytes | None:
    if demo:
        if value != "none":
            raise LicenseError(
                _("%(name)s is damaged: a demo license carries no signature.", name=name)
            )
        return None
    algorithm, sep, encoded = value.partition(":")
    if value == "none":
        raise LicenseError(
            _("%(name)s is not signed, so it cannot be a license from the vendor.", name=name)
        )
    if "ed25519:".startswith(value):
        raise LicenseError(incomplete)
    if not sep or algorithm != "ed25519":
        raise LicenseError(
            _("%(name)s is damaged: its signature is not an Ed25519 signature.", name=name)
        )
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise LicenseError(incomplete) from error
    if len(raw) != 64:
        raise LicenseError(incomplete)
    if base64.b64encode(raw).decode("ascii") != encoded:
        # Spare bits set in the last character: same bytes, but not what the vendor wrote.
        raise LicenseError(
            _("%(name)s is damaged: its signature is not written as issued.", name=name)
        )
    return raw


def _document(
    fields: dict[str, str],
    body: bytes,
    signature: bytes | None,
    *,
    demo: bool,
    name: str,
    text: str,
) -> LicenseDocument:
    """Check each field's value and build the document."""
    damaged = _("%(name)s is damaged", name=name)
    key_id = fields["key-id"]
    if demo != (key_id == DEMO_KEY_ID) or (not demo and not _KEY_ID.match(key_id)):
        raise LicenseError(
            _(
                "%(damaged)s: its key id '%(key_id)s' is not valid.",
                damaged=damaged,
                key_id=key_id[:40],
            )
        )
    if "demo" in fields and fields["demo"] != "true":
        raise LicenseError(_("%(damaged)s: the field 'demo' may only say 'true'.", damaged=damaged))
    database_id = fields.get("database-id")
    if demo != (database_id is not None):
        raise LicenseError(_("%(damaged)s: only a demo license names a database.", damaged=damaged))
    license_id = fields["license-id"]
    if not _LICENSE_ID.match(license_id):
        raise LicenseError(_("%(damaged)s: its license id is not valid.", damaged=damaged))
    licensee = fields["licensee"]
    if len(licensee) > 200:
        raise LicenseError(
            _("%(damaged)s: the licensee's name is longer than 200 characters.", damaged=damaged)
        )
    org_number = fields["org-number"]
    if not _ORG_NUMBER.match(org_number):
        raise LicenseError(
            _("%(damaged)s: the organisation number is not NNNNNN-NNNN.", damaged=damaged)
        )
    seats_text = fields["seats"]
    if not seats_text.isascii() or not seats_text.isdigit():
        raise LicenseError(_("%(damaged)s: the seat count is not a whole number.", damaged=damaged))
    seats = int(seats_text)
    if not 1 <= seats <= MAX_SEATS:
        raise LicenseError(
            _(
                "%(damaged)s: the seat count must be between 1 and %(MAX_SEATS)s.",
                damaged=damaged,
                MAX_SEATS=MAX_SEATS,
            )
        )
    created_on = _date(fields["created"], "created", damaged)
    expires_on = _date(fields["expires"], "expires", damaged) if "expires" in fields else None
    if expires_on is not None and expires_on < created_on:
        raise LicenseError(_("%(damaged)s: it expires before it was created.", damaged=damaged))
    return LicenseDocument(
        license_id=license_id,
        key_id=key_id,
        licensee=licensee,
        org_number=org_number,
        seats=seats,
        created_on=created_on,
        expires_on=expires_on,
        demo=demo,
        database_id=database_id,
        text=text,
        body=body,
        signature=signature,
    )


def _date(value: str, field: str, damaged: str) -> dt.date:
    if _DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise LicenseError(
        _(
            "%(damaged)s: the %(field)s date '%(value)s' is not YYYY-MM-DD.",
            damaged=damaged,
            field=field,
            value=value[:20],
        )
    )


def verify(document: LicenseDocument, keys: dict[str, TrustedKey] | None = None) -> TrustedKey:
    """Check a signed license against the trusted keys and return the key that signed it."""
    if document.demo or document.signature is None:
        raise LicenseError(_("A demo license is not signed by the vendor."))
    trusted = trusted_keys() if keys is None else keys
    key = trusted.get(document.key_id)
    if key is None:
        raise LicenseError(
            _(
                "The license is signed with key %(key_id)s, which this program "
                "does not trust; ask the vendor for a license signed with a "
                "current key.",
                key_id=document.key_id,
            )
        )
    try:
        key.public_key.verify(document.signature, signed_message(document.body))
    except InvalidSignature as error:
        raise LicenseError(
            _(
                "The license has been changed since the vendor signed it; ask the vendor for "
                "a fresh copy."
            )
        ) from error
    return key


@functools.cache
def shipped_keys() -> dict[str, TrustedKey]:
    """Return the public keys shipped with the program, by key id."""
    keys: dict[str, TrustedKey] = {}
    # Beside this module rather than importlib.resources, which fails on the editable
    # install's namespace package; pyproject ships keys/* as package data.
    for entry in sorted(SHIPPED_KEYS_DIR.glob("*.pub")):
        if entry.is_file():
            public_key = load_public_key(
                entry.read_bytes(), _("The shipped key %(name)s", name=entry.name)
            )
            key_id = key_id_of(public_key)
            keys[key_id] = TrustedKey(
                key_id, entry.name.removesuffix(".pub"), public_key, Trust.VENDOR
            )
    return keys


def environment_keys() -> dict[str, TrustedKey]:
    """Return the keys named by IBDESK_TRUST_KEY (read anew each call), by key id."""
    keys: dict[str, TrustedKey] = {}
    for item in (os.environ.get(TRUST_ENV) or "").split(os.pathsep):
        if not item.strip():
            continue
        path = folders.expand(item.strip())
        try:
            data = path.read_bytes()
        except OSError as error:
            raise LicenseError(
                _(
                    "%(TRUST_ENV)s names %(path)s, which cannot be read (%(strerror)s).",
                    TRUST_ENV=TRUST_ENV,
                    path=path,
                    strerror=error.strerror,
                )
            ) from error
        public_key = load_public_key(data, f"{path} (named by {TRUST_ENV})")
        key_id = key_id_of(public_key)
        keys[key_id] = TrustedKey(key_id, str(path), public_key, Trust.TEST_KEY)
    return keys


def trusted_keys() -> dict[str, TrustedKey]:
    """Return every trusted key by id; a shipped key stays shipped if also named by env."""
    return {**environment_keys(), **shipped_keys()}
