"""A throwaway certificate authority and a loopback server certificate.

The CA and the leaf are made once per process (ECDSA P-256, fast to generate
and to handshake with) and written to a private temporary directory that is
removed at interpreter exit: many tests start a server, and each start must
cost milliseconds, not a key generation.
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

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateFiles", "certificate_files"]


@dataclass(frozen=True, kw_only=True)
class CertificateFiles:
    """Paths of the PEM files of the throwaway CA and of the loopback server."""

    ca_bundle: str
    server_cert: str
    server_key: str


_lock = threading.Lock()
_cached: CertificateFiles | None = None


def certificate_files() -> CertificateFiles:
    """The process-wide CA and server certificate, made on first use."""
    global _cached
    with _lock:
        if _cached is None or not os.path.exists(_cached.ca_bundle):
            _cached = _make_files()
        return _cached


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "securebedrock.testing"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make_files() -> CertificateFiles:
    now = datetime.datetime.now(datetime.timezone.utc)
    # Backdated so that a client clock slightly behind ours still accepts it.
    not_before = now - datetime.timedelta(days=1)
    not_after = now + datetime.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("securebedrock.testing throwaway CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    directory = tempfile.mkdtemp(prefix="securebedrock-testing-ca-")
    atexit.register(shutil.rmtree, directory, True)
    files = CertificateFiles(
        ca_bundle=os.path.join(directory, "ca.pem"),
        server_cert=os.path.join(directory, "server.pem"),
        server_key=os.path.join(directory, "server.key"),
    )
    _write(files.ca_bundle, ca_cert.public_bytes(serialization.Encoding.PEM))
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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
