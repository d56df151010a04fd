"""A self-signed TLS certificate and key for a lab or a first install.

``self_signed`` builds the pair in memory (an ECDSA P-256 key, a certificate naming the
hosts as subject alternative names); ``write_pair`` puts it on disk, the key readable by
its owner only (0600). A bank's own CA should issue the certificate in production; the
service takes either through ``--tls-cert/--tls-key``. ``cryptography`` loads only here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.access.errors import AccessError

if TYPE_CHECKING:
    from cryptography.x509 import GeneralName

__all__ = ["MAX_DAYS", "CertificatePair", "default_hosts", "self_signed", "write_pair"]

MAX_DAYS = 3650
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_SKEW = timedelta(minutes=5)  # valid from a little before now, for clocks that lag


@dataclass(frozen=True)
class CertificatePair:
    cert_pem: bytes
    key_pem: bytes
    hosts: tuple[str, ...]
    not_after: datetime
    sha256: str
    """The certificate's SHA-256 fingerprint, hex with colons, for clients to pin."""


def default_hosts() -> tuple[str, ...]:
    """localhost, the loopback addresses and this machine's name where it is a DNS name."""
    import socket

    hosts = ["localhost", "127.0.0.1", "::1"]
    name = socket.gethostname()
    if name not in hosts and _is_dns_name(name):
        hosts.append(name)
    return tuple(hosts)


def self_signed(hosts: tuple[str, ...], *, days: int = 365,
                now: datetime | None = None) -> CertificatePair:
    """A certificate valid for ``days`` that names ``hosts`` (DNS names or IP addresses)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not 1 <= days <= MAX_DAYS:
        raise AccessError(f"--days must be between 1 and {MAX_DAYS}, got {days}")
    names = _alt_names(hosts)
    start = (now or datetime.now(UTC)) - _SKEW
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Scoring appliance (self-signed)"),
    ])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(start)
        .not_valid_after(start + _SKEW + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(  # Python's strict X.509 checks (3.13+) want it even when self-signed
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return CertificatePair(cert.public_bytes(serialization.Encoding.PEM), key_pem,
                           tuple(hosts), cert.not_valid_after_utc, fingerprint)


def write_pair(pair: CertificatePair, out: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``cert.pem`` (0644) and ``key.pem`` (0600) into ``out``; each appears whole or
    not at all. Existing files are replaced only with ``force``."""
    cert_path, key_path = out / "cert.pem", out / "key.pem"
    present = [p.name for p in (cert_path, key_path) if p.exists()]
    if present and not force:
        raise AccessError(
            f"{out} already holds {' and '.join(present)}: pass --force to replace them"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_atomically(key_path, pair.key_pem, 0o600)
        _write_atomically(cert_path, pair.cert_pem, 0o644)
    except OSError as exc:
        raise AccessError(f"cannot write the certificate pair into {out}: {exc}") from exc
    return cert_path, key_path


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _alt_names(hosts: tuple[str, ...]) -> list[GeneralName]:
    from cryptography import x509

    if not hosts:
        raise AccessError("name at least one host (--host NAME) the certificate is for")
    names: list[GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not _is_dns_name(host):
                raise AccessError(
                    f"--host {host!r} is neither an IP address nor a DNS name"
                    " (letters, digits and '-' in dot-separated labels, '*.' allowed first)"
                ) from None
            names.append(x509.DNSName(host.lower()))
    return names


def _is_dns_name(host: str) -> bool:
    labels = host.removeprefix("*.").rstrip(".").split(".")
    return 0 < len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
