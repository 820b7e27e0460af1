"""The pure policy engine: every rule, per operation, without a network."""

from __future__ import annotations

import copy
import types
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securebedrock._policy import (
    AuthPolicy,
    GuardrailPolicy,
    InferenceProfilePolicy,
    KnownProfile,
    ModelsPolicy,
    OperationsPolicy,
    Policy,
    RegionsPolicy,
    ServiceTierPolicy,
)
from securebedrock._rules import (
    GUARDRAIL_CAPABLE_OPERATIONS,
    GUARDRAIL_INCAPABLE_OPERATIONS,
    Call,
    Decision,
    ResolvedProfile,
    evaluate,
    outcome,
    profiles_to_resolve,
)

ACCT = "123456789012"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA = "amazon.nova-pro-v1:0"
GR_ID = "gr1abc2def3g"
GR_ARN = f"arn:aws:bedrock:us-east-1:{ACCT}:guardrail/{GR_ID}"
APP = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
SECRET = "SECRET-PROMPT-TEXT"

GUARDED = Policy(guardrail=GuardrailPolicy(identifier=GR_ID, version="3"))


def call(op: str = "Converse", region: str = "us-east-1", **params: Any) -> Call:
    extra: dict[str, Any] = {}
    for key in ("auth", "resolved_profiles", "unresolved_profiles", "partition"):
        if key in params:
            extra[key] = params.pop(key)
    if op in ("Converse", "ConverseStream"):
        params.setdefault("messages", [{"role": "user", "content": [{"text": SECRET}]}])
    if op in ("InvokeModel", "InvokeModelWithResponseStream"):
        params.setdefault("body", b'{"prompt": "' + SECRET.encode() + b'"}')
    return Call(operation=op, region=region, params=params, **extra)


def rules(decision: Decision) -> list[str]:
    return [v.rule for v in decision.violations]


def only(decision: Decision, rule: str) -> None:
    assert rules(decision) == [rule], decision.violations
    v = decision.violations[0]
    assert v.found and v.expected and v.fix
    text = " ".join((v.found, v.expected, v.fix))
    assert SECRET not in text


# --- guardrail ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Converse", "ConverseStream"])
def test_attaches_guardrail_to_converse(op: str) -> None:
    c = call(op, modelId=SONNET)
    d = evaluate(GUARDED, c)
    assert d.allowed
    assert d.params["guardrailConfig"] == {
        "guardrailIdentifier": GR_ID,
        "guardrailVersion": "3",
        "trace": "enabled",
    }
    assert [(ch.path, ch.rule) for ch in d.changes] == [("guardrailConfig", "guardrail.missing")]
    assert (d.guardrail_id, d.guardrail_version) == (GR_ID, "3")
    assert "guardrailConfig" not in c.params  # the caller's params are never mutated


def test_converse_stream_keeps_stream_processing_mode() -> None:
    d = evaluate(
        GUARDED,
        call("ConverseStream", modelId=SONNET, guardrailConfig={"streamProcessingMode": "async"}),
    )
    assert d.params["guardrailConfig"] == {
        "guardrailIdentifier": GR_ID,
        "guardrailVersion": "3",
        "trace": "enabled",
        "streamProcessingMode": "async",
    }


@pytest.mark.parametrize("op", ["InvokeModel", "InvokeModelWithResponseStream"])
@pytest.mark.parametrize(
    ("trace", "header"),
    [("enabled", "ENABLED"), ("disabled", "DISABLED"), ("enabled_full", "ENABLED_FULL")],
)
def test_attaches_guardrail_to_invoke(op: str, trace: str, header: str) -> None:
    policy = Policy(guardrail=GuardrailPolicy(identifier=GR_ARN, version="7", trace=trace))  # type: ignore[arg-type]
    d = evaluate(policy, call(op, modelId=SONNET))
    assert d.allowed
    assert (d.params["guardrailIdentifier"], d.params["guardrailVersion"], d.params["trace"]) == (
        GR_ARN,
        "7",
        header,
    )
    assert {ch.rule for ch in d.changes} == {"guardrail.missing"}


@pytest.mark.parametrize("given_id", [GR_ID, GR_ARN])
@pytest.mark.parametrize("mandated", [GR_ID, GR_ARN])
def test_same_guardrail_as_id_or_arn_is_not_a_conflict(given_id: str, mandated: str) -> None:
    policy = Policy(guardrail=GuardrailPolicy(identifier=mandated, version="3"))
    config = {"guardrailIdentifier": given_id, "guardrailVersion": "3", "trace": "disabled"}
    d = evaluate(policy, call(modelId=SONNET, guardrailConfig=config))
    assert d.allowed and not d.changes
    assert d.params["guardrailConfig"] == config  # the caller's trace is kept
    d = evaluate(
        policy,
        call("InvokeModel", modelId=SONNET, guardrailIdentifier=given_id, guardrailVersion="3"),
    )
    assert d.allowed and not d.changes


def test_same_guardrail_without_version_gets_the_version() -> None:
    d = evaluate(GUARDED, call(modelId=SONNET, guardrailConfig={"guardrailIdentifier": GR_ID}))
    assert d.allowed
    assert d.params["guardrailConfig"]["guardrailVersion"] == "3"


@pytest.mark.parametrize(
    "config",
    [
        {"guardrailIdentifier": "other1234567", "guardrailVersion": "3"},
        {"guardrailIdentifier": GR_ID, "guardrailVersion": "2"},
        {"guardrailIdentifier": GR_ID, "guardrailVersion": "DRAFT"},
        {
            "guardrailIdentifier": f"arn:aws:bedrock:us-west-2:{ACCT}:guardrail/other1234567",
            "guardrailVersion": "3",
        },
    ],
)
def test_guardrail_conflict(config: dict[str, str]) -> None:
    only(evaluate(GUARDED, call(modelId=SONNET, guardrailConfig=config)), "guardrail.conflict")
    only(evaluate(GUARDED, call("InvokeModel", modelId=SONNET, **config)), "guardrail.conflict")


def test_two_different_arns_of_the_same_id_conflict() -> None:
    policy = Policy(guardrail=GuardrailPolicy(identifier=GR_ARN, version="3"))
    other = GR_ARN.replace(ACCT, "999999999999")
    d = evaluate(
        policy,
        call(
            modelId=SONNET, guardrailConfig={"guardrailIdentifier": other, "guardrailVersion": "3"}
        ),
    )
    only(d, "guardrail.conflict")


def test_guardrail_missing_when_it_cannot_be_attached() -> None:
    # The policy parser requires a version; the engine still fails closed without one.
    unversioned = GuardrailPolicy(identifier=GR_ID, version="3")
    object.__setattr__(unversioned, "version", "")
    no_version = Policy(guardrail=unversioned)
    only(evaluate(no_version, call(modelId=SONNET)), "guardrail.missing")
    only(evaluate(no_version, call("InvokeModel", modelId=SONNET)), "guardrail.missing")
    only(evaluate(GUARDED, call(modelId=SONNET, guardrailConfig=["x"])), "guardrail.missing")


@pytest.mark.parametrize("op", sorted(GUARDRAIL_INCAPABLE_OPERATIONS))
def test_guardrail_unsupported_operation(op: str) -> None:
    c = call(op, modelId=SONNET)
    only(evaluate(GUARDED, c), "guardrail.unsupported_operation")
    listed = Policy(
        guardrail=GUARDED.guardrail,
        operations=OperationsPolicy(allow_without_guardrail=(op,)),
    )
    assert evaluate(listed, c).allowed
    assert evaluate(Policy(), c).allowed


def test_unknown_operation_fails_closed_under_a_guardrail() -> None:
    only(
        evaluate(GUARDED, call("InvokeSomethingNew", modelId=SONNET)),
        "guardrail.unsupported_operation",
    )


@pytest.mark.parametrize(
    ("op", "params"),
    [
        (
            "ApplyGuardrail",
            {
                "guardrailIdentifier": "another12345",
                "guardrailVersion": "1",
                "source": "INPUT",
                "content": [{"text": {"text": SECRET}}],
            },
        ),
        ("InvokeGuardrailChecks", {"messages": [], "checks": {}}),
        (
            "GetAsyncInvoke",
            {"invocationArn": f"arn:aws:bedrock:us-east-1:{ACCT}:async-invoke/abc123def456"},
        ),
        ("ListAsyncInvokes", {}),
    ],
)
def test_non_inference_operations_need_no_guardrail(op: str, params: dict[str, Any]) -> None:
    d = evaluate(GUARDED, call(op, **params))
    assert d.allowed and not d.changes
    assert d.params is not None


def test_guardrail_operations_in_other_regions_are_cross_region() -> None:
    foreign = f"arn:aws:bedrock:eu-west-1:{ACCT}:guardrail/abc123"
    only(
        evaluate(
            Policy(), call("ApplyGuardrail", guardrailIdentifier=foreign, guardrailVersion="1")
        ),
        "region.cross_region",
    )
    only(
        evaluate(
            Policy(),
            call(
                modelId=SONNET,
                guardrailConfig={"guardrailIdentifier": foreign, "guardrailVersion": "1"},
            ),
        ),
        "region.cross_region",
    )
    job = f"arn:aws:bedrock:eu-west-1:{ACCT}:async-invoke/abc123def456"
    only(evaluate(Policy(), call("GetAsyncInvoke", invocationArn=job)), "region.cross_region")


def test_capable_and_incapable_operations_cover_botocore() -> None:
    import botocore.session

    ops = set(botocore.session.get_session().get_service_model("bedrock-runtime").operation_names)
    assert ops >= GUARDRAIL_CAPABLE_OPERATIONS | GUARDRAIL_INCAPABLE_OPERATIONS
    assert GUARDRAIL_CAPABLE_OPERATIONS == {
        "Converse",
        "ConverseStream",
        "InvokeModel",
        "InvokeModelWithResponseStream",
    }


# --- inference profiles -------------------------------------------------------------------

MAPPED = Policy(
    inference_profile=InferenceProfilePolicy(
        required=True,
        map=types.MappingProxyType({SONNET: APP}),
        known=types.MappingProxyType(
            {APP: KnownProfile(models=(f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}",))}
        ),
    )
)


@pytest.mark.parametrize("sent", [SONNET, f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}"])
@pytest.mark.parametrize("op", ["Converse", "InvokeModel", "StartAsyncInvoke"])
def test_map_rewrites_to_the_profile(sent: str, op: str) -> None:
    d = evaluate(MAPPED, call(op, modelId=sent))
    assert d.allowed, d.violations
    assert d.params["modelId"] == APP
    assert (d.model_requested, d.model_sent, d.inference_profile) == (sent, APP, APP)
    assert [(ch.path, ch.old, ch.new, ch.rule) for ch in d.changes] == [
        ("modelId", sent, APP, "inference_profile.map")
    ]


def test_count_tokens_is_not_mapped() -> None:
    d = evaluate(MAPPED, call("CountTokens", modelId=SONNET))
    assert d.allowed and d.params["modelId"] == SONNET


def test_profile_required() -> None:
    only(evaluate(MAPPED, call(modelId=NOVA)), "inference_profile.required")
    only(evaluate(MAPPED, call("InvokeModel", modelId=NOVA)), "inference_profile.required")
    geo_ok = Policy(
        inference_profile=InferenceProfilePolicy(required=True),
        regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)),
    )
    assert evaluate(geo_ok, call(modelId=f"us.{NOVA}")).allowed
    only(
        evaluate(
            geo_ok, call(modelId=f"arn:aws:bedrock:us-east-1:{ACCT}:provisioned-model/abc123def456")
        ),
        "inference_profile.required",
    )


def test_profiles_to_resolve_names_the_arn_after_mapping() -> None:
    unknown_app = APP.replace("a1b2c3d4e5f6", "zzzzzzzzzzzz")
    policy = Policy(
        inference_profile=InferenceProfilePolicy(map=types.MappingProxyType({NOVA: unknown_app}))
    )
    assert profiles_to_resolve(policy, call(modelId=NOVA)) == (unknown_app,)
    assert profiles_to_resolve(policy, call(modelId=unknown_app)) == (unknown_app,)
    assert profiles_to_resolve(policy, call(modelId=SONNET)) == ()
    # pre-declared profiles never need a control-plane call
    assert profiles_to_resolve(MAPPED, call(modelId=SONNET)) == ()
    # another region's profile cannot be resolved with this region's control plane
    assert profiles_to_resolve(policy, call(modelId=unknown_app, region="us-west-2")) == ()
    assert profiles_to_resolve(policy, call("ListAsyncInvokes")) == ()


# --- regions -----------------------------------------------------------------------------


def test_client_region_not_allowed() -> None:
    policy = Policy(regions=RegionsPolicy(allowed=("us-east-1",)))
    for op in ("Converse", "ListAsyncInvokes", "ApplyGuardrail", "CountTokens"):
        only(
            evaluate(
                policy,
                call(
                    op,
                    region="eu-west-1",
                    **({"modelId": SONNET} if op in ("Converse", "CountTokens") else {}),
                ),
            ),
            "region.not_allowed",
        )
    assert evaluate(policy, call(modelId=SONNET)).allowed


@pytest.mark.parametrize("geo", ["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"])
def test_geo_profiles_are_cross_region(geo: str) -> None:
    as_id = f"{geo}.{SONNET}"
    as_arn = f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/{as_id}"
    for model_id in (as_id, as_arn):
        only(evaluate(Policy(), call(modelId=model_id)), "region.cross_region")
        opted = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=(geo,)))
        assert evaluate(opted, call(modelId=model_id)).allowed
        # cross_region without naming the geography still refuses
        only(
            evaluate(Policy(regions=RegionsPolicy(cross_region=True)), call(modelId=model_id)),
            "region.cross_region",
        )


def test_global_only_when_named() -> None:
    policy = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("us", "eu")))
    only(evaluate(policy, call(modelId=f"global.{SONNET}")), "region.cross_region")
    assert evaluate(policy, call(modelId=f"eu.{SONNET}")).allowed


def test_foreign_arns() -> None:
    foreign = f"arn:aws:bedrock:eu-west-1::foundation-model/{SONNET}"
    only(evaluate(Policy(), call(modelId=foreign)), "region.cross_region")
    us_only = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)))
    only(evaluate(us_only, call(modelId=foreign)), "region.cross_region")
    eu_ok = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("eu",)))
    assert evaluate(eu_ok, call(modelId=foreign)).allowed
    # any region named in an ARN must be allowed, even with cross_region
    listed = Policy(
        regions=RegionsPolicy(
            allowed=("us-east-1",), cross_region=True, allowed_geographies=("eu",)
        )
    )
    only(evaluate(listed, call(modelId=foreign)), "region.not_allowed")
    # another partition is never reachable
    gov = f"arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/{SONNET}"
    only(evaluate(eu_ok, call(modelId=gov)), "region.cross_region")
    in_region = f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}"
    assert evaluate(Policy(), call(modelId=in_region)).allowed
    for kind in ("provisioned-model", "imported-model", "custom-model-deployment"):
        arn = f"arn:aws:bedrock:us-west-2:{ACCT}:{kind}/abc123def456"
        only(evaluate(Policy(), call(modelId=arn)), "region.cross_region")
        assert evaluate(Policy(), call(modelId=arn, region="us-west-2")).allowed


def test_unknown_model_forms_fail_closed() -> None:
    only(evaluate(Policy(), call(modelId="my-model")), "region.cross_region")
    only(evaluate(Policy(), call(modelId="xx.anthropic.claude-v2")), "region.cross_region")


def _resolved(regions: tuple[str, ...], models: tuple[str, ...] = (SONNET,)) -> dict[str, Any]:
    return {APP: ResolvedProfile(arn=APP, regions=regions, model_ids=models)}


def test_application_profile_resolution() -> None:
    c = call(modelId=APP, resolved_profiles=_resolved(("us-east-1",)))
    assert evaluate(Policy(), c).allowed
    assert profiles_to_resolve(Policy(), c) == (APP,)
    routed = call(modelId=APP, resolved_profiles=_resolved(("us-east-1", "us-west-2")))
    only(evaluate(Policy(), routed), "region.cross_region")
    us = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)))
    assert evaluate(us, routed).allowed
    to_eu = call(modelId=APP, resolved_profiles=_resolved(("us-east-1", "eu-west-1")))
    only(evaluate(us, to_eu), "region.cross_region")
    pinned = Policy(
        regions=RegionsPolicy(
            allowed=("us-east-1",), cross_region=True, allowed_geographies=("us",)
        )
    )
    only(evaluate(pinned, routed), "region.not_allowed")


def test_unresolved_profile_fails_closed_with_a_fix() -> None:
    d = evaluate(Policy(), call(modelId=APP, unresolved_profiles={APP: "AccessDeniedException"}))
    only(d, "region.cross_region")
    v = d.violations[0]
    assert "AccessDeniedException" in v.found
    assert "bedrock:GetInferenceProfile" in v.fix and "inference_profile.known" in v.fix
    # not even attempted: still refused
    only(evaluate(Policy(), call(modelId=APP)), "region.cross_region")
    # another region's profile, with cross_region: cannot be resolved here
    opted = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)))
    only(evaluate(opted, call(modelId=APP, region="us-west-2")), "region.cross_region")


def test_known_profiles_route_without_a_call() -> None:
    known = Policy(
        inference_profile=InferenceProfilePolicy(
            known=types.MappingProxyType(
                {
                    APP: KnownProfile(
                        models=(f"arn:aws:bedrock:us-west-2::foundation-model/{SONNET}",)
                    ),
                }
            )
        )
    )
    only(evaluate(known, call(modelId=APP)), "region.cross_region")
    assert evaluate(known, call(modelId=APP, region="us-west-2")).allowed is False  # ARN region
    in_region = Policy(
        inference_profile=InferenceProfilePolicy(
            known=types.MappingProxyType(
                {
                    APP: KnownProfile(
                        models=(f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}",)
                    ),
                }
            )
        ),
        models=ModelsPolicy(allow=("anthropic.*",)),
    )
    assert evaluate(in_region, call(modelId=APP)).allowed
    assert profiles_to_resolve(in_region, call(modelId=APP)) == ()


@pytest.mark.parametrize(
    "kind", ["default-prompt-router/anthropic.claude:1", "prompt-router/mine", "prompt/PROMPT1234"]
)
def test_prompt_routers_and_prompts_fail_closed(kind: str) -> None:
    router = f"arn:aws:bedrock:us-east-1:{ACCT}:{kind}"
    d = evaluate(Policy(), call(modelId=router))
    only(d, "region.cross_region")
    assert "call the model or inference profile directly" in d.violations[0].fix
    anywhere = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("global",)))
    assert evaluate(anywhere, call(modelId=router)).allowed
    assert profiles_to_resolve(anywhere, call(modelId=router)) == ()


# --- models ------------------------------------------------------------------------------

ALLOW = Policy(
    models=ModelsPolicy(allow=("anthropic.claude-*", "amazon.nova-*"), deny=("*-haiku-*",)),
    regions=RegionsPolicy(cross_region=True, allowed_geographies=("us", "eu")),
)


@pytest.mark.parametrize(
    ("model_id", "allowed"),
    [
        (SONNET, True),
        (f"us.{SONNET}", True),
        (f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}", True),
        (f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/eu.{NOVA}", True),
        ("anthropic.claude-3-haiku-20240307-v1:0", False),  # deny wins over allow
        ("us.anthropic.claude-3-haiku-20240307-v1:0", False),
        ("meta.llama3-70b-instruct-v1:0", False),
        ("ANTHROPIC.claude-3", False),  # case-sensitive (and not a known form either)
        (f"arn:aws:bedrock:us-east-1:{ACCT}:provisioned-model/abc123def456", False),
        (f"arn:aws:bedrock:us-east-1:{ACCT}:custom-model/amazon.nova-pro-v1:0/abc123def456", False),
        (f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint/my-endpoint", False),
    ],
)
def test_model_globs(model_id: str, allowed: bool) -> None:
    d = evaluate(ALLOW, call(modelId=model_id))
    assert ("model.not_allowed" not in rules(d)) == allowed, d.violations


def test_model_rules_on_every_model_operation() -> None:
    for op in (
        "Converse",
        "ConverseStream",
        "InvokeModel",
        "InvokeModelWithResponseStream",
        "InvokeModelWithBidirectionalStream",
        "StartAsyncInvoke",
        "CountTokens",
    ):
        only(
            evaluate(ALLOW, call(op, modelId="meta.llama3-70b-instruct-v1:0")), "model.not_allowed"
        )


def test_every_model_behind_a_profile_must_pass() -> None:
    c = call(modelId=APP, resolved_profiles=_resolved(("us-east-1",), (SONNET, "meta.llama3")))
    only(evaluate(ALLOW, c), "model.not_allowed")
    ok = call(modelId=APP, resolved_profiles=_resolved(("us-east-1",), (SONNET, NOVA)))
    assert evaluate(ALLOW, ok).allowed


def test_allow_none_empty_and_deny_only() -> None:
    assert evaluate(Policy(models=ModelsPolicy(allow=None)), call(modelId=SONNET)).allowed
    only(evaluate(Policy(models=ModelsPolicy(allow=())), call(modelId=SONNET)), "model.not_allowed")
    deny_only = Policy(models=ModelsPolicy(deny=("meta.*",)))
    provisioned = f"arn:aws:bedrock:us-east-1:{ACCT}:provisioned-model/abc123def456"
    assert evaluate(deny_only, call(modelId=provisioned)).allowed
    only(evaluate(deny_only, call(modelId="meta.llama3-70b-instruct-v1:0")), "model.not_allowed")


# --- service tier, auth --------------------------------------------------------------------

TIERS = Policy(service_tier=ServiceTierPolicy(allowed=("default", "priority")))


@pytest.mark.parametrize(
    ("op", "tier", "allowed"),
    [
        ("Converse", None, True),
        ("Converse", {"type": "priority"}, True),
        ("ConverseStream", {"type": "flex"}, False),
        ("Converse", {"nope": 1}, False),
        ("Converse", "priority", False),  # a string where botocore wants a structure
        ("InvokeModel", None, True),
        ("InvokeModel", "priority", True),
        ("InvokeModelWithResponseStream", "reserved", False),
    ],
)
def test_service_tier(op: str, tier: Any, allowed: bool) -> None:
    params: dict[str, Any] = {"modelId": SONNET}
    if tier is not None:
        params["serviceTier"] = tier
    d = evaluate(TIERS, call(op, **params))
    if allowed:
        assert d.allowed
    else:
        only(d, "service_tier.not_allowed")


def test_default_tier_must_be_allowed_when_absent() -> None:
    only(
        evaluate(
            Policy(service_tier=ServiceTierPolicy(allowed=("priority",))), call(modelId=SONNET)
        ),
        "service_tier.not_allowed",
    )


def test_bearer_auth() -> None:
    no_keys = Policy(auth=AuthPolicy(allow_api_keys=False))
    for op in ("Converse", "ListAsyncInvokes"):
        only(
            evaluate(
                no_keys,
                call(op, auth="bearer", **({"modelId": SONNET} if op == "Converse" else {})),
            ),
            "auth.api_key",
        )
    assert evaluate(no_keys, call(modelId=SONNET)).allowed
    assert evaluate(Policy(), call(modelId=SONNET, auth="bearer")).allowed


# --- decision bookkeeping -------------------------------------------------------------------


def test_outcome() -> None:
    attach = evaluate(GUARDED, call(modelId=SONNET))
    refuse = evaluate(GUARDED, call("StartAsyncInvoke", modelId=SONNET))
    plain = evaluate(Policy(), call(modelId=SONNET))
    assert outcome(attach, enforce=True) == "allow"
    assert outcome(attach, enforce=False) == "log_only"
    assert outcome(refuse, enforce=True) == "deny"
    assert outcome(refuse, enforce=False) == "log_only"
    assert outcome(plain, enforce=False) == "allow"
    assert refuse.rules == ("guardrail.unsupported_operation",)


def test_violations_accumulate_and_hold_no_content() -> None:
    strict = Policy(
        guardrail=GuardrailPolicy(identifier=GR_ID, version="3"),
        regions=RegionsPolicy(allowed=("us-east-1",)),
        models=ModelsPolicy(allow=("amazon.*",)),
        service_tier=ServiceTierPolicy(allowed=("default",)),
        auth=AuthPolicy(allow_api_keys=False),
        inference_profile=InferenceProfilePolicy(required=True),
    )
    d = evaluate(
        strict,
        call(
            "InvokeModel",
            region="eu-west-1",
            modelId=f"eu.{SONNET}",
            serviceTier="flex",
            auth="bearer",
            guardrailIdentifier="zzz",
            guardrailVersion="1",
        ),
    )
    assert set(rules(d)) == {
        "auth.api_key",
        "region.not_allowed",
        "guardrail.conflict",
        "region.cross_region",
        "model.not_allowed",
        "service_tier.not_allowed",
    }
    for v in d.violations:
        assert SECRET not in repr(v)


def test_a_policy_is_compiled_once_not_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # What keeps evaluate() cheap is that globs, sets and known profiles are compiled once
    # per policy object; its speed is measured in the benchmark (docs/performance.md), never
    # asserted as a time here.
    import securebedrock._rules._compiler as rules

    policy = Policy(
        guardrail=GuardrailPolicy(identifier=GR_ID, version="3"),
        regions=RegionsPolicy(allowed=("us-east-1",)),
        models=ModelsPolicy(allow=("anthropic.claude-*", "amazon.nova-*"), deny=("*-haiku-*",)),
        service_tier=ServiceTierPolicy(allowed=("default", "priority")),
    )
    compiled: list[Policy] = []
    original = rules._compile

    def counting(p: Policy) -> object:
        compiled.append(p)
        return original(p)

    monkeypatch.setattr(rules, "_compile", counting)
    c = call(modelId=SONNET)
    first = evaluate(policy, c)
    for _ in range(50):
        assert evaluate(policy, c) == first
    assert compiled == [policy]


def test_compiled_cache_follows_the_policy_object() -> None:
    import gc

    from securebedrock import _rules

    before = len(_rules._cache)
    policies = [Policy(models=ModelsPolicy(allow=(f"p{i}.*",))) for i in range(20)]
    for i, p in enumerate(policies):
        assert evaluate(p, call(modelId=f"p{i}.model-v1:0")).allowed
        only(evaluate(p, call(modelId="q.model-v1:0")), "model.not_allowed")
    del policies, p
    gc.collect()
    assert len(_rules._cache) <= before


# --- properties ------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
_keys = st.sampled_from(
    [
        "modelId",
        "guardrailConfig",
        "guardrailIdentifier",
        "guardrailVersion",
        "trace",
        "serviceTier",
        "invocationArn",
        "messages",
    ]
)
_ops = st.sampled_from(
    sorted(
        GUARDRAIL_CAPABLE_OPERATIONS
        | GUARDRAIL_INCAPABLE_OPERATIONS
        | {"ApplyGuardrail", "GetAsyncInvoke", "Nope"}
    )
)
STRICT = Policy(
    guardrail=GuardrailPolicy(identifier=GR_ID, version="3"),
    models=ModelsPolicy(allow=("anthropic.*",)),
    service_tier=ServiceTierPolicy(allowed=("default",)),
    regions=RegionsPolicy(allowed=("us-east-1",)),
)


@settings(max_examples=120, deadline=None)
@given(
    _ops, st.dictionaries(_keys, _json | st.sampled_from([SONNET, f"us.{SONNET}", APP]), max_size=5)
)
def test_never_raises_and_never_mutates(op: str, params: Mapping[str, Any]) -> None:
    frozen = copy.deepcopy(params)
    for policy in (STRICT, Policy(), GUARDED):
        d = evaluate(policy, Call(operation=op, region="us-east-1", params=params))
        assert params == frozen
        if d.allowed and op in GUARDRAIL_CAPABLE_OPERATIONS and policy.guardrail.mandated:
            assert d.guardrail_id in (GR_ID, GR_ARN) and d.guardrail_version == "3"


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(
        [
            SONNET,
            NOVA,
            f"us.{SONNET}",
            f"eu.{NOVA}",
            "meta.llama3-8b-v1:0",
            f"arn:aws:bedrock:us-west-2::foundation-model/{NOVA}",
        ]
    ),
    st.lists(st.sampled_from(["anthropic.*", "amazon.*", "*-v1:0", "meta.*"]), max_size=3),
    st.lists(st.sampled_from(["*sonnet*", "amazon.*", "meta.*"]), max_size=2),
)
def test_adding_a_deny_pattern_never_loosens(
    model_id: str, allow: list[str], deny: list[str]
) -> None:
    regions = RegionsPolicy(cross_region=True, allowed_geographies=("us", "eu"))
    base = Policy(models=ModelsPolicy(allow=tuple(allow), deny=tuple(deny)), regions=regions)
    tighter = Policy(
        models=ModelsPolicy(allow=tuple(allow), deny=(*deny, "meta.*")), regions=regions
    )
    if not evaluate(base, call(modelId=model_id)).allowed:
        assert not evaluate(tighter, call(modelId=model_id)).allowed


# --------------------------------------------------------------------------- version changes
# and models exempt from the guardrail (pure engine; end to end in test_guardrail_versions.py)

CHANGING = Policy(
    guardrail=GuardrailPolicy(
        identifier=GR_ID,
        version=["4", "3"],  # type: ignore[arg-type]
        exempt_models=("amazon.titan-embed-*",),
    )
)
EMBED = "amazon.titan-embed-text-v2:0"


@pytest.mark.parametrize("op", ["Converse", "ConverseStream"])
@pytest.mark.parametrize(("version", "allowed"), [("4", True), ("3", True), ("2", False)])
def test_a_call_may_name_any_accepted_version_on_converse(
    op: str, version: str, allowed: bool
) -> None:
    config = {"guardrailIdentifier": GR_ID, "guardrailVersion": version}
    decision = evaluate(CHANGING, call(op, modelId=SONNET, guardrailConfig=config))
    assert decision.allowed is allowed
    if allowed:
        assert decision.params["guardrailConfig"]["guardrailVersion"] == version
    else:
        assert rules(decision) == ["guardrail.conflict"]


@pytest.mark.parametrize("op", ["InvokeModel", "InvokeModelWithResponseStream"])
@pytest.mark.parametrize(("version", "allowed"), [("4", True), ("3", True), ("DRAFT", False)])
def test_a_call_may_name_any_accepted_version_on_invoke(
    op: str, version: str, allowed: bool
) -> None:
    decision = evaluate(
        CHANGING, call(op, modelId=SONNET, guardrailIdentifier=GR_ID, guardrailVersion=version)
    )
    assert decision.allowed is allowed
    assert rules(decision) == ([] if allowed else ["guardrail.conflict"])


def test_the_first_accepted_version_is_attached() -> None:
    decision = evaluate(CHANGING, call(modelId=SONNET))
    assert decision.params["guardrailConfig"]["guardrailVersion"] == "4"
    decision = evaluate(CHANGING, call("InvokeModel", modelId=SONNET))
    assert decision.params["guardrailVersion"] == "4"


@pytest.mark.parametrize(
    "model",
    [
        EMBED,
        f"arn:aws:bedrock:us-east-1::foundation-model/{EMBED}",
        f"us.{EMBED}",
    ],
)
def test_an_exempt_model_gets_no_guardrail(model: str) -> None:
    policy = Policy(
        guardrail=CHANGING.guardrail,
        regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)),
    )
    for op in ("InvokeModel", "InvokeModelWithResponseStream"):
        decision = evaluate(policy, call(op, modelId=model))
        assert decision.allowed, rules(decision)
        assert "guardrailIdentifier" not in decision.params
        assert decision.changes == () or all(
            c.rule != "guardrail.missing" for c in decision.changes
        )


@pytest.mark.parametrize(
    "model",
    [
        SONNET,  # not matched
        "amazon.titan-embed",  # the glob needs the dash
        APP,  # an application profile hides its model
        "xamazon.titan-embed-text-v2:0",  # full match only
    ],
)
def test_other_models_still_carry_the_guardrail(model: str) -> None:
    decision = evaluate(CHANGING, call("InvokeModel", modelId=model))
    assert decision.params.get("guardrailIdentifier") == GR_ID


def test_an_exemption_needs_a_model_string() -> None:
    decision = evaluate(CHANGING, call("InvokeModel", modelId=123))
    assert not decision.allowed
    assert decision.params.get("guardrailIdentifier") == GR_ID


def test_an_exempt_model_needs_no_guardrail_on_any_operation() -> None:
    decision = evaluate(
        CHANGING, call("StartAsyncInvoke", modelId=EMBED, modelInput={}, outputDataConfig={})
    )
    assert "guardrail.unsupported_operation" not in rules(decision)
