"""Bad policy input is a clear error naming the key, never a crash or a silent pass.

Deep nesting, trailing newlines on validated ids, an undecodable HMAC key, and a
large ``models.allow`` (which must parse in near-linear time) -- each checked at the
parser and, where a client is involved, through the public API against the embedded
endpoint (which must receive nothing).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.client import BaseClient
from conftest import MODEL_ID
from hypothesis import given, settings
from hypothesis import strategies as st

import securebedrock
from securebedrock import Policy, PolicyConfigError
from securebedrock import _policy as policy_module
from securebedrock._policy import (
    GuardrailPolicy,
    InferenceProfilePolicy,
    KnownProfile,
    ModelsPolicy,
    RegionsPolicy,
    _lattice,
    model_pattern_covers,
)
from securebedrock.testing import EmbeddedBedrock

GUARDRAIL_ARN = "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1"
FM_ARN = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]


def _parse(body: str) -> Policy:
    return Policy.from_toml("version = 1\n" + body + "\n")


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize(
    "body",
    [
        "x = " + "[" * 5000 + "]" * 5000,
        "x = " + "{ a = " * 3000 + "1" + " }" * 3000,
        "[models]\nallow = " + "[" * 5000 + "]" * 5000,
        "[inference_profile.known]\n" + f'"{PROFILE_ARN}" = ' + "{ m = " * 3000 + "1" + "}" * 3000,
    ],
    ids=["array", "inline-table", "under-a-known-key", "profile-entry"],
)
def test_deeply_nested_toml_is_a_policy_error(body: str) -> None:
    with pytest.raises(PolicyConfigError) as info:
        _parse(body)
    assert "nested too deeply" in str(info.value)
    assert info.value.fix


def test_nesting_the_parser_accepts_is_refused_with_the_key_path() -> None:
    # Shallow enough for tomllib, deeper than any policy: our own walk names the key.
    with pytest.raises(PolicyConfigError) as info:
        _parse("[models]\nallow = " + "[" * 100 + "]" * 100)
    assert info.value.path is not None
    assert info.value.path.startswith("models.allow[0][0]")


def test_deep_or_self_referencing_mappings_from_code_are_policy_errors() -> None:
    deep: dict[str, object] = {"version": 1}
    cursor = deep
    for _ in range(100_000):
        cursor["tls"] = {}
        cursor = cursor["tls"]  # type: ignore[assignment]
    with pytest.raises(PolicyConfigError, match="nested too deeply"):
        Policy.from_dict(deep)
    cyclic: dict[str, object] = {"version": 1}
    cyclic["models"] = cyclic
    with pytest.raises(PolicyConfigError, match="nested too deeply"):
        Policy.from_dict(cyclic)
    nested: list[object] = ["anthropic.*"]
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(PolicyConfigError) as info:
        ModelsPolicy(allow=(nested,))  # type: ignore[arg-type]
    assert info.value.path == "models.allow[0]"


def test_an_integer_too_long_to_convert_is_a_policy_error() -> None:
    with pytest.raises(PolicyConfigError, match="not valid TOML"):
        _parse("version2 = " + "9" * 5000)


def test_a_nested_org_policy_file_fails_closed_before_anything_is_sent(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org = tmp_path / "policy.toml"
    org.write_text("version = 1\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(org))
    with pytest.raises(PolicyConfigError, match="nested too deeply"):
        secured_client().converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests == []


# --------------------------------------------------------------------------- full matches

TRAILING_NEWLINE = [
    ('[regions]\nallowed = ["us-east-1\\n"]', "regions.allowed[0]"),
    ('[guardrail]\nidentifier = "abc123\\n"\nversion = "3"', "guardrail.identifier"),
    (f'[guardrail]\nidentifier = "{GUARDRAIL_ARN}\\n"\nversion = "3"', "guardrail.identifier"),
    ('[guardrail]\nidentifier = "abc123"\nversion = "3\\n"', "guardrail.version"),
    ('[guardrail]\nidentifier = "abc123"\nversion = "DRAFT\\n"', "guardrail.version"),
    (
        f'[inference_profile.map]\n"anthropic.claude-v2" = "{PROFILE_ARN}\\n"',
        'inference_profile.map."anthropic.claude-v2"',
    ),
    (
        '[inference_profile.map]\n"anthropic.claude-v2" = "us.anthropic.claude-v2\\n"',
        'inference_profile.map."anthropic.claude-v2"',
    ),
    (
        f'[inference_profile.map]\n"anthropic.claude-v2\\n" = "{PROFILE_ARN}"',
        'inference_profile.map."anthropic.claude-v2\\u000A"',
    ),
    (
        f'[inference_profile.known."{PROFILE_ARN}"]\nmodels = ["{FM_ARN}\\n"]',
        f'inference_profile.known."{PROFILE_ARN}".models[0]',
    ),
    (
        f'[inference_profile.known]\n"{PROFILE_ARN}\\n" = {{ models = ["{FM_ARN}"] }}',
        'inference_profile.known."' + PROFILE_ARN + '\\u000A"',
    ),
]


@pytest.mark.parametrize(("body", "path"), TRAILING_NEWLINE, ids=[p for _, p in TRAILING_NEWLINE])
def test_a_trailing_newline_never_passes_validation(body: str, path: str) -> None:
    with pytest.raises(PolicyConfigError) as info:
        _parse(body)
    assert info.value.path == path
    assert "\\n" in (info.value.found or "")  # shown escaped, on one line


def test_code_constructors_use_full_matches_too() -> None:
    with pytest.raises(PolicyConfigError):
        RegionsPolicy(allowed=("us-east-1\n",))
    with pytest.raises(PolicyConfigError):
        GuardrailPolicy(identifier="abc123\n", version="3")
    with pytest.raises(PolicyConfigError):
        GuardrailPolicy(identifier="abc123", version="3\n")
    with pytest.raises(PolicyConfigError):
        InferenceProfilePolicy(map={"anthropic.claude-v2": "us.anthropic.claude-v2\n"})
    with pytest.raises(PolicyConfigError):
        KnownProfile(models=(FM_ARN + "\n",))


def test_a_key_with_a_newline_is_quoted_in_the_error_path() -> None:
    with pytest.raises(PolicyConfigError) as info:
        _parse('[tls]\n"fips\\n" = true')
    assert info.value.path == 'tls."fips\\u000A"'
    assert "\n" not in str(info.value).split(";")[0]


def test_a_region_with_a_newline_in_an_org_file_fails_closed(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org = tmp_path / "policy.toml"
    org.write_text('version = 1\n[regions]\nallowed = ["us-east-1\\n"]\n')
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(org))
    with pytest.raises(PolicyConfigError) as info:
        secured_client().converse(modelId=MODEL_ID, messages=MESSAGES)
    assert info.value.path == "regions.allowed[0]"
    assert bedrock.requests == []


# --------------------------------------------------------------------------- HMAC key

DIGEST_POLICY = dataclasses.replace(
    Policy.default(), audit=dataclasses.replace(Policy.default().audit, content="digest")
)


def test_an_undecodable_hmac_key_is_a_clear_error_that_names_the_variable(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A byte that is not UTF-8 reaches os.environ as a lone surrogate.
    monkeypatch.setenv("SECUREBEDROCK_AUDIT_HMAC_KEY", "secret-part-" + "\udcff" + "k" * 24)
    with pytest.raises(PolicyConfigError) as info:
        secured_client(DIGEST_POLICY).converse(modelId=MODEL_ID, messages=MESSAGES)
    message = str(info.value)
    assert "SECUREBEDROCK_AUDIT_HMAC_KEY" in message
    assert info.value.path == "audit.content"
    assert "secret-part" not in message and "kkkk" not in message  # never the key
    assert bedrock.requests == []


# --------------------------------------------------------------------------- allow-list


def _quadratic_antichain(patterns: list[str]) -> tuple[str, ...]:
    """The pairwise definition the fast implementation must equal."""
    unique = list(dict.fromkeys(patterns))
    return tuple(
        p
        for i, p in enumerate(unique)
        if not any(
            j != i and model_pattern_covers(q, p) and not model_pattern_covers(p, q)
            for j, q in enumerate(unique)
        )
    )


_PATTERN = st.text(alphabet="ab.-*?[]", min_size=1, max_size=6).filter(lambda p: p.strip() == p)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PATTERN, max_size=12))
def test_the_fast_antichain_equals_the_pairwise_definition(patterns: list[str]) -> None:
    assert policy_module._antichain(patterns) == _quadratic_antichain(patterns)
    assert ModelsPolicy(allow=tuple(patterns)).allow == _quadratic_antichain(patterns)


def _large_allow_list(n: int) -> list[str]:
    """Vendor prefixes, exact ids (a quarter covered by a prefix), and general globs."""
    patterns = []
    for i in range(n):
        provider = f"provider{(i // 4) % 40}"
        shape = i % 4
        if shape == 0:
            patterns.append(f"{provider}.model-{i}-*")
        elif shape == 1:
            patterns.append(f"{provider}.model-{i - 1}-v{i}:0")  # covered by the previous one
        elif shape == 2:
            patterns.append(f"{provider}.model-{i}-v1:0")
        else:
            patterns.append(f"{provider}.model-?-{i}")
    return patterns


def test_a_large_allow_list_costs_a_bounded_number_of_cover_tests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A work bound, not a timing: the pairwise definition makes n*(n-1) cover tests
    # (25 million for 5,000 patterns); the trie walk makes at most two per pattern.
    calls = 0
    real = policy_module.model_pattern_covers

    def counting(outer: str, inner: str) -> bool:
        nonlocal calls
        calls += 1
        return real(outer, inner)

    # The trie walk looks the cover test up in the lattice module, where it is defined.
    monkeypatch.setattr(_lattice, "model_pattern_covers", counting)
    patterns = _large_allow_list(5000)
    allow = ModelsPolicy(allow=tuple(patterns)).allow
    assert allow == tuple(p for i, p in enumerate(patterns) if i % 4 != 1)
    assert 0 < calls <= 2 * len(patterns)


def test_a_large_allow_list_keeps_the_pairwise_answer() -> None:
    patterns = _large_allow_list(400)
    assert ModelsPolicy(allow=tuple(patterns)).allow == _quadratic_antichain(patterns)


def test_a_large_allow_list_in_a_file_parses() -> None:
    patterns = _large_allow_list(5000)
    text = "version = 1\n[models]\nallow = [" + ", ".join(f'"{p}"' for p in patterns) + "]\n"
    allow = Policy.from_toml(text).models.allow
    assert allow is not None and len(allow) == 3750


# --------------------------------------------------------------------------- fuzz

_SCHEMA_KEYS: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in dataclasses.fields(cls))
    for name, cls in policy_module._SECTIONS.items()
}
_KEY = st.one_of(
    st.sampled_from(sorted({k for keys in _SCHEMA_KEYS.values() for k in keys})),
    st.sampled_from(sorted(_SCHEMA_KEYS)),
    st.text(min_size=0, max_size=12),
)
_REAL_LOOKING = st.sampled_from(
    [
        "us-east-1",
        "us-east-1\n",
        "eu-central-1",
        "abc123",
        "3",
        "DRAFT",
        "1.3",
        "enforce",
        "log_only",
        "digest",
        "anthropic.*",
        GUARDRAIL_ARN,
        PROFILE_ARN,
        FM_ARN,
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        "https://h:99999",
        "10.0.0.0/8",
        "Converse",
    ]
)
_SCALAR = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(max_size=40).map(lambda t: t * 500),  # long strings
    _REAL_LOOKING,
    st.datetimes(),
    st.dates(),
    st.times(),
)
_VALUE = st.recursive(
    _SCALAR,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_KEY, children, max_size=4)
    ),
    max_leaves=20,
)


def _section(name: str) -> st.SearchStrategy[dict[str, object]]:
    known = st.dictionaries(st.sampled_from(_SCHEMA_KEYS[name]), _VALUE, max_size=4)
    return st.one_of(known, st.dictionaries(_KEY, _VALUE, max_size=3))


_DOCUMENT = st.builds(
    lambda version, sections, extra: {
        **({} if version is None else {"version": version}),
        **sections,
        **extra,
    },
    st.one_of(st.just(1), st.none(), _SCALAR),
    st.fixed_dictionaries({}, optional={name: _section(name) for name in _SCHEMA_KEYS}),
    st.dictionaries(_KEY, _VALUE, max_size=2),
)


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("?")  # TOML cannot carry lone surrogates
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    return value.isoformat()  # type: ignore[attr-defined]


def _toml(document: dict[str, object]) -> str:
    return "".join(f"{_toml_string(k)} = {_toml_value(v)}\n" for k, v in document.items())


def _only_policy_errors(load: Callable[[], Policy]) -> None:
    try:
        policy = load()
    except PolicyConfigError as exc:
        assert exc.summary and exc.fix
        return
    assert isinstance(policy, Policy)
    assert Policy.from_toml(policy.to_toml()) == policy


@settings(max_examples=80, deadline=None)
@given(_DOCUMENT)
def test_random_toml_structures_give_a_policy_or_a_policy_error(
    document: dict[str, object],
) -> None:
    text = _toml(document)
    _only_policy_errors(lambda: Policy.from_toml(text))
    _only_policy_errors(lambda: Policy.from_bytes(text.encode("utf-8"), source="fuzz.toml"))
    _only_policy_errors(lambda: Policy.from_dict(document))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=4000),
    st.sampled_from(["[", "{ a = ", "[{ a = "]),
    st.sampled_from(["x", "models.allow", "inference_profile.map"]),
)
def test_random_depths_give_a_policy_or_a_policy_error(depth: int, opener: str, key: str) -> None:
    closer = "".join({"[": "]", "{": "}"}[c] for c in opener if c in "[{")[::-1]
    text = f"version = 1\n{key} = {opener * depth}1{closer * depth}\n"
    _only_policy_errors(lambda: Policy.from_toml(text))


@settings(max_examples=100, deadline=None)
@given(
    st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: ("version = 1\n" + t).encode("utf-8", "surrogatepass"))
)
def test_random_bytes_give_a_policy_or_a_policy_error(data: bytes) -> None:
    _only_policy_errors(lambda: Policy.from_bytes(data))


def test_random_file_contents_give_a_policy_or_a_policy_error(tmp_path: Path) -> None:
    rng = random.Random(7)  # noqa: S311 - reproducible test input
    alphabet = 'version=1\n[]{}"\\,.# tlsmodelsallow*\x00\xff'
    for index in range(50):
        path = tmp_path / f"p{index}.toml"
        path.write_bytes(
            "".join(rng.choice(alphabet) for _ in range(rng.randrange(200))).encode(
                "utf-8", "surrogatepass"
            )
        )
        _only_policy_errors(lambda path=path: Policy.from_file(path))  # type: ignore[misc]
    assert securebedrock.SecureBedrockError in PolicyConfigError.__mro__


# --------------------------------------------------------------------------- other validators


def test_host_and_vpc_endpoint_id_checks_use_full_matches() -> None:
    from securebedrock._export import ExportOptions, export_policy
    from securebedrock._netcheck import classify_service_host

    assert classify_service_host("bedrock-runtime.us-east-1.amazonaws.com", "bedrock-runtime")
    assert (
        classify_service_host("bedrock-runtime.us-east-1.amazonaws.com\n", "bedrock-runtime")
        is None
    )
    assert export_policy(Policy(), "iam", ExportOptions(vpce_ids=("vpce-11112222333344445",)))
    with pytest.raises(PolicyConfigError):
        export_policy(Policy(), "iam", ExportOptions(vpce_ids=("vpce-11112222333344445\n",)))
