"""A throwaway certificate authority and loopback server certificates.

The CA and each server certificate are made once per process (ECDSA P-256,
fast to generate and to handshake with) and written to a private temporary
directory that is removed at interpreter exit: many tests start a server, and
each start must cost milliseconds, not a key generation.

Besides the valid certificate, three deliberately broken ones let tests prove
that a client really verifies what it is shown:

- ``wrong_host``: issued by the trusted CA, but for another name;
- ``expired``: issued by the trusted CA for the right names, but expired;
- ``untrusted``: for the right names, but issued by a CA that is not in
  ``ca_bundle``.
"""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateFiles", "CertificateKind", "certificate_files"]

CertificateKind = Literal["valid", "wrong_host", "expired", "untrusted"]
CERTIFICATE_KINDS: tuple[CertificateKind, ...] = ("valid", "wrong_host", "expired", "untrusted")

#: The names a ``valid`` certificate is for (and a ``wrong_host`` one is not).
LOOPBACK_NAMES: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    x509.IPAddress(ipaddress.ip_address("::1")),
)


@dataclass(frozen=True, kw_only=True)
class CertificateFiles:
    """Paths of the PEM files of the throwaway CA and of one server certificate."""

    ca_bundle: str
    server_cert: str
    server_key: str


@dataclass(frozen=True, kw_only=True)
class _Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


_lock = threading.Lock()
_directory: str | None = None
_authorities: dict[str, _Authority] = {}
_files: dict[CertificateKind, CertificateFiles] = {}


def certificate_files(kind: CertificateKind = "valid") -> CertificateFiles:
    """The process-wide trusted CA and a server certificate of ``kind``, made on first use."""
    if kind not in CERTIFICATE_KINDS:
        raise ValueError(f"certificate kind must be one of {CERTIFICATE_KINDS}, not {kind!r}")
    with _lock:
        cached = _files.get(kind)
        if cached is not None and os.path.exists(cached.ca_bundle):
            return cached
        files = _make_files(kind)
        _files[kind] = files
        return files


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "securebedrock.testing"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _workdir() -> str:
    global _directory
    if _directory is None or not os.path.isdir(_directory):
        _directory = tempfile.mkdtemp(prefix="securebedrock-testing-ca-")
        atexit.register(shutil.rmtree, _directory, True)
        _authorities.clear()
        _files.clear()
    return _directory


def _authority(label: str) -> _Authority:
    existing = _authorities.get(label)
    if existing is not None:
        return existing
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"securebedrock.testing throwaway CA ({label})")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    authority = _Authority(key=key, cert=cert)
    _authorities[label] = authority
    return authority


def _make_files(kind: CertificateKind) -> CertificateFiles:
    directory = _workdir()
    trusted = _authority("trusted")
    ca_bundle = os.path.join(directory, "ca.pem")
    if not os.path.exists(ca_bundle):
        _write(ca_bundle, trusted.cert.public_bytes(serialization.Encoding.PEM))

    issuer = _authority("untrusted") if kind == "untrusted" else trusted
    names: list[x509.GeneralName] = (
        [x509.DNSName("wrong-host.invalid")] if kind == "wrong_host" else list(LOOPBACK_NAMES)
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    if kind == "expired":
        not_before, not_after = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
    else:
        # Backdated so that a client clock slightly behind ours still accepts it.
        not_before, not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("wrong-host.invalid" if kind == "wrong_host" else "localhost"))
        .issuer_name(issuer.cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
        .sign(issuer.key, hashes.SHA256())
    )
    files = CertificateFiles(
        ca_bundle=ca_bundle,
        server_cert=os.path.join(directory, f"server-{kind}.pem"),
        server_key=os.path.join(directory, f"server-{kind}.key"),
    )
    _write(files.server_cert, leaf_cert.public_bytes(serialization.Encoding.PEM))
    _write(
        files.server_key,
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return files


def _write(path: str, data: bytes) -> None:
    # 0o600: the key is throwaway, but other local users have no business reading it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
