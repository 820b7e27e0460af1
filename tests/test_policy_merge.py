"""Tighten-only merge: each key's rule, conflicts, and the laws (property tests).

Laws checked with hypothesis:
- soundness: a call the merged policy allows is allowed by both sides, judged
  both by a small pure predicate over every key (below) and by the real engine
  (``_rules.evaluate``) for the region/model/tier/auth rules;
- overlays: with ``b`` setting only some keys, what ``a.merge(b)`` lets out is
  let out by ``a`` and by ``b``'s keys alone (``b`` over the most permissive
  policy), by the predicate and by the real engine over every operation, with
  ARNs of other regions and partitions, profile routes (resolved and declared)
  and per-region maps; every key ``b`` does not set comes from ``a`` unchanged;
- idempotence: ``a.merge(a) == a``;
- associativity: ``(a.merge(b)).merge(c) == a.merge(b.merge(c))`` (for overlays:
  whenever ``b`` sets every key ``c`` sets), and one side fails exactly when the
  other does.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as _strategies

from securebedrock import Policy, PolicyConfigError
from securebedrock._modelid import GEOGRAPHIES
from securebedrock._operations import OPERATION_NAMES as OPERATIONS
from securebedrock._policy import (
    _SECTIONS,
    AuditPolicy,
    AuthPolicy,
    GuardrailPolicy,
    InferenceProfilePolicy,
    KnownProfile,
    ModelsPolicy,
    NetworkPolicy,
    OperationsPolicy,
    RegionsPolicy,
    ServiceTierPolicy,
    TLSPolicy,
)
from securebedrock._rules import Call, ResolvedProfile, evaluate

ARN_ABC = "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc"
ARN_ABC_OTHER_ACCOUNT = "arn:aws:bedrock:us-east-1:210987654321:guardrail/abc"
PROFILE_1 = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p1"
PROFILE_2 = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p2"
FM = "arn:aws:bedrock:us-east-1::foundation-model/"


# --------------------------------------------------------------------------- per-key rules


def test_tls_higher_floor_wins_and_fips_is_or() -> None:
    a = Policy(tls=TLSPolicy(minimum_version="1.3"))
    b = Policy(tls=TLSPolicy(fips=True))
    assert a.merge(b).tls == TLSPolicy(minimum_version="1.3", fips=True)
    assert b.merge(a).tls == TLSPolicy(minimum_version="1.3", fips=True)


def test_network_private_endpoint_or_proxy_and() -> None:
    a = Policy(network=NetworkPolicy(require_private_endpoint=True, allow_proxy=True))
    b = Policy(network=NetworkPolicy(allow_proxy=False))
    merged = a.merge(b).network
    assert merged.require_private_endpoint is True
    assert merged.allow_proxy is False
    c = Policy(network=NetworkPolicy(allow_proxy=True))
    assert a.merge(c).network.allow_proxy is True


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (("10.0.0.0/8",), ("10.1.0.0/16", "192.168.0.0/16"), ("10.1.0.0/16",)),
        (("10.1.0.0/16", "192.168.0.0/16"), ("10.0.0.0/8",), ("10.1.0.0/16",)),
        (("10.0.0.0/8",), ("172.16.0.0/12",), ()),
        (("10.0.0.0/8", "fc00::/7"), ("fd00::/8",), ("fd00::/8",)),
        (("10.0.0.0/8",), ("10.0.0.0/8",), ("10.0.0.0/8",)),
        (("10.0.0.0/9", "10.128.0.0/9"), ("10.0.0.0/8",), ("10.0.0.0/9", "10.128.0.0/9")),
    ],
)
def test_allowed_cidrs_intersect_as_address_ranges(
    left: tuple[str, ...], right: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    a = Policy(network=NetworkPolicy(allowed_cidrs=left))
    b = Policy(network=NetworkPolicy(allowed_cidrs=right))
    assert a.merge(b).network.allowed_cidrs == expected


def test_endpoint_url_equal_or_one_side_empty() -> None:
    url = "https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com"
    pinned = Policy(network=NetworkPolicy(endpoint_url=url))
    assert pinned.merge(Policy()).network.endpoint_url == url
    assert Policy().merge(pinned).network.endpoint_url == url
    assert pinned.merge(pinned).network.endpoint_url == url
    other = Policy(network=NetworkPolicy(endpoint_url="https://other.example"))
    with pytest.raises(PolicyConfigError) as info:
        pinned.merge(other)
    assert info.value.path == "network.endpoint_url"
    assert url in (info.value.found or "") and "other.example" in (info.value.found or "")


def test_allow_lists_intersect_with_none_as_identity() -> None:
    a = Policy(
        regions=RegionsPolicy(allowed=("us-east-1", "us-west-2")),
        service_tier=ServiceTierPolicy(allowed=("default", "flex")),
    )
    b = Policy(
        regions=RegionsPolicy(allowed=("us-west-2", "eu-west-1")),
        service_tier=ServiceTierPolicy(allowed=None),
    )
    merged = a.merge(b)
    assert merged.regions.allowed == ("us-west-2",)
    assert merged.service_tier.allowed == ("default", "flex")
    assert Policy().merge(a).regions.allowed == a.regions.allowed
    empty = Policy(regions=RegionsPolicy(allowed=()))
    assert a.merge(empty).regions.allowed == ()


def test_cross_region_and_geographies() -> None:
    a = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("us", "eu")))
    b = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("us", "global")))
    merged = a.merge(b).regions
    assert merged.cross_region is True
    assert merged.allowed_geographies == ("us",)
    # A policy that does not set cross_region leaves it as it is; one that sets it
    # to false turns it off.
    assert a.merge(Policy()).regions.cross_region is True
    assert a.merge(Policy(regions=RegionsPolicy(cross_region=False))).regions.cross_region is False


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (None, ("anthropic.*",), ("anthropic.*",)),
        (("anthropic.*",), ("anthropic.claude-*",), ("anthropic.claude-*",)),
        (
            ("anthropic.*",),
            ("anthropic.claude-3-haiku-20240307-v1:0", "amazon.nova-pro-v1:0"),
            ("anthropic.claude-3-haiku-20240307-v1:0",),
        ),
        (("anthropic.claude-*", "amazon.*"), ("amazon.nova-*", "meta.*"), ("amazon.nova-*",)),
        (("*",), ("m?x", "a[bc]"), ("m?x", "a[bc]")),
        (("m?x",), ("m?x",), ("m?x",)),
        # Two unrelated general globs: their meet is not one glob, so nothing is kept
        # (tighter than exact, never looser).
        (("*x",), ("a*",), ()),
        (("*x",), ("abx",), ("abx",)),
        (("anthropic.*",), ("amazon.*",), ()),
    ],
)
def test_model_allow_rule(
    left: tuple[str, ...] | None, right: tuple[str, ...] | None, expected: tuple[str, ...] | None
) -> None:
    a = Policy(models=ModelsPolicy(allow=left))
    b = Policy(models=ModelsPolicy(allow=right))
    assert a.merge(b).models.allow == expected
    assert set(b.merge(a).models.allow or ()) == set(expected or ())


def test_deny_lists_unite() -> None:
    a = Policy(models=ModelsPolicy(deny=("meta.*",)))
    b = Policy(models=ModelsPolicy(deny=("mistral.*", "meta.*")))
    assert a.merge(b).models.deny == ("meta.*", "mistral.*")


def test_inference_profile_required_or_and_map_union() -> None:
    a = Policy(inference_profile=InferenceProfilePolicy(required=True, map={"m.a": PROFILE_1}))
    b = Policy(inference_profile=InferenceProfilePolicy(map={"m.b": PROFILE_2, "m.a": PROFILE_1}))
    merged = a.merge(b).inference_profile
    assert merged.required is True
    assert dict(merged.map) == {"m.a": PROFILE_1, "m.b": PROFILE_2}


def test_same_model_mapped_to_two_profiles_is_an_error() -> None:
    a = Policy(inference_profile=InferenceProfilePolicy(map={"m.a": PROFILE_1}))
    b = Policy(inference_profile=InferenceProfilePolicy(map={"m.a": PROFILE_2}))
    with pytest.raises(PolicyConfigError) as info:
        a.merge(b)
    assert info.value.path == 'inference_profile.map."m.a"'
    assert PROFILE_1 in (info.value.found or "") and PROFILE_2 in (info.value.found or "")


def test_known_profiles_unite_and_conflicts_are_errors() -> None:
    one = KnownProfile(models=(FM + "a.x-v1:0",))
    two = KnownProfile(models=(FM + "b.x-v1:0",))
    a = Policy(inference_profile=InferenceProfilePolicy(known={PROFILE_1: one}))
    b = Policy(inference_profile=InferenceProfilePolicy(known={PROFILE_2: two}))
    assert set(a.merge(b).inference_profile.known) == {PROFILE_1, PROFILE_2}
    c = Policy(inference_profile=InferenceProfilePolicy(known={PROFILE_1: two}))
    with pytest.raises(PolicyConfigError) as info:
        a.merge(c)
    assert (info.value.path or "").startswith("inference_profile.known.")


def test_guardrail_one_side_empty_or_equal() -> None:
    mandated = Policy(guardrail=GuardrailPolicy(identifier="abc", version="3"))
    assert Policy().merge(mandated).guardrail == mandated.guardrail
    assert mandated.merge(Policy()).guardrail == mandated.guardrail
    assert mandated.merge(mandated) == mandated


def test_guardrail_arn_and_its_id_are_the_same_guardrail() -> None:
    by_id = Policy(guardrail=GuardrailPolicy(identifier="abc", version="3"))
    by_arn = Policy(guardrail=GuardrailPolicy(identifier=ARN_ABC, version="3"))
    assert by_id.merge(by_arn).guardrail.identifier == ARN_ABC
    assert by_arn.merge(by_id).guardrail.identifier == ARN_ABC


@pytest.mark.parametrize(
    ("left", "right", "path"),
    [
        (("abc", "3"), ("xyz", "3"), "guardrail.identifier"),
        (("abc", "3"), ("abc", "4"), "guardrail.version"),
        (("abc", "3"), ("abc", "DRAFT"), "guardrail.version"),
        ((ARN_ABC, "3"), (ARN_ABC_OTHER_ACCOUNT, "3"), "guardrail.identifier"),
    ],
)
def test_two_different_guardrails_are_an_error_naming_both(
    left: tuple[str, str], right: tuple[str, str], path: str
) -> None:
    a = Policy(guardrail=GuardrailPolicy(identifier=left[0], version=left[1]))
    b = Policy(guardrail=GuardrailPolicy(identifier=right[0], version=right[1]))
    with pytest.raises(PolicyConfigError) as info:
        a.merge(b)
    assert info.value.path == path
    found = info.value.found or ""
    field = 0 if path.endswith("identifier") else 1
    assert left[field] in found and right[field] in found


def test_guardrail_trace_keeps_the_most_evidence() -> None:
    a = Policy(guardrail=GuardrailPolicy(identifier="abc", version="3", trace="disabled"))
    b = Policy(guardrail=GuardrailPolicy(identifier="abc", version="3", trace="enabled_full"))
    assert a.merge(b).guardrail.trace == "enabled_full"
    assert a.merge(Policy()).guardrail.trace == "disabled"


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("log_only", "enforce", "enforce"),
        ("enforce", "log_only", "enforce"),
        ("log_only", "apply", "apply"),
        ("apply", "log_only", "apply"),
        ("apply", "enforce", "enforce"),
        ("enforce", "apply", "enforce"),
        ("log_only", "log_only", "log_only"),
        ("apply", "apply", "apply"),
    ],
)
def test_mode_climbs_the_ladder(left: str, right: str, expected: str) -> None:
    merged = Policy(mode=left).merge(Policy(mode=right))  # type: ignore[arg-type]
    assert merged.mode == expected


def test_a_policy_that_does_not_set_mode_keeps_the_floors_mode() -> None:
    log_only = Policy(mode="log_only")
    assert log_only.merge(Policy()).mode == "log_only"
    assert Policy().merge(log_only).mode == "enforce"
    assert log_only.merge(log_only).mode == "log_only"


def test_auth_operations_and_audit() -> None:
    a = Policy(
        auth=AuthPolicy(allow_api_keys=False),
        operations=OperationsPolicy(allow_without_guardrail=("CountTokens", "ListAsyncInvokes")),
        audit=AuditPolicy(content="digest"),
    )
    b = Policy(operations=OperationsPolicy(allow_without_guardrail=("CountTokens",)))
    merged = a.merge(b)
    assert merged.auth.allow_api_keys is False
    assert merged.operations.allow_without_guardrail == ("CountTokens",)
    # Digest wins both ways: an org mandate stands, an application may opt in.
    assert merged.audit.content == "digest"
    assert b.merge(a).audit.content == "digest"
    assert b.merge(b).audit.content == "none"


def test_merge_refuses_a_non_policy() -> None:
    with pytest.raises(PolicyConfigError):
        Policy().merge({"mode": "enforce"})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- strategies


class _StrategiesBuiltOnce:
    """``hypothesis.strategies`` with each strategy built once per distinct arguments.

    The composite strategies below build their parts on every draw, and building a
    strategy (validating it, and the properties hypothesis works out for a new one)
    costs more than drawing from it: it was most of these tests' run time. The
    strategies, and so the examples drawn, are the same; a part whose arguments are
    not hashable is built on every call, as before.
    """

    def __getattr__(self, name: str) -> Any:
        original = getattr(_strategies, name)
        if name in ("composite", "data") or not callable(original) or isinstance(original, type):
            return original
        built: dict[object, object] = {}

        @functools.wraps(original)
        def build_once(*args: object, **kwargs: object) -> object:
            key = (args, tuple(sorted(kwargs.items())))
            try:
                return built[key]
            except KeyError:
                built[key] = original(*args, **kwargs)
                return built[key]
            except TypeError:  # unhashable arguments
                return original(*args, **kwargs)

        setattr(self, name, build_once)  # later look-ups skip __getattr__
        return build_once


st = _StrategiesBuiltOnce()

_REGIONS = ("us-east-1", "us-west-2", "eu-central-1")
_GEOS = ("us", "eu", "global")
_TIERS = ("default", "priority", "flex", "reserved")
_OPS = ("CountTokens", "ListAsyncInvokes", "GetAsyncInvoke")
# Literal ids and prefix* patterns: the family the allow-list merge is exact on.
_EXACT_PATTERNS = (
    "anthropic.*",
    "anthropic.claude-*",
    "anthropic.claude-3-haiku-v1:0",
    "amazon.*",
    "amazon.nova-pro-v1:0",
    "*",
)
_GENERAL_PATTERNS = (*_EXACT_PATTERNS, "*haiku*", "amazon.nova-???-v1:0", "a*o*")
_MODEL_IDS = (
    "anthropic.claude-3-haiku-v1:0",
    "anthropic.claude-v2",
    "anthropic.titan",
    "amazon.nova-pro-v1:0",
    "amazon.nova-lite-v1:0",
    "meta.llama3-8b-v1:0",
)
_CIDRS = ("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "192.168.0.0/16", "fc00::/7", "fd00::/8")
_GUARDRAILS = (("", ""), ("abc", "3"), (ARN_ABC, "3"), ("abc", "4"), ("xyz", "DRAFT"))
_URLS = ("", "", "https://vpce-1.example", "https://vpce-2.example")


@functools.cache
def _maybe_list(
    elements: st.SearchStrategy[str], *, max_size: int = 3
) -> st.SearchStrategy[tuple[str, ...] | None]:
    return st.none() | st.lists(elements, max_size=max_size).map(tuple)


@st.composite
def policies(draw: st.DrawFn, patterns: tuple[str, ...] = _EXACT_PATTERNS) -> Policy:
    identifier, version = draw(st.sampled_from(_GUARDRAILS))
    versions: str | list[str] = version
    if version and version != "DRAFT" and draw(st.booleans()):
        # A version change: the attached version first, an older one also accepted.
        versions = [version, draw(st.sampled_from([v for v in ("3", "4") if v != version]))]
    profile_map = draw(
        st.dictionaries(st.sampled_from(("m.a", "m.b")), st.sampled_from((PROFILE_1, PROFILE_2)))
    )
    return Policy(
        mode=draw(st.sampled_from(("enforce", "log_only"))),
        tls=TLSPolicy(
            minimum_version=draw(st.sampled_from(("1.2", "1.3"))), fips=draw(st.booleans())
        ),
        network=NetworkPolicy(
            require_private_endpoint=draw(st.booleans()),
            allowed_cidrs=tuple(draw(st.lists(st.sampled_from(_CIDRS), max_size=3))),
            endpoint_url=draw(st.sampled_from(_URLS)),
            endpoint_urls=draw(
                st.dictionaries(st.sampled_from(_REGIONS), st.sampled_from(_URLS[2:]), max_size=1)
            ),
            allow_proxy=draw(st.booleans()),
        ),
        guardrail=GuardrailPolicy(
            identifier=identifier,
            version=versions,  # type: ignore[arg-type]
            trace=draw(st.sampled_from(("enabled", "disabled", "enabled_full"))),
            exempt_models=tuple(draw(st.lists(st.sampled_from(patterns), max_size=2, unique=True))),
        ),
        inference_profile=InferenceProfilePolicy(required=draw(st.booleans()), map=profile_map),
        regions=RegionsPolicy(
            allowed=draw(_maybe_list(st.sampled_from(_REGIONS))),
            cross_region=draw(st.booleans()),
            allowed_geographies=tuple(draw(st.lists(st.sampled_from(_GEOS), max_size=3))),
        ),
        models=ModelsPolicy(
            allow=draw(_maybe_list(st.sampled_from(patterns))),
            deny=tuple(draw(st.lists(st.sampled_from(patterns), max_size=2))),
        ),
        service_tier=ServiceTierPolicy(allowed=draw(_maybe_list(st.sampled_from(_TIERS)))),
        auth=AuthPolicy(allow_api_keys=draw(st.booleans())),
        operations=OperationsPolicy(
            allow_without_guardrail=tuple(draw(st.lists(st.sampled_from(_OPS), max_size=3)))
        ),
        audit=AuditPolicy(content=draw(st.sampled_from(("none", "digest")))),
    )


@dataclass(frozen=True)
class _Call:
    """What a call does, in the terms the policy speaks."""

    region: str
    geography: str | None  # the geography prefix of a cross-region profile, if any
    model: str
    tier: str
    bearer: bool
    tls: str
    fips: bool
    peer: str
    via_proxy: bool
    endpoint_url: str
    operation: str
    guardrail: tuple[str, str]  # the guardrail the call carries (after attaching)


calls = st.builds(
    _Call,
    region=st.sampled_from(_REGIONS),
    geography=st.none() | st.sampled_from(_GEOS),
    model=st.sampled_from(_MODEL_IDS),
    tier=st.sampled_from(_TIERS),
    bearer=st.booleans(),
    tls=st.sampled_from(("1.2", "1.3")),
    fips=st.booleans(),
    peer=st.sampled_from(("10.1.2.3", "10.9.9.9", "192.168.1.1", "8.8.8.8", "fd00::1")),
    via_proxy=st.booleans(),
    endpoint_url=st.sampled_from(_URLS),
    operation=st.sampled_from(("Converse", *_OPS)),
    guardrail=st.sampled_from(_GUARDRAILS),
)


def _allowed(policy: Policy, call: _Call) -> bool:
    """A pure reading of each key: would ``policy`` let ``call`` through?"""
    if call.tls < policy.tls.minimum_version or (policy.tls.fips and not call.fips):
        return False
    net = policy.network
    if net.require_private_endpoint:
        peer = ipaddress.ip_address(call.peer)
        if not any(peer in n for n in net.networks() if n.version == peer.version):
            return False
    if call.via_proxy and not net.allow_proxy:
        return False
    pinned = net.endpoint_for(call.region)
    if pinned and call.endpoint_url != pinned:
        return False
    if policy.guardrail.mandated:
        if call.operation in policy.operations.allow_without_guardrail or any(
            fnmatch.fnmatchcase(call.model, p) for p in policy.guardrail.exempt_models
        ):
            pass
        elif (
            call.guardrail[0].rsplit("/", 1)[-1] != policy.guardrail.guardrail_id
            or call.guardrail[1] not in policy.guardrail.accepted_versions
        ):
            return False
    regions = policy.regions
    if regions.allowed is not None and call.region not in regions.allowed:
        return False
    if call.geography is not None and (
        not regions.cross_region or call.geography not in regions.allowed_geographies
    ):
        return False
    models = policy.models
    if models.allow is not None and not any(
        fnmatch.fnmatchcase(call.model, p) for p in models.allow
    ):
        return False
    if any(fnmatch.fnmatchcase(call.model, p) for p in models.deny):
        return False
    tiers = policy.service_tier.allowed
    if tiers is not None and call.tier not in tiers:
        return False
    return not (call.bearer and not policy.auth.allow_api_keys)


def _merge_or_none(a: Policy, b: Policy) -> Policy | None:
    try:
        return a.merge(b)
    except PolicyConfigError:
        return None


# --------------------------------------------------------------------------- laws

_FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(policies(_GENERAL_PATTERNS), policies(_GENERAL_PATTERNS), st.lists(calls, max_size=8))
def test_merge_never_allows_what_either_side_refuses(
    a: Policy, b: Policy, sample: list[_Call]
) -> None:
    merged = _merge_or_none(a, b)
    assume(merged is not None)
    assert merged is not None
    if "enforce" in (a.mode, b.mode):
        assert merged.mode == "enforce"
    for call in sample:
        if _allowed(merged, call):
            assert _allowed(a, call), call
            assert _allowed(b, call), call


@_FAST
@given(policies(_GENERAL_PATTERNS))
def test_merge_is_idempotent(a: Policy) -> None:
    assert a.merge(a) == a
    assert a.merge(a).digest == a.digest


@_FAST
@given(policies(), policies(), policies())
def test_merge_is_associative(a: Policy, b: Policy, c: Policy) -> None:
    ab = _merge_or_none(a, b)
    bc = _merge_or_none(b, c)
    left = None if ab is None else _merge_or_none(ab, c)
    right = None if bc is None else _merge_or_none(a, bc)
    # Both succeed with equal results, or both refuse.
    assert (left is None) == (right is None)
    assert left == right


@_FAST
@given(policies())
def test_default_is_a_left_identity_up_to_defaults(a: Policy) -> None:
    # The defaults are already tight on some keys (cross_region off, no proxy),
    # so merging over them tightens those; every other key comes through.
    merged = Policy.default().merge(a)
    assert merged.models == a.models
    assert merged.regions.allowed == a.regions.allowed
    assert merged.service_tier == a.service_tier
    if a.guardrail.mandated:  # the trace is the most evidence of both ("enabled" by default)
        # ... and the defaults exempt no model from the guardrail: an overlay cannot add one.
        assert merged.guardrail == GuardrailPolicy(
            identifier=a.guardrail.identifier,
            version=_key_value(a.guardrail, "version"),  # type: ignore[arg-type]
            trace="enabled" if a.guardrail.trace == "disabled" else a.guardrail.trace,
        )
    assert merged.tls == a.tls


# --------------------------------------------------------------------------- the engine

_ENGINE_MODELS = (
    *_MODEL_IDS,
    "us.anthropic.claude-3-haiku-v1:0",
    "eu.amazon.nova-pro-v1:0",
    "global.anthropic.claude-v2",
)


@st.composite
def engine_policies(draw: st.DrawFn) -> Policy:
    return Policy(
        regions=RegionsPolicy(
            allowed=draw(_maybe_list(st.sampled_from(_REGIONS))),
            cross_region=draw(st.booleans()),
            allowed_geographies=tuple(draw(st.lists(st.sampled_from(_GEOS), max_size=3))),
        ),
        models=ModelsPolicy(
            allow=draw(_maybe_list(st.sampled_from(_GENERAL_PATTERNS))),
            deny=tuple(draw(st.lists(st.sampled_from(_GENERAL_PATTERNS), max_size=2))),
        ),
        service_tier=ServiceTierPolicy(allowed=draw(_maybe_list(st.sampled_from(_TIERS)))),
        auth=AuthPolicy(allow_api_keys=draw(st.booleans())),
    )


engine_calls = st.builds(
    lambda region, model, tier, auth: Call(
        operation="Converse",
        region=region,
        auth=auth,
        params={
            "modelId": model,
            "messages": [],
            **({} if tier is None else {"serviceTier": {"type": tier}}),
        },
    ),
    st.sampled_from(_REGIONS),
    st.sampled_from(_ENGINE_MODELS),
    st.none() | st.sampled_from(_TIERS),
    st.sampled_from(("sigv4", "bearer")),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(engine_policies(), engine_policies(), st.lists(engine_calls, min_size=1, max_size=6))
def test_engine_agrees_merge_never_loosens(a: Policy, b: Policy, sample: list[Call]) -> None:
    merged = a.merge(b)
    for call in sample:
        if evaluate(merged, call).allowed:
            assert evaluate(a, call).allowed, call
            assert evaluate(b, call).allowed, call


@_FAST
@given(policies(_GENERAL_PATTERNS))
def test_every_generated_policy_round_trips_through_toml(a: Policy) -> None:
    again = Policy.from_toml(a.to_toml())
    assert again == a and again.digest == a.digest and hash(again) == hash(a)


# --------------------------------------------------------------------------- overlays

_SECTION_CLASSES = _SECTIONS
_LEAVES = ("mode",) + tuple(
    f"{name}.{f.name}"
    for name, cls in _SECTION_CLASSES.items()
    for f in dataclasses.fields(cls)
    if f.init  # derived attributes (guardrail.accepted_versions) are not keys
)


def _key_value(section: object, name: str) -> object:
    """A key's value as the constructor takes it (every accepted guardrail version)."""
    if isinstance(section, GuardrailPolicy) and name == "version":
        versions = section.accepted_versions
        return list(versions) if len(versions) > 1 else section.version
    return getattr(section, name)


_GUARDRAIL_PAIR = {"guardrail.identifier", "guardrail.version"}


def restrict(policy: Policy, keys: set[str]) -> Policy:
    """``policy`` as an overlay that sets only ``keys`` (built in code, as an app would)."""
    if keys & _GUARDRAIL_PAIR:
        keys = keys | _GUARDRAIL_PAIR  # an identifier needs its version, and back
    kwargs: dict[str, object] = {}
    if "mode" in keys:
        kwargs["mode"] = policy.mode
    for name, cls in _SECTION_CLASSES.items():
        section = getattr(policy, name)
        chosen = {
            f.name: _key_value(section, f.name)
            for f in dataclasses.fields(cls)
            if f"{name}.{f.name}" in keys
        }
        if chosen:
            kwargs[name] = cls(**chosen)
    overlay = Policy(**kwargs)  # type: ignore[arg-type]
    assert overlay.set_keys == keys
    return overlay


@st.composite
def overlays(draw: st.DrawFn, full: st.SearchStrategy[Policy], max_keys: int = 8) -> Policy:
    return restrict(draw(full), set(draw(st.sets(st.sampled_from(_LEAVES), max_size=max_keys))))


#: The most permissive policy: ``TOP.merge(b)`` is ``b``'s keys and nothing else.
TOP = Policy(
    mode="log_only",
    network=NetworkPolicy(allowed_cidrs=("0.0.0.0/0", "::/0"), allow_proxy=True),
    # Every model exempt, like every operation: the loosest value of each key.
    guardrail=GuardrailPolicy(trace="disabled", exempt_models=("*",)),
    regions=RegionsPolicy(cross_region=True, allowed_geographies=GEOGRAPHIES),
    operations=OperationsPolicy(allow_without_guardrail=OPERATIONS),
)
#: The floors the layer pairs start from: TOP, but exempting no model, so that a floor
#: or overlay that mandates a guardrail is judged on every model unless it exempts some.
FLOOR = dataclasses.replace(TOP, guardrail=GuardrailPolicy(trace="disabled"))


@st.composite
def layer_pairs(draw: st.DrawFn, full: st.SearchStrategy[Policy]) -> tuple[Policy, Policy]:
    """A floor and an overlay: either any full policy and any overlay, or -- so that
    most calls pass and a loosening merge has room to show -- both restricting keys of
    the same one or two sections, the floor as permissive as it goes elsewhere."""
    if draw(st.booleans()):
        return draw(full), draw(overlays(full))
    names = ["mode", *_SECTION_CLASSES]
    focus = draw(st.sets(st.sampled_from(names), min_size=1, max_size=2))
    domain = [key for key in _LEAVES if key.split(".")[0] in focus]
    floor = _override(FLOOR, draw(full), set(draw(st.sets(st.sampled_from(domain)))))
    return floor, restrict(draw(full), set(draw(st.sets(st.sampled_from(domain)))))


def _override(base: Policy, source: Policy, keys: set[str]) -> Policy:
    """``base`` with the values of ``keys`` taken from ``source`` (no merge involved)."""
    if keys & _GUARDRAIL_PAIR:
        keys = keys | _GUARDRAIL_PAIR
    sections: dict[str, object] = {}
    for name in _SECTION_CLASSES:
        changes = {
            f.name: _key_value(getattr(source, name), f.name)
            for f in dataclasses.fields(getattr(base, name))
            if f.init and f"{name}.{f.name}" in keys
        }
        sections[name] = dataclasses.replace(getattr(base, name), **changes)
    mode = source.mode if "mode" in keys else base.mode
    return Policy(mode=mode, **sections)  # type: ignore[arg-type]


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer_pairs(policies(_GENERAL_PATTERNS)), st.lists(calls, max_size=8))
def test_an_overlay_never_lets_through_what_either_layer_refuses(
    layers: tuple[Policy, Policy], sample: list[_Call]
) -> None:
    a, b = layers
    merged = _merge_or_none(a, b)
    assume(merged is not None)
    assert merged is not None
    alone = TOP.merge(b)
    for call in sample:
        if _allowed(merged, call):
            assert _allowed(a, call), call
            assert _allowed(alone, call), call


def _leaf_values(policy: Policy) -> dict[str, object]:
    values: dict[str, object] = {"mode": policy.mode}
    for name in _SECTION_CLASSES:
        section = getattr(policy, name)
        for f in dataclasses.fields(section):
            if f.init:
                values[f"{name}.{f.name}"] = _key_value(section, f.name)
    return values


@_FAST
@given(policies(_GENERAL_PATTERNS), overlays(policies(_GENERAL_PATTERNS)))
def test_keys_an_overlay_does_not_set_come_from_the_floor_unchanged(a: Policy, b: Policy) -> None:
    merged = _merge_or_none(a, b)
    assume(merged is not None)
    assert merged is not None
    before, after = _leaf_values(a), _leaf_values(merged)
    for key in _LEAVES:
        if key not in b.set_keys:
            assert after[key] == before[key], key
    assert merged.set_keys == a.set_keys | b.set_keys


@_FAST
@given(policies(), st.data())
def test_overlays_merge_associatively_when_the_middle_sets_the_last_ones_keys(
    a: Policy, data: st.DataObject
) -> None:
    b_full = data.draw(policies())
    c_full = data.draw(policies())
    c_keys = set(data.draw(st.sets(st.sampled_from(_LEAVES))))
    b_keys = c_keys | set(data.draw(st.sets(st.sampled_from(_LEAVES))))
    b, c = restrict(b_full, b_keys), restrict(c_full, c_keys)
    ab = _merge_or_none(a, b)
    bc = _merge_or_none(b, c)
    left = None if ab is None else _merge_or_none(ab, c)
    right = None if bc is None else _merge_or_none(a, bc)
    assert (left is None) == (right is None)
    assert left == right


# --------------------------------------------------------------------------- the engine, overlays

_ACCOUNT = "123456789012"


def _fm(region: str, model: str, partition: str = "aws") -> str:
    return f"arn:{partition}:bedrock:{region}::foundation-model/{model}"


def _app(region: str, name: str) -> str:
    return f"arn:aws:bedrock:{region}:{_ACCOUNT}:application-inference-profile/{name}"


#: Where each application profile really routes (what GetInferenceProfile answers).
_TRUTH: dict[str, tuple[str, ...]] = {
    _app("us-east-1", "local"): (_fm("us-east-1", "anthropic.claude-3-haiku-v1:0"),),
    # An allowed region listed before a forbidden one: every region must be checked.
    _app("us-east-1", "multi"): (
        _fm("us-east-1", "anthropic.claude-v2"),
        _fm("eu-central-1", "amazon.nova-pro-v1:0"),
    ),
    _app("us-west-2", "west"): (_fm("us-west-2", "amazon.nova-lite-v1:0"),),
}
_UNRESOLVED = _app("us-east-1", "unknown")
_SYSTEM_NO_GEO = f"arn:aws:bedrock:us-east-1:{_ACCOUNT}:inference-profile/anthropic.claude-v2"
_ENGINE_MODEL_IDS = (
    *_ENGINE_MODELS,
    _fm("us-east-1", "anthropic.claude-v2"),
    _fm("us-west-2", "amazon.nova-pro-v1:0"),
    _fm("cn-north-1", "anthropic.claude-v2", "aws-cn"),
    _fm("us-gov-west-1", "anthropic.claude-v2", "aws-us-gov"),
    *_TRUTH,
    _UNRESOLVED,
    _SYSTEM_NO_GEO,
    "arn:aws:sagemaker:us-east-1:123456789012:endpoint",  # malformed: fails closed
    "arn:aws:bedrock:us-east-1:123456789012:prompt/P1",
)
_MAP_TARGETS = (*_TRUTH, "us.anthropic.claude-3-haiku-v1:0", _app("us-west-2", "west"))
_GUARDRAIL_IDS = ("", "abc", "xyz")
_CALL_GUARDRAILS = (
    None,
    ("abc", "3"),
    ("abc", "4"),
    ("xyz", "1"),
    (f"arn:aws:bedrock:us-east-1:{_ACCOUNT}:guardrail/abc", "3"),
    (f"arn:aws:bedrock:eu-central-1:{_ACCOUNT}:guardrail/qqq", "1"),
    (f"arn:aws-cn:bedrock:cn-north-1:{_ACCOUNT}:guardrail/abc", "3"),
)


def _known(arns: list[str]) -> dict[str, KnownProfile]:
    return {arn: KnownProfile(models=_TRUTH[arn]) for arn in arns}


@st.composite
def engine_full(draw: st.DrawFn) -> Policy:
    identifier = draw(st.sampled_from(_GUARDRAIL_IDS))
    maps = st.dictionaries(
        st.sampled_from(("anthropic.claude-3-haiku-v1:0", "amazon.nova-pro-v1:0")),
        st.sampled_from(_MAP_TARGETS),
        max_size=2,
    )
    return Policy(
        guardrail=GuardrailPolicy(identifier=identifier, version="3" if identifier else ""),
        inference_profile=InferenceProfilePolicy(
            required=draw(st.booleans()),
            map=draw(maps),
            regional_map=draw(st.dictionaries(st.sampled_from(_REGIONS), maps, max_size=1)),
            known=_known(draw(st.lists(st.sampled_from(list(_TRUTH)), unique=True))),
        ),
        regions=RegionsPolicy(
            allowed=draw(_maybe_list(st.sampled_from(_REGIONS))),
            cross_region=draw(st.booleans()),
            allowed_geographies=tuple(draw(st.lists(st.sampled_from(_GEOS), max_size=3))),
        ),
        models=ModelsPolicy(
            allow=draw(_maybe_list(st.sampled_from(_GENERAL_PATTERNS))),
            deny=tuple(draw(st.lists(st.sampled_from(_GENERAL_PATTERNS), max_size=2))),
        ),
        service_tier=ServiceTierPolicy(allowed=draw(_maybe_list(st.sampled_from(_TIERS)))),
        auth=AuthPolicy(allow_api_keys=draw(st.booleans())),
        operations=OperationsPolicy(
            allow_without_guardrail=tuple(
                draw(st.lists(st.sampled_from(OPERATIONS), max_size=4, unique=True))
            )
        ),
    )


def _routes(region: str) -> dict[str, ResolvedProfile]:
    """What the adapter resolves for a client in ``region`` (its own region's profiles)."""
    out = {}
    for arn, models in _TRUTH.items():
        if arn.split(":")[3] != region:
            continue
        refs = [m.split(":")[3] for m in models]
        ids = [m.split("/", 1)[1] for m in models]
        out[arn] = ResolvedProfile(arn=arn, regions=tuple(refs), model_ids=tuple(ids))
    return out


@st.composite
def engine_every_call(draw: st.DrawFn) -> Call:
    operation = draw(st.sampled_from((*OPERATIONS, "FutureOperation")))
    region = draw(st.sampled_from(_REGIONS))
    params: dict[str, object] = {"modelId": draw(st.sampled_from(_ENGINE_MODEL_IDS))}
    guardrail = draw(st.sampled_from(_CALL_GUARDRAILS))
    tier = draw(st.none() | st.sampled_from(_TIERS))
    if operation in ("Converse", "ConverseStream"):
        params["messages"] = []
        if guardrail is not None:
            params["guardrailConfig"] = {
                "guardrailIdentifier": guardrail[0],
                "guardrailVersion": guardrail[1],
            }
        if tier is not None:
            params["serviceTier"] = {"type": tier}
    elif operation in ("InvokeModel", "InvokeModelWithResponseStream"):
        params["body"] = b"{}"
        if guardrail is not None:
            params["guardrailIdentifier"], params["guardrailVersion"] = guardrail
        if tier is not None:
            params["serviceTier"] = tier
    elif operation == "ApplyGuardrail":
        params = {"guardrailIdentifier": (guardrail or ("abc", "3"))[0], "content": []}
    elif operation == "GetAsyncInvoke":
        arn_region = draw(st.sampled_from(_REGIONS))
        params = {"invocationArn": f"arn:aws:bedrock:{arn_region}:{_ACCOUNT}:async-invoke/x1"}
    elif operation in ("ListAsyncInvokes", "InvokeGuardrailChecks"):
        params = {}
    return Call(
        operation=operation,
        region=region,
        partition="aws",
        params=params,
        auth=draw(st.sampled_from(("sigv4", "bearer"))),
        resolved_profiles=_routes(region),
        unresolved_profiles={_UNRESOLVED: "GetInferenceProfile: not found"},
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer_pairs(engine_full()), st.lists(engine_every_call(), max_size=6))
def test_engine_over_every_operation_an_overlay_never_lets_out_what_a_layer_refuses(
    layers: tuple[Policy, Policy], sample: list[Call]
) -> None:
    """What the merged policy sends (after its changes), each layer would send too."""
    a, b = layers
    merged = _merge_or_none(a, b)
    assume(merged is not None)
    assert merged is not None
    # The overlay judged alone, with what the floor knows about profile routes: a
    # ``[inference_profile.known]`` entry is a fact about where a profile goes (like a
    # resolved route), not a permission, so without it the overlay alone would refuse a
    # call merely for not knowing its route.
    knowing = Policy(
        mode=TOP.mode,
        network=TOP.network,
        guardrail=TOP.guardrail,
        regions=TOP.regions,
        operations=TOP.operations,
        inference_profile=InferenceProfilePolicy(known=a.inference_profile.known),
    )
    alone = _merge_or_none(knowing, b)
    assume(alone is not None)
    assert alone is not None
    for call in sample:
        decision = evaluate(merged, call)
        if not decision.allowed:
            continue
        sent = dataclasses.replace(call, params=decision.params)
        assert evaluate(a, sent).allowed, (call, evaluate(a, sent).violations)
        assert evaluate(alone, sent).allowed, (call, evaluate(alone, sent).violations)
