"""Signed policy releases: serials that cannot be rolled back, expiry, the trust anchor.

End to end through the public API (a secured client against the embedded
endpoint: the server receives nothing when the policy is refused) and through
the CLI (``policy show``/``verify``/``validate``, ``doctor``), in this process
and in new ones.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _telemetry_helpers import make_otel
from botocore.client import BaseClient
from conftest import GUARDRAIL, MODEL_ID

import securebedrock
from securebedrock import PolicyConfigError, _discovery, _rollback, _trust
from securebedrock._cli import main
from securebedrock._signing import generate_keypair, load_private_key, sign, signature_path
from securebedrock.testing import EmbeddedBedrock

FUTURE = "2099-01-01T00:00:00Z"
PAST = "2001-01-01T00:00:00Z"


class Keys:
    """A key pair on disk."""

    def __init__(self, directory: Path, name: str) -> None:
        private, public = generate_keypair()
        self.private = directory / f"{name}.key"
        self.public = directory / f"{name}.pub"
        self.private.write_bytes(private)
        self.public.write_bytes(public)
        self.private_pem = private
        self.public_pem = public


@pytest.fixture
def org_key(tmp_path: Path) -> Keys:
    return Keys(tmp_path, "org")


@pytest.fixture
def attacker_key(tmp_path: Path) -> Keys:
    return Keys(tmp_path, "attacker")


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "state"
    monkeypatch.setenv("SECUREBEDROCK_STATE_DIR", str(directory))
    return directory


def install_anchor(path: Path, monkeypatch: pytest.MonkeyPatch, *keys: Keys) -> Path:
    """Write the trust anchor with ``keys`` and point the library at it (tests only)."""
    path.write_bytes(b"".join(k.public_pem for k in keys))
    path.chmod(0o644)
    monkeypatch.setattr(_trust, "TRUSTED_KEYS_FILE", str(path))
    return path


def release_text(
    server: EmbeddedBedrock, serial: int, *, mode: str = "enforce", expires: str = FUTURE
) -> str:
    return (
        f'version = 1\nmode = "{mode}"\n\n'
        f'[release]\nid = "acme-{serial}"\nserial = {serial}\nexpires = {expires}\n\n'
        f'[guardrail]\nidentifier = "{GUARDRAIL.identifier}"\nversion = "{GUARDRAIL.version}"\n\n'
        f'[network]\nendpoint_url = "{server.endpoint_url}"\n'
    )


def write_signed(path: Path, text: str, key: Keys | None) -> Path:
    path.write_text(text)
    path.chmod(0o644)
    if key is not None:
        signature_path(path).write_bytes(sign(path.read_bytes(), load_private_key(key.private_pem)))
    return path


def converse(client: BaseClient) -> dict[str, Any]:
    return client.converse(  # type: ignore[attr-defined,no-any-return]
        modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "hello"}]}]
    )


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECUREBEDROCK_")}
    env.update(extra)
    return env


# --------------------------------------------------------------------------- rollback


def test_older_signed_release_is_refused_after_a_newer_one_was_accepted(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    policy = etc / "policy.toml"
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(org_key.public))
    # Keep the older, log-only release around, as an attacker would.
    old = write_signed(tmp_path / "old.toml", release_text(bedrock, 7, mode="log_only"), org_key)

    write_signed(policy, release_text(bedrock, 8), org_key)
    client = secured_client()
    converse(client)
    assert bedrock.requests[-1].json["guardrailConfig"]["guardrailIdentifier"] == "gr1abc2def3g"
    assert json.loads((state_dir / "policy-release.json").read_text())["serial"] == 8

    # Copy the older, validly signed release back onto the host.
    policy.write_bytes(old.read_bytes())
    signature_path(policy).write_bytes(signature_path(old).read_bytes())
    sent = len(bedrock.requests)
    for fresh_cache in (False, True):
        if fresh_cache:
            _discovery.clear_cache()  # as a new process would start
        with pytest.raises(PolicyConfigError, match="rollback") as info:
            secured_client()
        assert info.value.path == "release.serial"
        assert "serial 7" in (info.value.found or "") and "serial 8" in (info.value.found or "")
    assert len(bedrock.requests) == sent  # nothing was sent under the old release

    # A new process (the CLI in a subprocess) refuses it too.
    env = subprocess_env(
        SECUREBEDROCK_POLICY_FILE=str(policy),
        SECUREBEDROCK_POLICY_PUBLIC_KEY=str(org_key.public),
        SECUREBEDROCK_STATE_DIR=str(state_dir),
    )
    done = subprocess.run(
        [sys.executable, "-m", "securebedrock", "policy", "show"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "rollback" in done.stderr and "serial 8" in done.stderr

    # The next release (a higher serial) is accepted again.
    write_signed(policy, release_text(bedrock, 9), org_key)
    converse(secured_client())
    assert json.loads((state_dir / "policy-release.json").read_text())["serial"] == 9


def test_the_mark_is_per_host_not_per_key(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rotating the signing key does not reset rollback protection."""
    new_key = Keys(tmp_path, "new")
    install_anchor(tmp_path / "trusted_keys.pem", monkeypatch, org_key, new_key)
    policy = tmp_path / "policy.toml"
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    write_signed(policy, release_text(bedrock, 5), org_key)
    secured_client()
    write_signed(policy, release_text(bedrock, 4), new_key)  # old serial, new key
    with pytest.raises(PolicyConfigError, match="rollback"):
        secured_client()


def test_unsigned_release_is_checked_against_the_mark_but_never_raises_it(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _rollback.raise_mark(state_dir, 10, "acme-10")
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 9), None)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    with pytest.raises(PolicyConfigError, match="rollback"):
        secured_client()
    write_signed(policy, release_text(bedrock, 999), None)
    secured_client()
    # An unsigned file's serial proves nothing: recording it would lock out real releases.
    assert _rollback.read_mark(state_dir) == _rollback.Mark(serial=10, release="acme-10")


def test_unreadable_state_refuses_a_release(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state_dir.mkdir()
    (state_dir / "policy-release.json").write_text("{not json")
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 3), org_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(org_key.public))
    with pytest.raises(PolicyConfigError, match="cannot read the policy release state"):
        secured_client()
    # A policy without [release] does not depend on the state.
    write_signed(policy, release_text(bedrock, 3).split("[release]")[0] + "\n", org_key)
    policy.write_text(policy.read_text() + f'[network]\nendpoint_url = "{bedrock.endpoint_url}"\n')
    write_signed(policy, policy.read_text(), org_key)
    secured_client()


def test_unwritable_state_accepts_with_a_warning_and_doctor_says_so(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    # (Tests run as root, which may write anywhere: simulate a read-only directory.)
    monkeypatch.setattr(_rollback, "raise_mark", read_only)
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 3), org_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(org_key.public))
    with caplog.at_level(logging.WARNING, logger="securebedrock.policy"):
        converse(secured_client())
    assert "rollback protection is not active" in caplog.text
    explanation = _discovery.explain()
    org = explanation.layers[1].verification
    assert org is not None and org.serial is not None and not org.serial.recorded


# --------------------------------------------------------------------------- expiry


@pytest.mark.parametrize("signed", [True, False])
def test_expired_release_is_refused_signed_or_not(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signed: bool,
) -> None:
    text = release_text(bedrock, 2, expires=PAST)
    policy = write_signed(tmp_path / "policy.toml", text, org_key if signed else None)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    if signed:
        monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(org_key.public))
    with pytest.raises(PolicyConfigError, match="expired") as info:
        secured_client()
    assert info.value.path == "release.expires"
    found = info.value.found or ""
    assert "expires 2001-01-01T00:00:00Z" in found and "now 20" in found
    assert bedrock.requests == []
    # The CLI refuses it too, and never signs an expired file.
    assert main(["policy", "validate", "--policy-file", str(policy)]) == 1
    assert (
        main(
            ["policy", "sign", "--policy-file", str(policy), "--private-key", str(org_key.private)]
        )
        == 1
    )
    assert main(["policy", "show"]) == 1
    assert "has expired" in capsys.readouterr().err


def test_expiry_needs_an_offset() -> None:
    with pytest.raises(PolicyConfigError, match="UTC offset"):
        securebedrock.Policy.from_toml(
            "version = 1\n[release]\nserial = 1\nexpires = 2099-01-01T00:00:00\n"
        )
    with pytest.raises(PolicyConfigError, match="offset datetime"):
        securebedrock.Policy.from_toml("version = 1\n[release]\nserial = 1\nexpires = 2099-01-01\n")


# --------------------------------------------------------------------------- release schema


@pytest.mark.parametrize(
    ("table", "path"),
    [
        ("serial = -1", "release.serial"),
        ("serial = 1.5", "release.serial"),
        ('serial = "7"', "release.serial"),
        ("serial = true", "release.serial"),
        ('id = "x"', "release.serial"),  # serial is required
        ('serial = 1\nid = "' + "x" * 129 + '"', "release.id"),
        ('serial = 1\nid = "a\\u0007b"', "release.id"),
        ("serial = 1\nversion = 2", "release.version"),
    ],
)
def test_release_schema_errors_name_the_key(table: str, path: str) -> None:
    with pytest.raises(PolicyConfigError) as info:
        securebedrock.Policy.from_toml(f"version = 1\n[release]\n{table}\n")
    assert info.value.path == path


def test_release_round_trips_and_is_not_in_the_digest() -> None:
    text = 'version = 1\n[release]\nid = "r 1"\nserial = 3\nexpires = 2099-03-01T01:00:00+01:00\n'
    policy = securebedrock.Policy.from_toml(text)
    assert policy.release is not None
    assert policy.release.expires == datetime.datetime(2099, 3, 1, tzinfo=datetime.timezone.utc)
    assert securebedrock.Policy.from_toml(policy.to_toml()) == policy
    assert securebedrock.Policy.from_dict(policy.to_dict()) == policy
    # The digest names the rules; spans carry the release beside it.
    assert policy.digest == securebedrock.Policy.default().digest
    assert policy.merge(securebedrock.Policy.default()).release == policy.release


def test_a_code_policy_cannot_carry_a_release(bedrock: EmbeddedBedrock) -> None:
    code = securebedrock.Policy.from_toml("version = 1\n[release]\nserial = 1\n")
    with pytest.raises(PolicyConfigError, match="code policy cannot carry") as info:
        securebedrock.client(**bedrock.client_kwargs(), policy=code)
    assert info.value.path == "release"


# --------------------------------------------------------------------------- trust anchor


@pytest.mark.parametrize("environment", ["key unset", "attacker key", "env points elsewhere"])
def test_anchor_refuses_unsigned_or_wrongly_signed_whatever_the_environment(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    attacker_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    environment: str,
) -> None:
    install_anchor(tmp_path / "trusted_keys.pem", monkeypatch, org_key)
    # The host's own policy: signed by the org, at the default path.
    etc_policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 1), org_key)
    monkeypatch.setattr(_discovery, "DEFAULT_POLICY_FILE", str(etc_policy))
    converse(secured_client())
    sent = len(bedrock.requests)

    permissive = (
        f'version = 1\nmode = "log_only"\n[network]\nendpoint_url = "{bedrock.endpoint_url}"\n'
    )
    unsigned = write_signed(tmp_path / "mine.toml", permissive, None)
    attacker_signed = write_signed(tmp_path / "theirs.toml", permissive, attacker_key)
    if environment == "key unset":
        monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(unsigned))
        expected = "not signed"
    elif environment == "attacker key":
        monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(attacker_signed))
        monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(attacker_key.public))
        expected = "does not verify"
    else:
        # Even a file signed by the env's key, with the org file still in place.
        monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(attacker_signed))
        monkeypatch.setenv(
            "SECUREBEDROCK_POLICY_PUBLIC_KEY", attacker_key.public_pem.decode("ascii")
        )
        expected = "does not verify"
    with caplog.at_level(logging.WARNING, logger="securebedrock.policy"):
        with pytest.raises(PolicyConfigError, match=expected):
            secured_client()
    if "SECUREBEDROCK_POLICY_PUBLIC_KEY" in os.environ:
        assert "SECUREBEDROCK_POLICY_PUBLIC_KEY is ignored" in caplog.text
    assert len(bedrock.requests) == sent
    # The CLI views of the host refuse it as a client would.
    assert main(["policy", "show"]) == 1
    assert main(["policy", "show", "--policy-file", str(unsigned)]) == 1
    assert main(["policy", "verify", "--policy-file", str(attacker_signed)]) == 1
    capsys.readouterr()


def test_anchor_without_a_policy_file_is_an_error(
    tmp_path: Path, org_key: Keys, monkeypatch: pytest.MonkeyPatch, bedrock: EmbeddedBedrock
) -> None:
    install_anchor(tmp_path / "trusted_keys.pem", monkeypatch, org_key)
    with pytest.raises(PolicyConfigError, match="no policy file") as info:
        securebedrock.client(**bedrock.client_kwargs())
    assert "trust anchor" in (info.value.found or "")


def test_second_key_in_the_anchor_is_accepted(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    new_key = Keys(tmp_path, "next")
    anchor = install_anchor(tmp_path / "trusted_keys.pem", monkeypatch, org_key, new_key)
    anchor.write_bytes(b"# old key\n" + org_key.public_pem + b"\n# next key\n" + new_key.public_pem)
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 1), new_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    converse(secured_client())
    assert bedrock.requests[-1].json["guardrailConfig"]["guardrailIdentifier"] == "gr1abc2def3g"
    new_id = _trust.key_id(load_private_key(new_key.private_pem).public_key())

    assert main(["policy", "show"]) == 0
    out = capsys.readouterr().out
    assert f"# verified by: key {new_id} (trust anchor {anchor})" in out
    assert '# release: release "acme-1" serial 1, expires 2099-01-01T00:00:00Z' in out
    assert main(["policy", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["signature"]["key_id"] == new_id
    assert shown["release"] == {"id": "acme-1", "serial": 1, "expires": "2099-01-01T00:00:00Z"}
    assert shown["release_state"]["highest_accepted"] == 1
    # `policy verify` defaults to the anchor, and names the key.
    assert main(["policy", "verify", "--policy-file", str(policy)]) == 0
    assert new_id in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "holds no key"),
        (b"# keys go here\n", "holds no key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "does not parse"),
    ],
)
def test_anchor_without_a_valid_key_is_an_error_never_no_keys(
    bedrock: EmbeddedBedrock,
    tmp_path: Path,
    org_key: Keys,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes,
    message: str,
) -> None:
    anchor = install_anchor(tmp_path / "trusted_keys.pem", monkeypatch)
    anchor.write_bytes(content)
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 1), org_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    with pytest.raises(PolicyConfigError, match=message):
        securebedrock.client(**bedrock.client_kwargs())
    # One good key next to a broken block is still refused: fix the anchor.
    anchor.write_bytes(org_key.public_pem + content)
    if content.strip() and b"BEGIN" in content:
        with pytest.raises(PolicyConfigError, match=message):
            securebedrock.client(**bedrock.client_kwargs())


def test_anchor_with_a_non_ed25519_key_is_an_error(
    bedrock: EmbeddedBedrock, tmp_path: Path, org_key: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    anchor = install_anchor(tmp_path / "trusted_keys.pem", monkeypatch, org_key)
    anchor.write_bytes(org_key.public_pem + ec_public)
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 1), org_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    with pytest.raises(PolicyConfigError, match="not an Ed25519 key"):
        securebedrock.client(**bedrock.client_kwargs())


def test_writable_anchor_or_policy_fails_doctor_and_the_anchor_refuses_clients(
    bedrock: EmbeddedBedrock,
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    anchor = install_anchor(tmp_path / "trusted_keys.pem", monkeypatch, org_key)
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 1), org_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    args = ["doctor", "--region", "us-east-1", "--ca-bundle", bedrock.ca_bundle, "--json"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bedrock.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bedrock.secret_key)

    assert main(args) == 0
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["policy"]["status"] == "PASS"
    assert "signature verified by key ed25519:" in checks["policy"]["detail"]
    assert 'release "acme-1" serial 1, expires 2099-01-01T00:00:00Z' in checks["policy"]["detail"]
    assert checks["policy.release"]["status"] == "PASS"
    assert checks["policy.files"]["status"] == "PASS"

    policy.chmod(0o666)
    assert main(args) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["policy.files"]["status"] == "FAIL"
    assert "writable by group or others (mode 0666)" in checks["policy.files"]["detail"]
    policy.chmod(0o644)

    anchor.chmod(0o664)
    with pytest.raises(PolicyConfigError, match="trust anchor is writable by others"):
        securebedrock.client(**bedrock.client_kwargs())
    assert main(args) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["policy.files"]["status"] == "FAIL"
    assert checks["policy"]["status"] == "FAIL"


# --------------------------------------------------------------------------- signature context


def test_a_raw_signature_over_the_bytes_is_not_a_policy_signature(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    private = load_private_key(org_key.private_pem)
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 1), None)
    data = policy.read_bytes()
    # A signature the same key made over the bare bytes (another protocol, or the
    # legacy form) is refused, and the error says which form it is.
    signature_path(policy).write_bytes(base64.b64encode(private.sign(data)) + b"\n")
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(org_key.public))
    with pytest.raises(PolicyConfigError, match="legacy form"):
        secured_client()
    assert (
        main(
            ["policy", "verify", "--policy-file", str(policy), "--public-key", str(org_key.public)]
        )
        == 1
    )
    assert "legacy form" in capsys.readouterr().err
    # The migration switch admits it, with a warning.
    monkeypatch.setenv("SECUREBEDROCK_ALLOW_LEGACY_SIGNATURES", "1")
    with caplog.at_level(logging.WARNING, logger="securebedrock.policy"):
        secured_client()
    assert "legacy policy signature" in caplog.text
    assert (
        main(
            ["policy", "verify", "--policy-file", str(policy), "--public-key", str(org_key.public)]
        )
        == 0
    )
    assert "legacy signature form: re-sign" in capsys.readouterr().out
    monkeypatch.delenv("SECUREBEDROCK_ALLOW_LEGACY_SIGNATURES")
    # A signature over other bytes that happen to follow the context is never one.
    signature_path(policy).write_bytes(base64.b64encode(private.sign(b"other" + data)) + b"\n")
    with pytest.raises(PolicyConfigError, match="does not verify"):
        secured_client()
    # And a policy signature does not verify as a plain signature over the file.
    from cryptography.exceptions import InvalidSignature

    raw = base64.b64decode(sign(data, private))
    with pytest.raises(InvalidSignature):
        private.public_key().verify(raw, data)
    private.public_key().verify(raw, b"securebedrock-policy-v1\n" + data)


def test_legacy_switch_rejects_unknown_values(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_ALLOW_LEGACY_SIGNATURES", "maybe")
    with pytest.raises(
        PolicyConfigError, match=r"\[SECUREBEDROCK_ALLOW_LEGACY_SIGNATURES\] unsupported value"
    ):
        securebedrock.client(**bedrock.client_kwargs())


# --------------------------------------------------------------------------- state writers


_WRITER = """
import sys
from pathlib import Path
from securebedrock import _rollback
directory, serials = Path(sys.argv[1]), [int(s) for s in sys.argv[2].split(",")]
for serial in serials:
    mark = _rollback.raise_mark(directory, serial, f"r{serial}")
    assert mark.serial >= serial, (mark, serial)
"""


@pytest.mark.slow
def test_concurrent_state_writers_leave_the_highest_mark(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    writers = []
    for worker in range(6):
        serials = [(i * 7 + worker * 13) % 200 for i in range(60)]
        writers.append(
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(directory), ",".join(map(str, serials))]
            )
        )
    expected = max((i * 7 + w * 13) % 200 for w in range(6) for i in range(60))
    assert [w.wait(timeout=120) for w in writers] == [0] * 6
    assert _rollback.read_mark(directory) == _rollback.Mark(serial=expected, release=f"r{expected}")
    # No temporary file is left behind, and a lower serial never lowers the mark.
    assert sorted(p.name for p in directory.iterdir()) == [
        "policy-release.json",
        "policy-release.lock",
    ]
    assert _rollback.raise_mark(directory, 1).serial == expected


# --------------------------------------------------------------------------- telemetry


def test_spans_and_audit_records_carry_the_release(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 12), org_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(org_key.public))
    otel = make_otel()
    client = secured_client(**otel.kwargs())
    with caplog.at_level(logging.INFO, logger="securebedrock.audit"):
        converse(client)
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["securebedrock.policy.release"] == "acme-12"
    assert attributes["securebedrock.policy.serial"] == 12
    assert "securebedrock.policy.digest" in attributes
    record = next(r for r in caplog.records if r.name == "securebedrock.audit")
    fields = record.securebedrock  # type: ignore[attr-defined]
    assert (fields["policy_release"], fields["policy_serial"]) == ("acme-12", 12)


def test_spans_without_a_release_have_no_release_attributes(
    secured_client: Callable[..., BaseClient],
) -> None:
    otel = make_otel()
    converse(secured_client(**otel.kwargs()))
    attributes = dict(otel.only_span().attributes or {})
    assert "securebedrock.policy.release" not in attributes
    assert "securebedrock.policy.serial" not in attributes


def test_previewing_a_newer_release_does_not_lock_out_the_installed_one(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    installed = write_signed(tmp_path / "policy.toml", release_text(bedrock, 3), org_key)
    candidate = write_signed(tmp_path / "next.toml", release_text(bedrock, 4), org_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(installed))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(org_key.public))
    secured_client()
    assert main(["policy", "show", "--policy-file", str(candidate)]) == 0
    assert "never recorded" in capsys.readouterr().out
    # The mark is still the installed release's: the host keeps working.
    assert _rollback.read_mark(state_dir) == _rollback.Mark(serial=3, release="acme-3")
    _discovery.clear_cache()
    converse(secured_client())
    # A preview is still checked against the mark.
    _rollback.raise_mark(state_dir, 5)
    assert main(["policy", "show", "--policy-file", str(candidate)]) == 1
    assert "rollback" in capsys.readouterr().err


def test_empty_state_dir_variable_is_an_error(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    org_key: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 1), org_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(org_key.public))
    monkeypatch.setenv("SECUREBEDROCK_STATE_DIR", " ")
    with pytest.raises(PolicyConfigError, match=r"\[SECUREBEDROCK_STATE_DIR\] set but empty"):
        secured_client()


def test_doctor_fails_on_a_rolled_back_release(
    bedrock: EmbeddedBedrock,
    tmp_path: Path,
    org_key: Keys,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _rollback.raise_mark(state_dir, 6, "acme-6")
    policy = write_signed(tmp_path / "policy.toml", release_text(bedrock, 5), org_key)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(org_key.public))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bedrock.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bedrock.secret_key)
    args = ["doctor", "--region", "us-east-1", "--ca-bundle", bedrock.ca_bundle, "--json"]
    assert main(args) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["policy"]["status"] == "FAIL"
    assert "rollback" in checks["policy"]["detail"]
    assert 'serial 6 ("acme-6")' in checks["policy"]["detail"]
