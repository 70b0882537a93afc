"""A throwaway Samba Active Directory domain controller on loopback, for tests and benchmarks.

Provisioning a domain takes several seconds (more under load), so it is done once, with
the test users and groups, into a cache folder; each run copies that folder, fixes its
paths, gives it certificates of its own (a private CA and a server certificate naming the
loopback address it listens on) and starts ``samba -F``. Nothing of the system's own Samba
configuration is used: every command gets the private ``smb.conf`` with ``-s``.

The domain (realm ``IB.TEST``, base ``DC=ib,DC=test``)::

    IB Clinic   ⊃ IB Dentists ⊃ IB Juniors ∋ junior       (nested three levels)
    IB Admins   ∋ adadmin, gone (disabled), åsa.öberg
    bind        a plain user for lookups;  norights: a user that may read nothing
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REALM = "IB.TEST"
DOMAIN = "IB"
BASE_DN = "DC=ib,DC=test"
ADMIN_PASSWORD = "Admin-pass-2026!"
PASSWORD = "Test-pass-2026"
# name, password, given name, surname
USERS = (
    ("adadmin", PASSWORD, "Ada", "Admin"),
    ("junior", PASSWORD, "Jun", "Ior"),
    ("gone", PASSWORD, "Gone", "Away"),
    ("åsa.öberg", PASSWORD, "Åsa", "Ängström Öberg"),
    ("bind", PASSWORD, "Bind", "Account"),
    ("norights", PASSWORD, "No", "Rights"),
    ("recreated", PASSWORD, "Re", "Created"),
)
# group, members (users or groups)
GROUPS = (
    ("IB Juniors", ("junior",)),
    ("IB Dentists", ("IB Juniors",)),
    ("IB Clinic", ("IB Dentists",)),
    ("IB Admins", ("adadmin", "gone", "åsa.öberg")),
)
DISABLED = ("gone",)
# Provisioning changes (bump the last item) or new users and groups make a new cache.
_CACHE_VERSION = hashlib.sha256(repr((USERS, GROUPS, DISABLED, 2)).encode()).hexdigest()[:12]


class SambaMissing(RuntimeError):
    """Samba's AD DC is not installed on this machine."""


def binary(name: str) -> str | None:
    """Return the path of a Samba program (also in /usr/sbin when PATH lacks it), or None."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def installed() -> bool:
    """Return whether samba and samba-tool are installed."""
    return bool(binary("samba") and binary("samba-tool"))


def _run(*args: str) -> str:
    args = (binary(args[0]) or args[0], *args[1:])
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {done.stdout}\n{done.stderr}")
    return done.stdout


def _set_options(conf: Path, options: dict[str, str]) -> None:
    """Set [global] options in smb.conf, replacing a line provision wrote (never a second)."""
    lines = conf.read_text(encoding="utf-8").splitlines()
    keys = {k.lower(): k for k in options}
    out: list[str] = []
    for line in lines:
        key = line.split("=", 1)[0].strip().lower()
        if "=" in line and key in keys:
            continue
        out.append(line)
        if line.strip().lower() == "[global]":
            out.extend(f"\t{k} = {v}" for k, v in options.items())
    conf.write_text("\n".join(out) + "\n", encoding="utf-8")


def provision(target: Path) -> None:
    """Provision the test domain with its users and groups into ``target`` (offline)."""
    target.mkdir(parents=True)
    empty = target / "empty.conf"
    empty.write_text("", encoding="utf-8")
    _run(
        "samba-tool", "domain", "provision", "-s", str(empty),
        f"--targetdir={target / 'dc'}", f"--realm={REALM}", f"--domain={DOMAIN}",
        "--server-role=dc", "--dns-backend=NONE", "--use-rfc2307", "--host-ip=127.0.0.1",
        f"--adminpass={ADMIN_PASSWORD}", "--option=netbios name = DC1",
        "--option=interfaces = 127.0.0.2", "--option=bind interfaces only = yes",
    )  # fmt: skip
    conf = str(target / "dc" / "etc" / "smb.conf")
    tool = ("samba-tool",)
    _run(*tool, "domain", "passwordsettings", "set", "-s", conf, "--complexity=off")
    for name, password, given, surname in USERS:
        _run(*tool, "user", "create", name, password, "-s", conf,
             f"--given-name={given}", f"--surname={surname}")  # fmt: skip
    for group, _members in GROUPS:
        _run(*tool, "group", "add", group, "-s", conf)
    for group, members in GROUPS:
        _run(*tool, "group", "addmembers", group, ",".join(members), "-s", conf)
    for name in DISABLED:
        _run(*tool, "user", "disable", name, "-s", conf)
    sid = _run(*tool, "user", "show", "norights", "-s", conf, "--attributes=objectSid")
    norights = sid.split("objectSid:", 1)[1].split()[0]
    # The account may bind but not list or read the users (an explicit deny on CN=Users).
    _run(*tool, "dsacl", "set", "-s", conf, f"--objectdn=CN=Users,{BASE_DN}",
         "--action=deny", f"--sddl=(D;CI;RPLCLO;;;{norights})")  # fmt: skip


def cached_provision(cache_root: Path) -> Path:
    """Return a provisioned domain folder, made once and kept for later runs."""
    folder = cache_root / f"ibdesk-samba-{_CACHE_VERSION}"
    if (folder / "ready").exists():
        return folder
    scratch = cache_root / f"ibdesk-samba-{_CACHE_VERSION}.{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    provision(scratch)
    conf = scratch / "dc" / "etc" / "smb.conf"
    conf.write_text(
        conf.read_text(encoding="utf-8").replace(str(scratch), str(folder)), encoding="utf-8"
    )
    (scratch / "ready").write_text("", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(scratch, folder)
    return folder


@dataclass
class Certificates:
    """The PEM files of a private CA, the DC's certificate, and a CA nobody trusts."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def _make_ca(name: str) -> tuple[object, object, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert, cert.public_bytes(serialization.Encoding.PEM)


def make_certificates(folder: Path, address: str) -> Certificates:
    """Write a CA, a DC certificate for ``address`` and ``dc1.ib.test``, and a foreign CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert, ca_pem = _make_ca("ibdesk test CA")
    _other_key, _other_cert, other_pem = _make_ca("ibdesk test CA")  # same name, other key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dc1.ib.test")]))
        .issuer_name(ca_cert.subject)  # type: ignore[attr-defined]
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("dc1.ib.test"), x509.IPAddress(ipaddress.ip_address(address))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    found = Certificates(
        folder / "ca.pem", folder / "cert.pem", folder / "key.pem", folder / "other-ca.pem"
    )
    found.ca.write_bytes(ca_pem)
    found.other_ca.write_bytes(other_pem)
    found.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    descriptor = os.open(found.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    return found


def _port_free(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def free_address() -> str:
    """Return a loopback address whose LDAP ports nobody uses (127.0.0.2 first)."""
    for last in range(2, 30):
        address = f"127.0.0.{last}"
        if all(_port_free(address, port) for port in (389, 636)):
            return address
    raise RuntimeError("No loopback address 127.0.0.2-29 has ports 389 and 636 free.")


@dataclass
class SambaDC:
    """A running (or stopped) test domain controller."""

    root: Path
    address: str
    certs: Certificates
    process: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        """Return the DC's private smb.conf."""
        return self.root / "dc" / "etc" / "smb.conf"

    @property
    def log(self) -> Path:
        """Return the file samba's output goes to."""
        return self.root / "samba.log"

    def tool(self, *args: str) -> str:
        """Run samba-tool on this DC's database; return its output."""
        return _run("samba-tool", *args, "-s", str(self.conf))

    def start(self, timeout: float = 90.0) -> None:
        """Start samba in the foreground of a child process; wait until LDAP answers."""
        command = [binary("samba") or "samba", "-s", str(self.conf), "-F"]
        command += ["--no-process-group", "--debug-stdout"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"samba exited at start:\n{self._log_tail()}")
            if self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"samba's LDAP did not answer within {timeout:.0f} s:\n{self._log_tail()}"
        )

    def _answers(self) -> bool:
        from ibdesk.users.directory import close, ldap3

        try:
            socket.create_connection((self.address, 389), timeout=2).close()
        except OSError:
            return False
        try:
            server = ldap3.Server(self.address, port=389, connect_timeout=2, get_info=ldap3.NONE)
            conn = ldap3.Connection(
                server, f"Administrator@{REALM}", ADMIN_PASSWORD, receive_timeout=5
            )
            ok = bool(conn.bind())
            close(conn)
            return ok
        except Exception:
            return False

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop samba and every child it started (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def start(cache_root: Path, run_root: Path) -> SambaDC:
    """Copy the cached domain into ``run_root``, give it certificates and start it."""
    if not installed():
        raise SambaMissing(
            "Samba's AD DC is not installed (apt-get install --no-install-recommends samba "
            "samba-ad-dc samba-ad-provision samba-dsdb-modules ldb-tools ldap-utils)."
        )
    source = cached_provision(cache_root)
    shutil.copytree(source, run_root, symlinks=True)
    address = free_address()
    certs = make_certificates(run_root / "certs", address)
    conf = run_root / "dc" / "etc" / "smb.conf"
    conf.write_text(
        conf.read_text(encoding="utf-8").replace(str(source), str(run_root)), encoding="utf-8"
    )
    pids = run_root / "run"
    pids.mkdir()
    _set_options(
        conf,
        {
            "interfaces": f"{address}/8",
            # Its own pid file: two test runs (two clones on one machine) each start a DC.
            "pid directory": str(pids),
            "server services": "ldap, cldap",
            # Plain LDAP binds on 389, for the "insecure, for testing" switch only.
            "ldap server require strong auth": "no",
            "tls enabled": "yes",
            "tls certfile": str(certs.cert),
            "tls keyfile": str(certs.key),
            "tls cafile": str(certs.ca),
        },
    )
    dc = SambaDC(run_root, address, certs)
    dc.start()
    return dc
