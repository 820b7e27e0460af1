"""Discovery: org file precedence, code merge, SECUREBEDROCK_MODE, signatures, caching.

The default org path is monkeypatched (never /etc); the embedded endpoint shows
that an org file really governs what ``securebedrock.client()`` sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import securebedrock
from securebedrock import Policy, PolicyConfigError, PolicyViolation, _discovery, _signing
from securebedrock._policy import GuardrailPolicy, NetworkPolicy, RegionsPolicy, TLSPolicy
from securebedrock.testing import EmbeddedBedrock

ORG = (
    'version = 1\n[tls]\nminimum_version = "1.3"\n[regions]\nallowed = ["us-east-1", "eu-west-1"]\n'
)
LOG_ONLY = 'version = 1\nmode = "log_only"\n'
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (
        "SECUREBEDROCK_POLICY_FILE",
        "SECUREBEDROCK_POLICY_PUBLIC_KEY",
        "SECUREBEDROCK_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_discovery, "DEFAULT_POLICY_FILE", str(tmp_path / "etc-policy.toml"))
    _discovery.clear_cache()
    yield
    _discovery.clear_cache()


@pytest.fixture
def default_path(tmp_path: Path) -> Path:
    return tmp_path / "etc-policy.toml"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- precedence


def test_no_file_anywhere_means_defaults() -> None:
    assert _discovery.effective_policy(None) == Policy.default()


def test_default_path_is_used_when_present(default_path: Path) -> None:
    _write(default_path, ORG)
    assert _discovery.effective_policy(None).tls.minimum_version == "1.3"


def test_env_file_wins_over_the_default_path(
    tmp_path: Path, default_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(default_path, ORG)
    env_file = _write(tmp_path / "env.toml", LOG_ONLY)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(env_file))
    policy = _discovery.effective_policy(None)
    assert policy.mode == "log_only"
    assert policy.tls.minimum_version == "1.2"


@pytest.mark.parametrize("target", ["missing.toml", "a-directory"])
def test_env_file_that_cannot_be_read_fails_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    (tmp_path / "a-directory").mkdir()
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(tmp_path / target))
    with pytest.raises(PolicyConfigError) as info:
        _discovery.effective_policy(None)
    assert target in (info.value.found or "")


def test_empty_env_file_variable_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", "")
    with pytest.raises(PolicyConfigError, match="empty"):
        _discovery.effective_policy(None)


def test_invalid_org_file_fails_closed(default_path: Path) -> None:
    _write(default_path, "version = 1\n[tls]\nminimum_version = '1.0'\n")
    with pytest.raises(PolicyConfigError) as info:
        _discovery.effective_policy(None)
    assert info.value.path == "tls.minimum_version"


def test_code_policy_merges_over_the_org_file(default_path: Path) -> None:
    _write(default_path, ORG)
    code = Policy(
        mode="log_only",
        tls=TLSPolicy(minimum_version="1.2"),
        regions=RegionsPolicy(allowed=("eu-west-1", "ap-south-1")),
    )
    policy = _discovery.effective_policy(code)
    assert policy.tls.minimum_version == "1.3"  # code cannot lower the org floor
    assert policy.mode == "enforce"  # nor switch the org's enforce off
    assert policy.regions.allowed == ("eu-west-1",)  # but it can narrow


def test_code_policy_without_org_file_is_used_as_is() -> None:
    # The defaults are not a floor: code may opt in to what they leave off.
    code = Policy(
        regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)),
        network=NetworkPolicy(allow_proxy=True, allowed_cidrs=("127.0.0.0/8",)),
    )
    assert _discovery.effective_policy(code) is code


def test_an_org_file_that_leaves_a_key_out_means_its_default(default_path: Path) -> None:
    # The file's absent keys are the secure defaults, and they bind the code policy.
    _write(default_path, ORG)
    code = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)))
    assert _discovery.effective_policy(code).regions.cross_region is False


def test_code_guardrail_conflicting_with_the_org_is_an_error(default_path: Path) -> None:
    _write(default_path, 'version = 1\n[guardrail]\nidentifier = "abc"\nversion = "3"\n')
    code = Policy(guardrail=GuardrailPolicy(identifier="xyz", version="1"))
    with pytest.raises(PolicyConfigError) as info:
        _discovery.effective_policy(code)
    assert info.value.path == "guardrail.identifier"


def test_a_non_policy_is_refused() -> None:
    with pytest.raises(PolicyConfigError):
        _discovery.effective_policy({"mode": "log_only"})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- SECUREBEDROCK_MODE


def test_env_enforce_tightens_a_log_only_file(
    default_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(default_path, LOG_ONLY)
    assert _discovery.effective_policy(None).mode == "log_only"
    monkeypatch.setenv("SECUREBEDROCK_MODE", "enforce")
    assert _discovery.effective_policy(None).mode == "enforce"


def test_env_log_only_never_loosens_enforce(
    default_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_MODE", "log_only")
    with pytest.raises(PolicyConfigError) as info:
        _discovery.effective_policy(None)  # the defaults enforce
    assert "SECUREBEDROCK_MODE=log_only" in (info.value.found or "")
    _write(default_path, ORG)
    with pytest.raises(PolicyConfigError):
        _discovery.effective_policy(None)
    _write(default_path, LOG_ONLY)
    _discovery.clear_cache()
    with pytest.raises(PolicyConfigError):
        _discovery.effective_policy(Policy(mode="enforce"))  # code enforces


def test_env_log_only_over_a_log_only_policy_is_a_no_op(
    default_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(default_path, LOG_ONLY)
    monkeypatch.setenv("SECUREBEDROCK_MODE", "log_only")
    assert _discovery.effective_policy(None).mode == "log_only"


@pytest.mark.parametrize("value", ["", "ENFORCE", "log-only", "off", "dry_run"])
def test_other_env_modes_are_errors(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SECUREBEDROCK_MODE", value)
    with pytest.raises(PolicyConfigError) as info:
        _discovery.effective_policy(None)
    assert repr(value) in (info.value.found or "")


# --------------------------------------------------------------------------- signatures


@pytest.fixture
def signed_org(default_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, bytes]:
    """The org file at the default path, signed; the public key in the environment."""
    private_pem, public_pem = _signing.generate_keypair()
    data = ORG.encode()
    default_path.write_bytes(data)
    key = _signing.load_private_key(private_pem)
    _signing.signature_path(default_path).write_bytes(_signing.sign(data, key))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", public_pem.decode())
    return default_path, private_pem


def test_signed_org_file_is_accepted(signed_org: tuple[Path, bytes]) -> None:
    assert _discovery.effective_policy(None).tls.minimum_version == "1.3"


def test_public_key_as_a_path(
    signed_org: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    pem = tmp_path / "org.pub"
    pem.write_text(os.environ["SECUREBEDROCK_POLICY_PUBLIC_KEY"])
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(pem))
    assert _discovery.effective_policy(None).tls.minimum_version == "1.3"


def test_tampered_org_file_is_refused(signed_org: tuple[Path, bytes]) -> None:
    path, _ = signed_org
    data = bytearray(path.read_bytes())
    data[data.index(b"1.3") + 2] = ord("2")  # 1.3 -> 1.2: the loosening an attacker wants
    path.write_bytes(bytes(data))
    with pytest.raises(PolicyConfigError, match="does not verify"):
        _discovery.effective_policy(None)


def test_tampering_after_a_cached_load_is_still_refused(signed_org: tuple[Path, bytes]) -> None:
    path, _ = signed_org
    assert _discovery.effective_policy(None).tls.minimum_version == "1.3"
    path.write_bytes(path.read_bytes().replace(b"1.3", b"1.2") + b"# padding\n")
    with pytest.raises(PolicyConfigError, match="does not verify"):
        _discovery.effective_policy(None)


def test_org_file_signed_by_another_key_is_refused(signed_org: tuple[Path, bytes]) -> None:
    path, _ = signed_org
    other, _ = _signing.generate_keypair()
    sig = _signing.sign(path.read_bytes(), _signing.load_private_key(other))
    _signing.signature_path(path).write_bytes(sig)
    with pytest.raises(PolicyConfigError, match="does not verify"):
        _discovery.effective_policy(None)


def test_missing_signature_is_refused(signed_org: tuple[Path, bytes]) -> None:
    path, _ = signed_org
    _signing.signature_path(path).unlink()
    with pytest.raises(PolicyConfigError, match="not signed"):
        _discovery.effective_policy(None)


@pytest.mark.parametrize(
    "key",
    ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", ""],
)
def test_bad_public_key_is_refused(
    signed_org: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", key)
    with pytest.raises(PolicyConfigError):
        _discovery.effective_policy(None)


def test_public_key_without_any_policy_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _, public_pem = _signing.generate_keypair()
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", public_pem.decode())
    with pytest.raises(PolicyConfigError, match="no policy file"):
        _discovery.effective_policy(None)


# --------------------------------------------------------------------------- read once


def test_file_is_read_once_and_verified_bytes_are_parsed(
    signed_org: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    parsed: list[bytes] = []
    real_read = Path.read_bytes
    real_from_bytes = Policy.from_bytes.__func__  # type: ignore[attr-defined]

    def counting_read(self: Path) -> bytes:
        reads.append(self.name)
        return real_read(self)

    def recording_from_bytes(cls: type[Policy], data: bytes, *, source: str = "") -> Policy:
        parsed.append(data)
        return real_from_bytes(cls, data, source=source)  # type: ignore[no-any-return]

    monkeypatch.setattr(Path, "read_bytes", counting_read)
    monkeypatch.setattr(Policy, "from_bytes", classmethod(recording_from_bytes))
    path, _ = signed_org
    for _ in range(5):
        _discovery.effective_policy(None)
    # One read of the policy and one of its signature, whatever the number of clients.
    assert reads.count(path.name) == 1
    assert reads.count(path.name + ".sig") == 1
    assert parsed == [ORG.encode()]


def test_an_edited_file_is_read_again(default_path: Path) -> None:
    _write(default_path, ORG)
    assert _discovery.effective_policy(None).mode == "enforce"
    _write(default_path, LOG_ONLY + "# a longer file\n")
    assert _discovery.effective_policy(None).mode == "log_only"


# --------------------------------------------------------------------------- explain


def test_explain_names_the_source_of_each_value(
    default_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(default_path, 'version = 1\nmode = "log_only"\n[tls]\nminimum_version = "1.2"\n')
    monkeypatch.setenv("SECUREBEDROCK_MODE", "enforce")
    # (A code policy's own mode counts too: Policy() would already enforce.)
    code = Policy(mode="log_only", regions=RegionsPolicy(allowed=("us-east-1",)))
    explanation = _discovery.explain(code)
    org = f"org file ({default_path})"
    assert explanation.policy == _discovery.effective_policy(code)
    assert [layer.source for layer in explanation.layers] == [
        "default",
        org,
        "code",
        "environment (SECUREBEDROCK_MODE)",
    ]
    sources = explanation.sources
    assert sources["mode"] == "environment (SECUREBEDROCK_MODE)"
    assert sources["tls.minimum_version"] == org  # written in the file, equal to the default
    assert sources["regions.allowed"] == "code"
    assert sources["tls.fips"] == "default"
    # Provenance never leaks into the policy: equal policies compare equal.
    assert explanation.policy == Policy.default().merge(code).merge(Policy(mode="enforce"))


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def org_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    def install(text: str) -> Path:
        path = _write(tmp_path / "org.toml", text)
        monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))
        return path

    return install


MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]


def test_client_enforces_the_org_file(bedrock: EmbeddedBedrock) -> None:
    with bedrock.org_policy(Policy.from_toml('version = 1\n[models]\ndeny = ["anthropic.*"]\n')):
        client = securebedrock.client(**bedrock.client_kwargs())
    with pytest.raises(PolicyViolation) as info:
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert info.value.rule == "model.not_allowed"
    assert bedrock.requests == []


def test_code_policy_cannot_loosen_the_org_file(bedrock: EmbeddedBedrock) -> None:
    loose = Policy.from_toml('version = 1\n[models]\nallow = ["anthropic.*", "amazon.*"]\n')
    with bedrock.org_policy(Policy.from_toml('version = 1\n[models]\nallow = ["amazon.*"]\n')):
        client = securebedrock.client(**bedrock.client_kwargs(), policy=loose)
    with pytest.raises(PolicyViolation):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 0


def test_client_construction_fails_closed_on_a_missing_org_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(tmp_path / "gone.toml"))
    with pytest.raises(PolicyConfigError):
        securebedrock.client(region_name="us-east-1")
    with pytest.raises(PolicyConfigError):
        securebedrock.Session(region_name="us-east-1")


def test_allowed_call_reaches_the_server_under_the_org_file(bedrock: EmbeddedBedrock) -> None:
    org = Policy.from_toml('version = 1\n[models]\nallow = ["anthropic.claude-3-*"]\n')
    with bedrock.org_policy(org):
        client = securebedrock.client(**bedrock.client_kwargs())
    assert client._securebedrock_state.policy.models.allow == ("anthropic.claude-3-*",)
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 1
