"""Ed25519 detached signatures over policy files: format, tampering, bad keys."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from securebedrock import PolicyConfigError
from securebedrock._signing import (
    generate_keypair,
    load_private_key,
    load_public_key,
    read_verified,
    sign,
    signature_path,
    verify,
    write_private,
)

POLICY = b'version = 1\n[tls]\nminimum_version = "1.3"\n'


@pytest.fixture
def keys() -> tuple[bytes, bytes]:
    return generate_keypair()


@pytest.fixture
def signed(tmp_path: Path, keys: tuple[bytes, bytes]) -> Path:
    path = tmp_path / "policy.toml"
    path.write_bytes(POLICY)
    signature_path(path).write_bytes(sign(POLICY, load_private_key(keys[0])))
    return path


def test_signature_file_format_is_base64_of_64_raw_bytes(keys: tuple[bytes, bytes]) -> None:
    sig = sign(POLICY, load_private_key(keys[0]))
    assert sig.endswith(b"\n") and sig.count(b"\n") == 1
    raw = base64.b64decode(sig.strip(), validate=True)
    assert len(raw) == 64
    # Plain Ed25519 over the context string, then the exact bytes: any Ed25519
    # library verifies it.
    public = serialization.load_pem_public_key(keys[1])
    public.verify(raw, b"securebedrock-policy-v1\n" + POLICY)  # type: ignore[union-attr, call-arg]


def test_signature_path_is_file_dot_sig(tmp_path: Path) -> None:
    assert signature_path(tmp_path / "p.toml") == tmp_path / "p.toml.sig"


def test_good_signature_verifies_and_returns_the_bytes(
    signed: Path, keys: tuple[bytes, bytes]
) -> None:
    assert read_verified(signed, load_public_key(keys[1].decode())) == POLICY


def test_every_single_byte_flip_is_refused(signed: Path, keys: tuple[bytes, bytes]) -> None:
    public = load_public_key(keys[1].decode())
    sig = signature_path(signed).read_bytes()
    for index in range(len(POLICY)):
        tampered = bytearray(POLICY)
        tampered[index] ^= 0x01
        with pytest.raises(PolicyConfigError, match="does not verify"):
            verify(bytes(tampered), sig, public)


def test_tampered_file_is_refused(signed: Path, keys: tuple[bytes, bytes]) -> None:
    data = bytearray(signed.read_bytes())
    data[-2] ^= 0x20
    signed.write_bytes(bytes(data))
    with pytest.raises(PolicyConfigError) as info:
        read_verified(signed, load_public_key(keys[1].decode()))
    assert str(signed) in (info.value.found or "")
    assert info.value.fix


def test_tampered_signature_is_refused(signed: Path, keys: tuple[bytes, bytes]) -> None:
    raw = bytearray(base64.b64decode(signature_path(signed).read_bytes()))
    raw[0] ^= 0x01
    signature_path(signed).write_bytes(base64.b64encode(bytes(raw)))
    with pytest.raises(PolicyConfigError, match="does not verify"):
        read_verified(signed, load_public_key(keys[1].decode()))


def test_signature_by_another_key_is_refused(signed: Path) -> None:
    other_private, other_public = generate_keypair()
    with pytest.raises(PolicyConfigError, match="does not verify"):
        read_verified(signed, load_public_key(other_public.decode()))
    signature_path(signed).write_bytes(sign(POLICY, load_private_key(other_private)))
    assert read_verified(signed, load_public_key(other_public.decode())) == POLICY


def test_missing_signature_is_refused(signed: Path, keys: tuple[bytes, bytes]) -> None:
    signature_path(signed).unlink()
    with pytest.raises(PolicyConfigError, match="not signed") as info:
        read_verified(signed, load_public_key(keys[1].decode()))
    assert "policy sign" in (info.value.fix or "")


@pytest.mark.parametrize(
    "content",
    [b"", b"not base64!!", base64.b64encode(b"x" * 63), base64.b64encode(b"x" * 65), b"AAAA"],
)
def test_malformed_signature_is_refused(
    signed: Path, keys: tuple[bytes, bytes], content: bytes
) -> None:
    signature_path(signed).write_bytes(content)
    with pytest.raises(PolicyConfigError, match="malformed"):
        read_verified(signed, load_public_key(keys[1].decode()))


def test_no_public_key_means_no_signature_check(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(POLICY)
    assert read_verified(path, None) == POLICY


def test_public_key_from_a_pem_file_path(tmp_path: Path, keys: tuple[bytes, bytes]) -> None:
    pem = tmp_path / "org.pub"
    pem.write_bytes(keys[1])
    key = load_public_key(str(pem))
    assert key.public_bytes_raw() == load_public_key(keys[1].decode()).public_bytes_raw()


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/nonexistent/org.pub", "cannot read"),
        ("-----BEGIN PUBLIC KEY-----\nnotakey\n-----END PUBLIC KEY-----\n", "does not parse"),
    ],
)
def test_bad_public_keys_are_refused(value: str, match: str) -> None:
    with pytest.raises(PolicyConfigError, match=match):
        load_public_key(value)


def test_non_ed25519_public_key_is_refused() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(PolicyConfigError, match="not an Ed25519"):
        load_public_key(pem.decode())


def test_private_key_as_public_key_is_refused(keys: tuple[bytes, bytes]) -> None:
    with pytest.raises(PolicyConfigError, match="does not parse"):
        load_public_key(keys[0].decode())


def test_bad_private_keys_are_refused(keys: tuple[bytes, bytes]) -> None:
    with pytest.raises(PolicyConfigError, match="cannot read"):
        load_private_key(keys[1])
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(PolicyConfigError, match="not an Ed25519"):
        load_private_key(ec_pem)


def test_write_private_is_0600_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_private(path, b"secret")
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        write_private(path, b"other")
    assert path.read_bytes() == b"secret"
