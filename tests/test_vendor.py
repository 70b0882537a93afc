"""``ibdesk-vendor``: key generation and license issuing, and that what it issues installs."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization

from ibdesk import vendor
from ibdesk.errors import UserError
from ibdesk.licensing import licensefile


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(vendor.main, list(args), env=env, input=stdin, catch_exceptions=False)


def keygen(folder: Path, name: str = "acme-2026", *extra: str, stdin: str | None = None) -> Result:
    result = run("keygen", name, "--dir", str(folder), *extra, stdin=stdin)
    assert result.exit_code == 0, result.stderr
    return result


def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_public_key(
    tmp_path: Path,
) -> None:
    result = keygen(tmp_path)
    private_path, public_path = tmp_path / "acme-2026.key", tmp_path / "acme-2026.pub"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    private_key = vendor.load_private_key(private_path.read_bytes())
    public_key = licensefile.load_public_key(public_path.read_bytes(), "pub")
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert (
        private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        == raw
    )
    key_id = hashlib.sha256(raw).hexdigest()[:16]
    assert licensefile.key_id_of(public_key) == key_id
    assert f"Key id {key_id}" in result.stdout
    assert b"PRIVATE" not in public_path.read_bytes()


def test_keygen_never_overwrites(tmp_path: Path) -> None:
    keygen(tmp_path)
    before = (tmp_path / "acme-2026.key").read_bytes()
    result = run("keygen", "acme-2026", "--dir", str(tmp_path))
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert (tmp_path / "acme-2026.key").read_bytes() == before
    assert run("keygen", "../evil", "--dir", str(tmp_path)).exit_code == 1


def test_issue_writes_a_license_the_program_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keygen(tmp_path)
    out = tmp_path / "clinic.ibdesk-license"
    result = run(
        "issue",
        "--licensee",
        "Folktandvården  Exempelstad AB",
        "--org-number",
        "5560125790",
        "--seats",
        "12",
        "--key",
        str(tmp_path / "acme-2026.key"),
        "--expires",
        "2030-12-31",
        "--created",
        "2026-01-15",
        "--license-id",
        "FTV-0042",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.stderr
    assert "12 seats for Folktandvården Exempelstad AB (556012-5790)" in result.stdout
    document = licensefile.parse(out.read_bytes())
    assert (document.license_id, document.seats, document.org_number) == (
        "FTV-0042",
        12,
        "556012-5790",
    )
    assert document.created_on == dt.date(2026, 1, 15)
    assert document.expires_on == dt.date(2030, 12, 31)
    with pytest.raises(licensefile.LicenseError, match="does not trust"):
        licensefile.verify(document)  # not trusted until the public key is
    monkeypatch.setenv("IBDESK_TRUST_KEY", str(tmp_path / "acme-2026.pub"))
    assert licensefile.verify(document).source is licensefile.Trust.TEST_KEY
    inspected = run("inspect", str(out))
    assert inspected.exit_code == 0 and "signature valid" in inspected.stdout


def issue_args(folder: Path, seats: int) -> list[str]:
    """Return the arguments issuing a license for Klinik AB with the key made by keygen()."""
    return [
        "issue",
        "--licensee",
        "Klinik AB",
        "--org-number",
        "556012-5790",
        "--seats",
        str(seats),
        "--key",
        str(folder / "acme-2026.key"),
    ]


def test_inspect_with_a_public_key_and_a_tampered_file(tmp_path: Path) -> None:
    keygen(tmp_path)
    out = tmp_path / "lic"
    run(*issue_args(tmp_path, 2), "--out", str(out))
    ok = run("inspect", str(out), "--pub", str(tmp_path / "acme-2026.pub"))
    assert ok.exit_code == 0 and "signature valid (key" in ok.stdout
    out.write_bytes(out.read_bytes().replace(b"seats: 2", b"seats: 3"))
    bad = run("inspect", str(out), "--pub", str(tmp_path / "acme-2026.pub"))
    assert bad.exit_code == 1 and "changed since the vendor signed it" in bad.stderr


def test_issue_to_stdout(tmp_path: Path) -> None:
    keygen(tmp_path)
    result = run(*issue_args(tmp_path, 1), "--out", "-")
    assert result.exit_code == 0
    assert licensefile.parse(result.stdout.encode()).seats == 1


def test_an_encrypted_key_needs_its_passphrase(tmp_path: Path) -> None:
    keygen(tmp_path, "acme-2026", "--encrypt", stdin="hemligt lösen\nhemligt lösen\n")
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "acme-2026.key").read_bytes()
    args = issue_args(tmp_path, 2)
    wrong = run(*args, "--out", str(tmp_path / "a"), env={vendor.PASSPHRASE_ENV: "fel"})
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.stderr
    assert not (tmp_path / "a").exists()
    right = run(*args, "--out", str(tmp_path / "b"), env={vendor.PASSPHRASE_ENV: "hemligt lösen"})
    assert right.exit_code == 0, right.stderr
    prompted = run(*args, "--out", str(tmp_path / "c"), stdin="hemligt lösen\n")
    assert prompted.exit_code == 0, prompted.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--org-number", "556012-5791", "wrong check digit"),
        ("--org-number", "12345", "not an organisation number"),
        ("--licensee", "   ", "1 to 200 characters"),
        ("--expires", "2020-01-01", "cannot expire before it is created"),
    ],
)
def test_issue_refuses_bad_values(tmp_path: Path, option: str, value: str, message: str) -> None:
    keygen(tmp_path)
    values = {"--licensee": "Klinik AB", "--org-number": "556012-5790", "--expires": None}
    values[option] = value
    args = [
        "issue",
        "--seats",
        "2",
        "--key",
        str(tmp_path / "acme-2026.key"),
        "--created",
        "2026-01-01",
        "--out",
        str(tmp_path / "x"),
    ]
    for name, given in values.items():
        if given is not None:
            args += [name, given]
    result = run(*args)
    assert result.exit_code == 1 and message in result.stderr
    assert not (tmp_path / "x").exists()


def test_org_number_forms() -> None:
    assert vendor.valid_org_number("556012-5790") == "556012-5790"
    assert vendor.valid_org_number("16556012-5790") == "556012-5790"
    with pytest.raises(UserError):
        vendor.valid_org_number("556012-579O")
