"""The policy schema declares how each key merges, and the digest of a policy never drifts.

Every field of :class:`Policy` and of its sections names its merge rule in its
dataclass metadata; the merge walks the fields, so a key without a rule would be
left out of merges. The digests below were computed before the policy module
became a package: a refactoring that changes the canonical form fails here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from securebedrock import Policy
from securebedrock._policy import _SECTIONS, change_direction
from securebedrock._policy._combine import (
    DERIVED,
    INTERSECT,
    MergeRule,
    is_derived,
    key_rule,
    rule_of,
    tighten,
)

_CLASSES: list[type[Any]] = [Policy, *_SECTIONS.values()]
_FIELDS = [
    pytest.param(cls, f, id=f"{cls.__name__}.{f.name}")
    for cls in _CLASSES
    for f in dataclasses.fields(cls)
]


@pytest.mark.parametrize(("cls", "field"), _FIELDS)
def test_every_key_declares_its_merge_rule(cls: type[Any], field: dataclasses.Field[Any]) -> None:
    rule = rule_of(field)
    assert isinstance(rule, MergeRule), f"{cls.__name__}.{field.name} has no merge rule"
    # A derived key is computed by the constructor, so it is never a constructor argument,
    # and every constructor argument is combined by a rule.
    assert is_derived(field) == (not field.init)
    assert (rule.combine is None) == (rule is DERIVED)


def test_every_section_of_the_policy_is_merged_as_a_section() -> None:
    rules = {f.name: rule_of(f) for f in dataclasses.fields(Policy)}
    assert {name for name, rule in rules.items() if rule and rule.kind == "section"} == set(
        _SECTIONS
    )


def test_the_merge_refuses_a_key_without_a_rule() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Section:
        listed: tuple[str, ...] = dataclasses.field(default=(), metadata=key_rule(INTERSECT))
        forgotten: bool = False

    with pytest.raises(TypeError, match="Section.forgotten declares no merge rule"):
        tighten(Section, Section(listed=("a",)), Section())


def test_a_rule_combines_the_key_it_is_declared_on() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Section:
        listed: tuple[str, ...] | None = dataclasses.field(
            default=None, metadata=key_rule(INTERSECT)
        )

    merged = tighten(Section, Section(listed=("a", "b")), Section(listed=("b", "c")))
    assert merged == Section(listed=("b",))


# --------------------------------------------------------------------------- digests

_X1 = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1"
_Y2 = "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/y2"
_SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
_VPCE = "https://vpce-0abc-{}.bedrock-runtime.{}.vpce.amazonaws.com"
FULL = f"""
version = 1
mode = "apply"

[release]
id = "2026-12-acme-7"
serial = 7
expires = 2027-03-01T00:00:00Z

[tls]
minimum_version = "1.3"
fips = true

[network]
require_private_endpoint = true
allowed_cidrs = ["10.0.0.0/8", "fc00:0::/7"]
endpoint_url = "{_VPCE.format("def", "us-east-1")}"
endpoint_urls = {{ "us-west-2" = "{_VPCE.format("xyz", "us-west-2")}" }}
control_plane_endpoint_url = "https://bedrock.us-east-1.amazonaws.com"
control_plane_endpoint_urls = {{ "us-west-2" = "https://bedrock.us-west-2.amazonaws.com" }}
allow_proxy = false

[guardrail]
identifier = "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"
version = ["4", "3"]
trace = "enabled_full"
exempt_models = ["amazon.titan-embed-*", "amazon.titan-embed-text-v2:0"]

[inference_profile]
required = true
map = {{ "{_SONNET}" = "{_X1}" }}
regional_map."us-west-2" = {{ "{_SONNET}" = "{_Y2}" }}

[inference_profile.known."{_X1}"]
models = [
    "arn:aws:bedrock:us-west-2::foundation-model/{_SONNET}",
    "arn:aws:bedrock:us-east-1::foundation-model/{_SONNET}",
]

[regions]
allowed = ["us-east-1", "us-west-2"]
cross_region = true
allowed_geographies = ["us", "global"]

[models]
allow = ["anthropic.claude-*", "amazon.nova-*", "anthropic.claude-3-haiku"]
deny = ["anthropic.claude-v2*"]

[service_tier]
allowed = ["default", "flex"]

[auth]
allow_api_keys = false

[operations]
allow_without_guardrail = ["CountTokens", "InvokeModel"]

[audit]
content = "digest"
"""

APP = """
version = 1
mode = "enforce"
[models]
allow = ["anthropic.claude-3*", "amazon.nova-pro-v1:0"]
[regions]
allowed = ["us-west-2", "eu-west-1"]
[service_tier]
allowed = ["flex", "priority"]
[guardrail]
trace = "enabled"
"""


def test_the_default_policy_digest_is_pinned() -> None:
    assert Policy.default().digest == (
        "3017217d0f67da5ac5e1d7bf6aab0af302be918b8a126a46c2a3d32ace5efabb"
    )


def test_a_policy_setting_every_key_has_a_pinned_digest() -> None:
    full = Policy.from_toml(FULL)
    assert full.digest == "8841114523c31c278bbab4693524826a2d59d50d05a52bbb825166d379a55d1a"
    # Written out and read back, it is the same policy with the same digest.
    assert Policy.from_toml(full.to_toml()) == full
    assert Policy.from_toml(full.to_toml()).digest == full.digest


def test_a_merged_policy_has_a_pinned_digest() -> None:
    merged = Policy.from_toml(FULL).merge(Policy.from_toml(APP))
    assert merged.digest == "e014f413a126d23a16f59d38085b533b69de34e39ea2d9b37b70232db70aac62"


# --------------------------------------------------------------------------- diff directions


@pytest.mark.parametrize(
    ("key", "old", "new", "direction"),
    [
        ("mode", "log_only", "enforce", "tighten"),
        ("tls.minimum_version", "1.3", "1.2", "loosen"),
        ("guardrail.trace", "enabled", "enabled_full", "neutral"),
        ("network.allowed_cidrs", ["10.0.0.0/8"], ["10.1.0.0/16"], "tighten"),
        ("models.allow", ["anthropic.*"], ["anthropic.claude-3*"], "tighten"),
        ("models.deny", ["a.*"], [], "loosen"),
        ("inference_profile.known", None, {"models": ["x"]}, "loosen"),
        ("release.serial", 7, 8, "neutral"),
        ("tls.no_such_key", 1, 2, "loosen"),
        ("no_such_section.key", 1, 2, "loosen"),
    ],
)
def test_a_change_is_judged_by_the_rule_its_key_declares(
    key: str, old: object, new: object, direction: str
) -> None:
    assert change_direction(key, old, new) == direction
