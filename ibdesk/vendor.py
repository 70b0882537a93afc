"""``ibdesk-vendor``: the vendor's tool that makes signing keys and issues license files.

Not part of the desktop build and never run at a clinic. ``keygen`` writes a private key
(PKCS#8 PEM, mode 0600, encrypted with a passphrase when asked) and its public key (PEM);
only the public key ever goes into ``ibdesk/keys``. ``issue`` signs a license with a
private key; tests and evaluators trust their own public key with ``IBDESK_TRUST_KEY``.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ibdesk.errors import UserError
from ibdesk.licensing.licensefile import (
    MAX_SEATS,
    Trust,
    TrustedKey,
    key_id_of,
    load_public_key,
    parse,
    render_body,
    signed_message,
    trusted_keys,
    verify,
)

PASSPHRASE_ENV = "IBDESK_VENDOR_PASSPHRASE"


def public_pem(key: Ed25519PrivateKey) -> bytes:
    """Return the PEM public key file for a private key."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(key: Ed25519PrivateKey, passphrase: bytes | None = None) -> bytes:
    """Return the PKCS#8 PEM private key file, encrypted when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_private_key(data: bytes, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Read an Ed25519 private key file, or say in one sentence why not."""
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError as error:
        raise UserError(
            "The private key is encrypted; give its passphrase."
            if not passphrase
            else "The private key is not encrypted; give no passphrase."
        ) from error
    except ValueError as error:
        raise UserError(
            "The private key could not be read: wrong passphrase or not a PEM private key."
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError("The private key is not an Ed25519 key.")
    return key


def valid_org_number(value: str) -> str:
    """Return a Swedish organisation number as NNNNNN-NNNN after checking its check digit."""
    digits = value.strip().replace("-", "")
    if len(digits) == 12 and digits.startswith("16"):
        digits = digits[2:]
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        raise UserError(f"'{value}' is not an organisation number (NNNNNN-NNNN).")
    total = 0
    for index, char in enumerate(digits[:9]):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    if (10 - total % 10) % 10 != int(digits[9]):
        raise UserError(f"The organisation number {value} has a wrong check digit.")
    return f"{digits[:6]}-{digits[6:]}"


def issue_license(
    key: Ed25519PrivateKey,
    *,
    licensee: str,
    org_number: str,
    seats: int,
    created: dt.date | None = None,
    expires: dt.date | None = None,
    license_id: str | None = None,
) -> str:
    """Return the text of a license file signed with the key."""
    licensee = " ".join(licensee.split())
    if not licensee or len(licensee) > 200:
        raise UserError("The licensee's name must be 1 to 200 characters.")
    if not 1 <= seats <= MAX_SEATS:
        raise UserError(f"The seat count must be between 1 and {MAX_SEATS}.")
    created = created or dt.date.today()
    if expires is not None and expires < created:
        raise UserError("The license cannot expire before it is created.")
    fields = {
        "license-id": license_id or uuid.uuid4().hex,
        "key-id": key_id_of(key.public_key()),
        "licensee": licensee,
        "org-number": valid_org_number(org_number),
        "seats": str(seats),
        "created": created.isoformat(),
    }
    if expires is not None:
        fields["expires"] = expires.isoformat()
    body = render_body(fields)
    signature = base64.b64encode(key.sign(signed_message(body))).decode("ascii")
    text = f"{body}signature: ed25519:{signature}\n"
    parse(text.encode("utf-8"))  # what we issue must read back
    return text


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as error:
        raise UserError(f"{path} already exists; it was not overwritten.") from error
    except OSError as error:
        raise UserError(f"Cannot write {path}: {error.strerror}.") from error
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _passphrase(prompt: bool, confirm: bool) -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    if value is None and prompt:
        value = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    return value.encode("utf-8") if value else None


class VendorGroup(click.Group):
    """Print vendor-facing errors as one line on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; print UserError messages plainly and exit non-zero."""
        try:
            return super().invoke(ctx)
        except UserError as error:
            click.echo(f"ibdesk-vendor: {error}", err=True)
            ctx.exit(error.exit_code)


@click.group(cls=VendorGroup)
def main() -> None:
    """Make ImageBank signing keys and issue license files (vendor only)."""


@main.command("keygen")
@click.argument("name")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write both files to.",
)
@click.option(
    "--encrypt",
    is_flag=True,
    help=f"Protect the private key with a passphrase (prompted, or {PASSPHRASE_ENV}).",
)
def keygen(name: str, folder: Path, encrypt: bool) -> None:
    """Write NAME.key (private, mode 0600) and NAME.pub (public) and print the key id."""
    if not name or any(c in name for c in "/\\:") or name.startswith("."):
        raise UserError(f"'{name}' cannot be a key name; use letters, digits and '-'.")
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    passphrase = _passphrase(encrypt, confirm=True) if encrypt else None
    if encrypt and not passphrase:
        raise UserError("An encrypted key needs a passphrase that is not empty.")
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    if public_path.exists():
        raise UserError(f"{public_path} already exists; it was not overwritten.")
    _write_new(private_path, private_pem(key, passphrase), 0o600)
    _write_new(public_path, public_pem(key), 0o644)
    click.echo(f"Key id {key_id_of(key.public_key())}")
    click.echo(f"Private key: {private_path} (keep it off every repository and clinic computer)")
    click.echo(f"Public key:  {public_path}")


@main.command("issue")
@click.option("--licensee", required=True, help="The clinic's registered name.")
@click.option("--org-number", required=True, help="Organisation number, NNNNNN-NNNN.")
@click.option("--seats", required=True, type=click.IntRange(1, MAX_SEATS))
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The vendor's private key file.",
)
@click.option("--expires", type=click.DateTime(["%Y-%m-%d"]), help="Last valid day.")
@click.option("--created", type=click.DateTime(["%Y-%m-%d"]), help="Issue date (default today).")
@click.option("--license-id", help="License id (default: a new random one).")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the file (default LICENSE-ID.ibdesk-license; '-' prints it).",
)
def issue(
    licensee: str,
    org_number: str,
    seats: int,
    key_path: Path,
    expires: dt.datetime | None,
    created: dt.datetime | None,
    license_id: str | None,
    out: Path | None,
) -> None:
    """Sign a license file for a clinic."""
    data = key_path.read_bytes()
    encrypted = b"ENCRYPTED" in data
    key = load_private_key(data, _passphrase(encrypted, confirm=False) if encrypted else None)
    text = issue_license(
        key,
        licensee=licensee,
        org_number=org_number,
        seats=seats,
        created=created.date() if created else None,
        expires=expires.date() if expires else None,
        license_id=license_id,
    )
    if out is not None and str(out) == "-":
        sys.stdout.write(text)
        return
    document = parse(text.encode("utf-8"))
    path = out or Path(f"{document.license_id}.ibdesk-license")
    _write_new(path, text.encode("utf-8"), 0o644)
    click.echo(f"Wrote {path}: {document.seats} seats for {document.registered_to}.")


@main.command("inspect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--pub",
    "public_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check against this public key instead of the trusted ones.",
)
def inspect_license(file: Path, public_path: Path | None) -> None:
    """Show a license file's fields and check its signature."""
    document = parse(file.read_bytes()[: 1 << 20], name=str(file))
    keys = trusted_keys()
    if public_path is not None:
        public_key = load_public_key(public_path.read_bytes(), str(public_path))
        keys = {
            key_id_of(public_key): TrustedKey(
                key_id_of(public_key), str(public_path), public_key, Trust.TEST_KEY
            )
        }
    key = verify(document, keys)
    expires = document.expires_on.isoformat() if document.expires_on else "never"
    click.echo(
        f"License {document.license_id}: {document.seats} seats for "
        f"{document.registered_to}, created {document.created_on}, expires {expires}; "
        f"signature valid (key {key.name}, {key.key_id})."
    )


if __name__ == "__main__":  # pragma: no cover
    main()
