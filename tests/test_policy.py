"""The policy model: parsing, validation (every key's bad inputs), defaults, digest."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securebedrock import Policy, PolicyConfigError
from securebedrock._policy import (
    GuardrailPolicy,
    KnownProfile,
    ModelsPolicy,
    NetworkPolicy,
    RegionsPolicy,
    TLSPolicy,
    model_pattern_covers,
)

EXAMPLES = sorted((Path(__file__).parent.parent / "examples" / "policies").glob("*.toml"))

DESIGN_EXAMPLE = """
version = 1
mode = "enforce"                 # or "log_only": record violations, send anyway

[tls]
minimum_version = "1.2"          # "1.2" or "1.3"
fips = false

[network]
require_private_endpoint = true
allowed_cidrs = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
endpoint_url = ""
allow_proxy = false

[guardrail]
identifier = "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"
version = "3"
trace = "enabled"

[inference_profile]
required = false
map = { "anthropic.claude-3-5-sonnet-20240620-v1:0" = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1" }

[regions]
allowed = ["us-east-1"]
cross_region = false
allowed_geographies = []

[models]
allow = ["anthropic.claude-*", "amazon.nova-*"]
deny = []

[service_tier]
allowed = ["default", "priority", "flex", "reserved"]

[auth]
allow_api_keys = false

[operations]
allow_without_guardrail = ["CountTokens"]

[audit]
content = "none"
"""  # noqa: E501


def _parse(body: str) -> Policy:
    return Policy.from_toml("version = 1\n" + body)


# --------------------------------------------------------------------------- good inputs


def test_design_example_parses_with_the_file_values() -> None:
    policy = Policy.from_toml(DESIGN_EXAMPLE)
    assert policy.mode == "enforce"
    assert policy.tls.minimum_version == "1.2"
    assert policy.network.require_private_endpoint is True
    assert policy.guardrail.identifier.endswith("guardrail/abc123")
    assert policy.guardrail.guardrail_id == "abc123"
    assert policy.guardrail.mandated
    assert policy.regions.allowed == ("us-east-1",)
    assert policy.models.allow == ("anthropic.claude-*", "amazon.nova-*")
    assert policy.service_tier.allowed == ("default", "priority", "flex", "reserved")
    assert policy.operations.allow_without_guardrail == ("CountTokens",)
    assert isinstance(policy.inference_profile.map, types.MappingProxyType)
    assert policy.auth.allow_api_keys is False


def test_defaults_are_the_documented_secure_defaults() -> None:
    policy = Policy.default()
    assert policy == Policy() == Policy.from_toml("version = 1")
    assert policy.mode == "enforce"
    assert policy.tls == TLSPolicy(minimum_version="1.2", fips=False)
    assert policy.network.require_private_endpoint is False
    assert policy.network.allowed_cidrs == (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    )
    assert policy.network.allow_proxy is False
    assert not policy.guardrail.mandated
    assert policy.inference_profile.required is False
    assert policy.regions.allowed is None
    assert policy.regions.cross_region is False
    assert policy.models.allow is None and policy.models.deny == ()
    assert policy.service_tier.allowed is None
    assert policy.auth.allow_api_keys is True
    assert policy.audit.content == "none"


def test_present_but_empty_means_nothing_is_allowed() -> None:
    policy = _parse("[models]\nallow = []\n[regions]\nallowed = []\n")
    assert policy.models.allow == ()
    assert policy.regions.allowed == ()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_policies_are_valid(path: Path) -> None:
    policy = Policy.from_file(path)
    assert Policy.from_toml(policy.to_toml()) == policy


def test_example_policies_exist() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"strict-regulated.toml", "us-only-cross-region.toml", "log-only-rollout.toml"} <= names


def test_code_construction_is_validated_and_normalised() -> None:
    with pytest.raises(PolicyConfigError) as info:
        Policy(mode="log-only")  # type: ignore[arg-type]
    assert info.value.path == "mode"
    with pytest.raises(PolicyConfigError) as info:
        RegionsPolicy(allowed=["us-east-1", "narnia"])  # type: ignore[arg-type]
    assert info.value.path == "regions.allowed[1]"
    regions = RegionsPolicy(allowed=["us-east-1", "us-east-1"])  # type: ignore[arg-type]
    assert regions.allowed == ("us-east-1",)
    network = NetworkPolicy(allowed_cidrs=["fc00:0::/7"])  # type: ignore[arg-type]
    assert network.allowed_cidrs == ("fc00::/7",)
    with pytest.raises(PolicyConfigError):
        Policy(tls="1.3")  # type: ignore[arg-type]


def test_redundant_model_patterns_are_dropped_without_changing_meaning() -> None:
    models = ModelsPolicy(allow=("anthropic.claude-v2", "anthropic.*", "amazon.nova-*"))
    assert models.allow == ("anthropic.*", "amazon.nova-*")


def test_known_profiles_parse() -> None:
    policy = _parse(
        '[inference_profile.known."arn:aws:bedrock:us-east-1:123456789012:'
        'application-inference-profile/x1"]\n'
        'models = ["arn:aws:bedrock:us-west-2::foundation-model/b.m-v1:0",'
        ' "arn:aws:bedrock:us-east-1::foundation-model/a.m-v1:0"]\n'
    )
    (profile,) = policy.inference_profile.known.values()
    assert isinstance(profile, KnownProfile)
    assert profile.models == (
        "arn:aws:bedrock:us-east-1::foundation-model/a.m-v1:0",
        "arn:aws:bedrock:us-west-2::foundation-model/b.m-v1:0",
    )


@pytest.mark.parametrize(
    "identifier",
    [
        "abc123",
        "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123",
        "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:guardrail/z9",
        "arn:aws-cn:bedrock:cn-north-1:123456789012:guardrail/z9",
    ],
)
def test_good_guardrail_identifiers(identifier: str) -> None:
    assert GuardrailPolicy(identifier=identifier, version="DRAFT").mandated


@pytest.mark.parametrize(
    "profile",
    [
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-v2:1",
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "global.anthropic.claude-sonnet-4-20250514-v1:0",
        "us-gov.anthropic.claude-3-haiku-20240307-v1:0",
        "apac.amazon.nova-pro-v1:0",
    ],
)
def test_good_profile_references(profile: str) -> None:
    policy = _parse(f'[inference_profile]\nmap = {{ "m.x-v1:0" = "{profile}" }}\n')
    assert policy.inference_profile.map["m.x-v1:0"] == profile


def test_endpoint_url_accepts_https_hosts() -> None:
    url = "https://vpce-0abc-xyz.bedrock-runtime.us-east-1.vpce.amazonaws.com:443"
    assert _parse(f'[network]\nendpoint_url = "{url}"\n').network.endpoint_url == url


# --------------------------------------------------------------------------- bad inputs

BAD = [
    # (toml after "version = 1", key path, substring of "found")
    ("mode = 'log-only'", "mode", '"log-only"'),
    ("mode = 'LOG_ONLY'", "mode", "LOG_ONLY"),
    ("mode = 1", "mode", "integer"),
    ("colour = 'red'", "colour", "red"),
    ("[tls]\nminimum_version = '1.1'", "tls.minimum_version", '"1.1"'),
    ("[tls]\nminimum_version = '1.0'", "tls.minimum_version", '"1.0"'),
    ("[tls]\nminimum_version = 1.2", "tls.minimum_version", "float"),
    ("[tls]\nminimum = '1.3'", "tls.minimum", "1.3"),
    ("[tls]\nfips = 'true'", "tls.fips", '"true" (string)'),
    ("[tls]\nfips = 1", "tls.fips", "integer"),
    ("tls = 'strict'", "tls", "string"),
    ("[network]\nrequire_private_endpoint = 'yes'", "network.require_private_endpoint", "yes"),
    ("[network]\nallowed_cidrs = '10.0.0.0/8'", "network.allowed_cidrs", "string"),
    ("[network]\nallowed_cidrs = [10]", "network.allowed_cidrs[0]", "integer"),
    ("[network]\nallowed_cidrs = ['10.0.0.1/8']", "network.allowed_cidrs[0]", "10.0.0.1/8"),
    ("[network]\nallowed_cidrs = ['10.0.0.0/33']", "network.allowed_cidrs[0]", "10.0.0.0/33"),
    ("[network]\nallowed_cidrs = ['ten']", "network.allowed_cidrs[0]", "ten"),
    ("[network]\nendpoint_url = 'http://vpce.example'", "network.endpoint_url", "http://"),
    ("[network]\nendpoint_url = 'https://u:p@h.example'", "network.endpoint_url", "h.example"),
    ("[network]\nendpoint_url = 'https://'", "network.endpoint_url", "https://"),
    ("[network]\nendpoint_url = 'https://h.example/?a=b'", "network.endpoint_url", "a=b"),
    ("[network]\nendpoint_url = 'https://h.example:99999'", "network.endpoint_url", "99999"),
    ("[network]\nendpoint_url = 'vpce-1.example'", "network.endpoint_url", "vpce-1"),
    ("[network]\nendpoint_url = 443", "network.endpoint_url", "integer"),
    ("[network]\nallow_proxy = 0", "network.allow_proxy", "integer"),
    ("[guardrail]\nidentifier = 'ABC!'\nversion = '1'", "guardrail.identifier", "ABC!"),
    (
        "[guardrail]\nidentifier = 'arn:aws:bedrock:us-east-1:123:guardrail/abc'\nversion = '1'",
        "guardrail.identifier",
        ":123:",
    ),
    (
        "[guardrail]\nidentifier = 'arn:aws:s3:us-east-1:123456789012:guardrail/abc'\n"
        "version = '1'",
        "guardrail.identifier",
        "s3",
    ),
    ("[guardrail]\nidentifier = 'abc'", "guardrail.version", "None"),
    ("[guardrail]\nversion = '3'", "guardrail.identifier", "None"),
    ("[guardrail]\nidentifier = 'abc'\nversion = '0'", "guardrail.version", '"0"'),
    ("[guardrail]\nidentifier = 'abc'\nversion = 'draft'", "guardrail.version", "draft"),
    ("[guardrail]\nidentifier = 'abc'\nversion = 3", "guardrail.version", "integer"),
    ("[guardrail]\nidentifier = 'abc'\nversion = '1.0'", "guardrail.version", "1.0"),
    ("[guardrail]\nidentifier = 'abc'\nversion = '1'\ntrace = 'on'", "guardrail.trace", "on"),
    ("[inference_profile]\nrequired = 'no'", "inference_profile.required", "no"),
    ("[inference_profile]\nmap = 'x'", "inference_profile.map", "string"),
    ("[inference_profile]\nmap = { 'a.b' = 'a.b' }", 'inference_profile.map."a.b"', "a.b"),
    (
        "[inference_profile]\nmap = { 'a.b' = 'arn:aws:bedrock:us-east-1::foundation-model/a.b' }",
        'inference_profile.map."a.b"',
        "foundation-model",
    ),
    (
        "[inference_profile]\nmap = { 'a.b' = 'xx.a.b-v1:0' }",
        'inference_profile.map."a.b"',
        "xx.a.b",
    ),
    ("[inference_profile]\nmap = { 'a b' = 'us.a.b' }", 'inference_profile.map."a b"', "a b"),
    ("[inference_profile]\nmap = { 'a.b' = 1 }", 'inference_profile.map."a.b"', "integer"),
    ("[inference_profile]\nknown = 1", "inference_profile.known", "integer"),
    (
        "[inference_profile.known.'us.a.b']\nmodel = []",
        'inference_profile.known."us.a.b".model',
        "[]",
    ),
    (
        "[inference_profile.known.'us.a.b']\n",
        'inference_profile.known."us.a.b".models',
        "None",
    ),
    (
        "[inference_profile.known.'us.a.b']\nmodels = []",
        'inference_profile.known."us.a.b".models',
        "[]",
    ),
    (
        "[inference_profile.known.'us.a.b']\nmodels = ['a.b']",
        'inference_profile.known."us.a.b".models[0]',
        "a.b",
    ),
    (
        "[inference_profile.known.'a.b']\n"
        "models = ['arn:aws:bedrock:us-east-1::foundation-model/a.b']",
        'inference_profile.known."a.b"',
        "a.b",
    ),
    ("[regions]\nallowed = 'us-east-1'", "regions.allowed", "string"),
    ("[regions]\nallowed = ['US-EAST-1']", "regions.allowed[0]", "US-EAST-1"),
    ("[regions]\nallowed = ['us-east']", "regions.allowed[0]", "us-east"),
    ("[regions]\nallowed = ['N. Virginia']", "regions.allowed[0]", "Virginia"),
    ("[regions]\nallowed = [1]", "regions.allowed[0]", "integer"),
    ("[regions]\ncross_region = 'false'", "regions.cross_region", "false"),
    ("[regions]\nallowed_geographies = ['usa']", "regions.allowed_geographies[0]", "usa"),
    ("[regions]\nallowed_geographies = 'us'", "regions.allowed_geographies", "string"),
    ("[models]\nallow = ['']", "models.allow[0]", '""'),
    ("[models]\nallow = [' anthropic.*']", "models.allow[0]", "anthropic"),
    ("[models]\nallow = 'anthropic.*'", "models.allow", "string"),
    ("[models]\ndeny = [1]", "models.deny[0]", "integer"),
    ("[models]\nblock = []", "models.block", "[]"),
    ("[service_tier]\nallowed = ['premium']", "service_tier.allowed[0]", "premium"),
    ("[service_tier]\nallowed = ['Default']", "service_tier.allowed[0]", "Default"),
    ("[auth]\nallow_api_keys = 'false'", "auth.allow_api_keys", '"false"'),
    (
        "[operations]\nallow_without_guardrail = ['countTokens']",
        "operations.allow_without_guardrail[0]",
        "countTokens",
    ),
    (
        "[operations]\nallow_without_guardrail = 'CountTokens'",
        "operations.allow_without_guardrail",
        "string",
    ),
    ("[audit]\ncontent = 'full'", "audit.content", "full"),
    ("[audit]\ncontent = true", "audit.content", "boolean"),
]


@pytest.mark.parametrize(("body", "path", "found"), BAD, ids=[b[1] for b in BAD])
def test_bad_input_names_the_key_found_expected_and_fix(body: str, path: str, found: str) -> None:
    with pytest.raises(PolicyConfigError) as info:
        _parse(body + "\n")
    error = info.value
    assert error.path == path
    assert str(error).startswith(f"[{path}]")
    assert found in (error.found or "")
    assert error.expected and error.fix
    # Never the parser's traceback: the error is raised from our code, without a cause.
    assert error.__cause__ is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("mode = 'enforce'", "no `version` key"),
        ("version = 2", "2 (integer)"),
        ("version = '1'", '"1" (string)'),
        ("version = true", "true (boolean)"),
        ("version = 1.0", "1.0 (float)"),
    ],
)
def test_version_must_be_the_integer_1(text: str, found: str) -> None:
    with pytest.raises(PolicyConfigError) as info:
        Policy.from_toml(text)
    assert info.value.path == "version"
    assert info.value.found == found


def test_a_future_version_is_reported_before_its_unknown_keys() -> None:
    with pytest.raises(PolicyConfigError) as info:
        Policy.from_toml("version = 2\n[telemetry]\nx = 1\n")
    assert info.value.path == "version"


@pytest.mark.parametrize(
    ("body", "suggestion"),
    [
        ('mode = "log-only"', "log_only"),
        ('mode = "Log Only"', "log_only"),
        ("[operations]\nallow_without_guardrail = ['countTokens']", "CountTokens"),
        ("[service_tier]\nallowed = ['Default']", "default"),
    ],
)
def test_typo_suggests_the_right_value(body: str, suggestion: str) -> None:
    with pytest.raises(PolicyConfigError) as info:
        _parse(body + "\n")
    assert f'did you mean "{suggestion}"' in str(info.value)


@pytest.mark.parametrize(
    "text",
    ["version = 1\n[tls\n", "version = 1\nmode = \n", "version = 1\nversion = 1\n", "[[x]]]"],
)
def test_toml_syntax_errors_are_wrapped_with_line_and_column(text: str) -> None:
    with pytest.raises(PolicyConfigError) as info:
        Policy.from_toml(text)
    assert "line" in (info.value.found or "") and "column" in (info.value.found or "")
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_from_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError) as info:
        Policy.from_file(tmp_path / "missing.toml")
    assert "missing.toml" in (info.value.found or "")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"version = 1\n# caf\xe9\n")
    with pytest.raises(PolicyConfigError, match="UTF-8"):
        Policy.from_file(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("version = 1\n[tls\n")
    with pytest.raises(PolicyConfigError) as info:
        Policy.from_file(broken)
    assert str(broken) in (info.value.found or "")


def test_policy_is_frozen() -> None:
    policy = Policy.default()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.mode = "log_only"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.inference_profile.map["x"] = "y"  # type: ignore[index]


# --------------------------------------------------------------------------- digest


def test_digest_is_stable_across_key_order_whitespace_and_comments() -> None:
    one = Policy.from_toml(
        'version = 1\n[tls]\nminimum_version = "1.3"\nfips = true\n[regions]\n'
        'allowed = ["us-east-1"]\n'
    )
    two = Policy.from_toml(
        "version=1  # schema\n[regions]\n  allowed = [ 'us-east-1' ,]   # one region\n\n"
        "[tls]\nfips=true\nminimum_version='1.3'\n"
    )
    assert one == two
    assert one.digest == two.digest
    assert len(one.digest) == 64 and int(one.digest, 16) >= 0
    assert one.digest != Policy.default().digest


def test_digest_is_computed_once() -> None:
    policy = Policy.from_toml(DESIGN_EXAMPLE)
    first = policy.digest
    assert policy.__dict__["digest"] == first  # cached on the instance
    assert policy.digest is first


def test_explicit_defaults_have_the_default_digest() -> None:
    explicit = Policy.from_toml('version = 1\nmode = "enforce"\n[tls]\nminimum_version = "1.2"\n')
    assert explicit.digest == Policy.default().digest


# --------------------------------------------------------------------------- properties

_regions = st.sampled_from(["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-2"])
_patterns = st.sampled_from(
    ["anthropic.*", "anthropic.claude-*", "amazon.nova-*", "amazon.nova-pro-v1:0", "*", "m?x"]
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Random valid policies (a representative subset of keys)."""
    return Policy(
        mode=draw(st.sampled_from(["enforce", "log_only"])),
        tls=TLSPolicy(
            minimum_version=draw(st.sampled_from(["1.2", "1.3"])), fips=draw(st.booleans())
        ),
        regions=RegionsPolicy(
            allowed=draw(st.none() | st.lists(_regions, max_size=3).map(tuple)),
            cross_region=draw(st.booleans()),
            allowed_geographies=tuple(draw(st.lists(st.sampled_from(["us", "eu", "global"])))),
        ),
        models=ModelsPolicy(
            allow=draw(st.none() | st.lists(_patterns, max_size=3).map(tuple)),
            deny=tuple(draw(st.lists(_patterns, max_size=2))),
        ),
    )


@settings(max_examples=60, deadline=None)
@given(policies())
def test_to_toml_round_trips(policy: Policy) -> None:
    again = Policy.from_toml(policy.to_toml())
    assert again == policy
    assert again.digest == policy.digest


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_policy_config_error(text: str) -> None:
    try:
        policy = Policy.from_toml(text)
    except PolicyConfigError as error:
        assert error.summary and str(error).startswith(error.summary)
    else:
        # What parses is a real policy: it renders and reads back to itself.
        assert Policy.from_toml(policy.to_toml()) == policy


def test_model_pattern_covers_is_sound_on_examples() -> None:
    assert model_pattern_covers("anthropic.*", "anthropic.claude-*")
    assert model_pattern_covers("anthropic.*", "anthropic.claude-v2")
    assert model_pattern_covers("*", "m?x")
    assert not model_pattern_covers("a?", "a*")
    assert not model_pattern_covers("anthropic.claude-*", "anthropic.*")


def test_policies_are_hashable_consistently_with_equality() -> None:
    one = _parse("[inference_profile]\nmap = { 'a.x' = 'us.a.x', 'b.x' = 'us.b.x' }\n")
    two = _parse("[inference_profile]\nmap = { 'b.x' = 'us.b.x', 'a.x' = 'us.a.x' }\n")
    assert one == two
    assert hash(one) == hash(two)
    assert hash(one.inference_profile) == hash(two.inference_profile)
    assert len({one, two, Policy.default()}) == 2


_KEYS = (
    "version mode tls network guardrail inference_profile regions models service_tier auth "
    "operations audit minimum_version fips require_private_endpoint allowed_cidrs endpoint_url "
    "allow_proxy identifier trace required map known allowed cross_region allowed_geographies "
    "allow deny allow_api_keys allow_without_guardrail content us.a.b"
).split()
_scalars = (
    st.booleans()
    | st.integers(-2, 3)
    | st.floats(allow_nan=False, width=16)
    | st.sampled_from(["", "1", "1.3", "enforce", "log_only", "us-east-1", "10.0.0.0/8", "DRAFT"])
    | st.text(max_size=8)
)
_documents = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(_KEYS), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _documents, max_size=5))
def test_any_document_is_a_policy_or_a_policy_config_error(document: dict[str, object]) -> None:
    document.setdefault("version", 1)
    try:
        policy = Policy.from_dict(document)
    except PolicyConfigError as exc:
        assert str(exc)
    else:
        assert Policy.from_toml(policy.to_toml()) == policy


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    policy = Policy.from_bytes(b"\xef\xbb\xbfversion = 1\nmode = 'log_only'\n")
    assert policy.mode == "log_only"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=10).filter(lambda t: t.strip() == t and t), max_size=3)
)
def test_to_toml_round_trips_any_pattern_text(patterns: list[str]) -> None:
    # Quotes, backslashes, control characters, DEL and astral characters all survive.
    policy = Policy(models=ModelsPolicy(deny=tuple(patterns)))
    assert Policy.from_toml(policy.to_toml()) == policy


def test_to_toml_escapes_awkward_characters() -> None:
    awkward = ('a"b', "c\\d", "e\x7ff", "g\x01h", "😀*")
    policy = Policy(models=ModelsPolicy(deny=awkward))
    assert Policy.from_toml(policy.to_toml()).models.deny == awkward
