"""Ed25519 signatures over policy files.

Format: the signature of ``policy.toml`` lives next to it in ``policy.toml.sig``.
That file holds the raw 64-byte Ed25519 signature over the message
``CONTEXT + <exact bytes of the policy file>`` (:data:`CONTEXT` is
``b"securebedrock-policy-v1\\n"``, so a policy signature can never be replayed
as a signature over anything else, nor another signature as a policy's),
base64-encoded (standard alphabet, with padding) on one line; a trailing
newline and surrounding whitespace are ignored, anything else is an error.

Signatures made before the context string (over the bare file bytes, the
*legacy* form) are recognised and refused with a "re-sign" fix, unless
``SECUREBEDROCK_ALLOW_LEGACY_SIGNATURES=1`` admits them during a migration
(with a warning each time a file is loaded).

Keys are PEM: the private key PKCS#8 (unencrypted, written 0600 by
``securebedrock policy keygen``), the public key SubjectPublicKeyInfo.

Verification reads each file once and parses the very bytes it verified, so a
file swapped between the check and the parse cannot slip through.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from . import _env
from ._constants import ENV_ALLOW_LEGACY_SIGNATURES, ENV_POLICY_PUBLIC_KEY, SIGNATURE_SUFFIX
from ._errors import PolicyConfigError
from ._trust import TrustedKey, trusted

__all__ = [
    "CONTEXT",
    "FORM_CONTEXT",
    "FORM_LEGACY",
    "Verification",
    "allow_legacy",
    "generate_keypair",
    "load_private_key",
    "load_public_key",
    "read_verified",
    "read_verified_by",
    "sign",
    "signature_path",
    "verify",
    "write_private",
]

_SIGNATURE_LENGTH = 64
_PEM_MARKER = "-----BEGIN"

#: Prefixed to the file bytes before signing: what a policy signature is a signature of.
CONTEXT = b"securebedrock-policy-v1\n"
SignatureForm = Literal["securebedrock-policy-v1", "legacy (bare file bytes, no context string)"]
FORM_CONTEXT: Final[SignatureForm] = "securebedrock-policy-v1"
FORM_LEGACY: Final[SignatureForm] = "legacy (bare file bytes, no context string)"

_log = logging.getLogger("securebedrock.policy")


@dataclass(frozen=True, kw_only=True)
class Verification:
    """Who vouched for a policy file: the key that verified it, and the signature's form."""

    key_id: str
    key_source: str
    form: SignatureForm

    def describe(self) -> str:
        """One line: ``key ed25519:... (trust anchor ...), securebedrock-policy-v1 signature``."""
        return f"key {self.key_id} ({self.key_source}), {self.form} signature"


def allow_legacy(environ: Mapping[str, str]) -> bool:
    """Whether ``SECUREBEDROCK_ALLOW_LEGACY_SIGNATURES`` admits legacy signatures."""
    return _env.flag(ENV_ALLOW_LEGACY_SIGNATURES, environ)


def signature_path(path: str | Path) -> Path:
    """Where the detached signature of ``path`` lives: ``<path>.sig``."""
    return Path(f"{path}{SIGNATURE_SUFFIX}")


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as ``(private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)``."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def load_private_key(pem: bytes, *, source: str = "private key") -> Ed25519PrivateKey:
    """Parse an unencrypted PEM Ed25519 private key; anything else is a PolicyConfigError."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise PolicyConfigError(
            "cannot read the signing key",
            found=f"{source}: {_reason(exc)}",
            expected="an unencrypted PEM Ed25519 private key (PKCS#8)",
            fix="use the private key written by `securebedrock policy keygen`",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PolicyConfigError(
            "the signing key is not an Ed25519 key",
            found=f"{source}: {type(key).__name__}",
            expected="an Ed25519 private key",
            fix="generate one with `securebedrock policy keygen`",
        )
    return key


def load_public_key(value: str | bytes, *, source: str = ENV_POLICY_PUBLIC_KEY) -> Ed25519PublicKey:
    """Parse a PEM Ed25519 public key given as PEM text, or as the path of a PEM file.

    A value that contains ``-----BEGIN`` is PEM text; anything else is a path.
    A key that is missing, unreadable, malformed or not Ed25519 is refused.
    """
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if not text.strip():
        raise PolicyConfigError(
            "the policy public key is empty",
            found=f"{source} is set but empty",
            expected="PEM text of an Ed25519 public key, or the path of a PEM file",
            fix=f"set {source} to the public key, or unset it to run without signatures",
        )
    if _PEM_MARKER in text:
        pem = text.encode("utf-8")
        where = source
    else:
        try:
            pem = Path(text).read_bytes()
        except OSError as exc:
            raise PolicyConfigError(
                "cannot read the policy public key file",
                found=f"{source} = {text!r}: {exc.strerror or exc}",
                expected="a readable PEM file, or the PEM text itself",
                fix="check the path and its permissions",
            ) from None
        where = f"{source} ({text})"
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise PolicyConfigError(
            "the policy public key does not parse",
            found=f"{where}: {_reason(exc)}",
            expected="a PEM Ed25519 public key (-----BEGIN PUBLIC KEY-----)",
            fix="use the public key written by `securebedrock policy keygen`",
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise PolicyConfigError(
            "the policy public key is not an Ed25519 key",
            found=f"{where}: {type(key).__name__}",
            expected="an Ed25519 public key",
            fix="generate a key pair with `securebedrock policy keygen`",
        )
    return key


def sign(data: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """The contents of a ``.sig`` file for ``data``: base64 of the raw signature over
    ``CONTEXT + data``, newline."""
    return base64.b64encode(private_key.sign(CONTEXT + data)) + b"\n"


def _decode_signature(sig_file: bytes, source: str) -> bytes:
    try:
        raw = base64.b64decode(sig_file.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _SIGNATURE_LENGTH:
        raise PolicyConfigError(
            "the policy signature is malformed",
            found=f"{source}: not the base64 of a {_SIGNATURE_LENGTH}-byte signature",
            expected="one line of base64: the raw 64-byte Ed25519 signature",
            fix="re-sign the policy with `securebedrock policy sign`",
        )
    return raw


def _first_verifying(keys: Sequence[TrustedKey], raw: bytes, message: bytes) -> TrustedKey | None:
    for item in keys:
        try:
            item.key.verify(raw, message)
        except InvalidSignature:
            continue
        return item
    return None


def verify(
    data: bytes,
    sig_file: bytes,
    public_key: Ed25519PublicKey | Sequence[TrustedKey],
    *,
    source: str = "policy",
    legacy: bool = False,
) -> Verification:
    """Check that ``sig_file`` is a signature of ``CONTEXT + data`` by one of the keys.

    ``public_key`` is one key or the trusted keys (any one may have signed).
    A signature over the bare bytes (the legacy form) is accepted only with
    ``legacy=True``, with a warning. Raises :class:`PolicyConfigError` otherwise.
    """
    keys = (
        [trusted(public_key, ENV_POLICY_PUBLIC_KEY)]
        if isinstance(public_key, Ed25519PublicKey)
        else list(public_key)
    )
    raw = _decode_signature(sig_file, source)
    signer = _first_verifying(keys, raw, CONTEXT + data)
    if signer is not None:
        return Verification(key_id=signer.key_id, key_source=signer.source, form=FORM_CONTEXT)
    signer = _first_verifying(keys, raw, data)
    if signer is not None:
        if not legacy:
            raise PolicyConfigError(
                "the policy signature is in the legacy form",
                found=f"{source}: signed by {signer.key_id} over the bare file bytes, "
                "without the securebedrock-policy-v1 context string",
                expected="a signature over the context string and the file "
                "(what `securebedrock policy sign` writes)",
                fix="re-sign the file with "
                "`securebedrock policy sign --policy-file FILE --private-key KEY`; "
                f"while migrating a fleet, {ENV_ALLOW_LEGACY_SIGNATURES}=1 admits the old form",
            )
        _log.warning(
            "securebedrock: %s carries a legacy policy signature (no context string); "
            "re-sign it with `securebedrock policy sign` and unset %s",
            source,
            ENV_ALLOW_LEGACY_SIGNATURES,
        )
        return Verification(key_id=signer.key_id, key_source=signer.source, form=FORM_LEGACY)
    sources = sorted({item.source for item in keys})
    raise PolicyConfigError(
        "the policy signature does not verify",
        found=f"{source}: the file was changed after signing, or signed by another key",
        expected="a signature by "
        + ("the key" if len(keys) == 1 else f"one of the {len(keys)} keys")
        + f" in {', '.join(sources)}",
        fix="restore the signed file, or re-sign it with the organisation's key "
        "(`securebedrock policy sign --policy-file FILE --private-key KEY`)",
    ) from None


def read_bytes(path: Path, what: str, fix: str = "check the path and its permissions") -> bytes:
    """The file's bytes, or a PolicyConfigError naming ``what`` could not be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PolicyConfigError(
            f"cannot read the {what}",
            found=f"{path}: {exc.strerror or exc}",
            expected=f"a readable {what}",
            fix=fix,
        ) from None


def read_verified(path: str | Path, public_key: Ed25519PublicKey | None) -> bytes:
    """Read a policy file once and, when ``public_key`` is given, verify those bytes.

    Returns the bytes to parse: exactly the bytes that were verified.
    """
    return read_verified_by(
        path, None if public_key is None else [trusted(public_key, ENV_POLICY_PUBLIC_KEY)]
    )[0]


def read_verified_by(
    path: str | Path, keys: Sequence[TrustedKey] | None, *, legacy: bool = False
) -> tuple[bytes, Verification | None]:
    """Read a policy file once and, when ``keys`` is given, verify those bytes.

    Returns the bytes to parse (exactly the bytes that were verified) and who
    vouched for them (``None`` when no key was asked for).
    """
    file_path = Path(path)
    data = read_bytes(file_path, "policy file")
    if keys is None:
        return data, None
    sig_path = signature_path(file_path)
    try:
        sig = sig_path.read_bytes()
    except FileNotFoundError:
        raise PolicyConfigError(
            "the policy file is not signed",
            found=f"no signature file {sig_path}",
            expected=f"a detached signature {sig_path.name} next to the policy "
            f"(a signature is required: {', '.join(sorted({k.source for k in keys}))})",
            fix=f"sign it: `securebedrock policy sign --policy-file {file_path} --private-key KEY`",
        ) from None
    except OSError as exc:
        raise PolicyConfigError(
            "cannot read the policy signature",
            found=f"{sig_path}: {exc.strerror or exc}",
            expected="a readable signature file",
            fix="check the signature file's permissions",
        ) from None
    return data, verify(data, sig, keys, source=str(file_path), legacy=legacy)


def write_private(path: str | Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only (0600); refuse to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _reason(exc: Exception) -> str:
    # cryptography's messages can be long and multi-line; the first line says it.
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
