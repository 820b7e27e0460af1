"""The pure engine's split of a call's rules around a control-plane look-up.

``evaluate_before_resolution`` evaluates every rule that does not need an inference
profile's routes, so the adapter refuses such a call without asking the control plane;
its decision is provisional (it never allows), and once the routes are known
``evaluate`` decides on every rule.
"""

from __future__ import annotations

import types

import pytest
from test_rules_profiles import APP, SONNET, US, converse, refused, routes, rules

from securebedrock._policy import (
    AuthPolicy,
    GuardrailPolicy,
    InferenceProfilePolicy,
    KnownProfile,
    Policy,
    RegionsPolicy,
    ServiceTierPolicy,
)
from securebedrock._rules import (
    Call,
    evaluate,
    evaluate_before_resolution,
    outcome,
    profiles_to_resolve,
)

GR_ID = "gr1abc2def3g"

# --- which rules come before a control-plane look-up ------------------------------------------

#: Calls refused on rules that do not need the profile's routes.
REFUSED_WITHOUT_ROUTES = [
    pytest.param(
        Policy(regions=RegionsPolicy(allowed=("us-west-2",))),
        converse(APP),
        "region.not_allowed",
        id="client-region",
    ),
    pytest.param(
        Policy(auth=AuthPolicy(allow_api_keys=False)),
        converse(APP, auth="bearer"),
        "auth.api_key",
        id="bearer",
    ),
    pytest.param(
        Policy(service_tier=ServiceTierPolicy(allowed=("priority",))),
        converse(APP),
        "service_tier.not_allowed",
        id="tier",
    ),
    pytest.param(
        Policy(guardrail=GuardrailPolicy(identifier=GR_ID, version="3")),
        converse(
            APP, guardrailConfig={"guardrailIdentifier": "other0guard1", "guardrailVersion": "1"}
        ),
        "guardrail.conflict",
        id="guardrail-conflict",
    ),
    pytest.param(
        Policy(guardrail=GuardrailPolicy(identifier=GR_ID, version="3")),
        Call(operation="StartAsyncInvoke", region="us-east-1", params={"modelId": APP}),
        "guardrail.unsupported_operation",
        id="guardrail-incapable",
    ),
]


@pytest.mark.parametrize(("policy", "call", "rule"), REFUSED_WITHOUT_ROUTES)
def test_rules_without_routes_refuse_before_resolution(
    policy: Policy, call: Call, rule: str
) -> None:
    assert profiles_to_resolve(policy, call) == (APP,)
    before = evaluate_before_resolution(policy, call)
    assert before.pending_profiles == (APP,)
    assert rules(before) == [rule]
    assert outcome(before, enforce=True) == "deny"
    assert outcome(before, enforce=False) == "log_only"
    # The full decision refuses for the same rule (and, unresolved, the route too).
    full = evaluate(policy, call)
    assert rule in rules(full) and "region.cross_region" in rules(full)
    # Resolved in-region, the full decision and the early one agree.
    resolved = Call(
        operation=call.operation,
        region=call.region,
        params=call.params,
        auth=call.auth,
        resolved_profiles=routes(APP, ("us-east-1",)),
    )
    assert rules(evaluate(policy, resolved)) == [rule]


def test_a_provisional_decision_never_allows() -> None:
    before = evaluate_before_resolution(Policy(), converse(APP))
    assert before.pending_profiles == (APP,)
    assert before.violations == () and not before.allowed
    with pytest.raises(ValueError, match="provisional"):
        outcome(before, enforce=True)
    with pytest.raises(ValueError, match="provisional"):
        outcome(before, enforce=False)
    # The same decision as evaluate() on everything that does not need routes.
    full = evaluate(Policy(), converse(APP, resolved_profiles=routes(APP, ("us-east-1",))))
    assert before.params == full.params
    assert (before.model_sent, before.inference_profile) == (
        full.model_sent,
        full.inference_profile,
    )


def test_a_mapped_profile_is_pending_under_its_mapped_arn() -> None:
    policy = Policy(
        inference_profile=InferenceProfilePolicy(map=types.MappingProxyType({SONNET: APP})),
        guardrail=GuardrailPolicy(identifier=GR_ID, version="3"),
    )
    before = evaluate_before_resolution(policy, converse(SONNET))
    assert before.pending_profiles == (APP,)
    assert before.params["modelId"] == APP
    assert {c.rule for c in before.changes} == {"inference_profile.map", "guardrail.missing"}


@pytest.mark.parametrize(
    "call",
    [
        converse(SONNET),
        converse(f"us.{SONNET}"),
        converse(APP, resolved_profiles=routes(APP, ("us-west-2",))),
        Call(operation="ListAsyncInvokes", region="us-east-1", params={}),
    ],
)
def test_without_anything_to_resolve_the_early_decision_is_final(call: Call) -> None:
    before = evaluate_before_resolution(Policy(), call)
    assert before == evaluate(Policy(), call)
    assert before.pending_profiles == ()


def test_known_and_foreign_profiles_are_never_pending() -> None:
    known = Policy(
        inference_profile=InferenceProfilePolicy(
            known=types.MappingProxyType(
                {
                    APP: KnownProfile(
                        models=(f"arn:aws:bedrock:us-west-2::foundation-model/{SONNET}",)
                    )
                }
            )
        )
    )
    decision = evaluate_before_resolution(known, converse(APP))
    assert decision.pending_profiles == ()
    refused(decision, "region.cross_region")
    west = APP.replace("us-east-1", "us-west-2")
    foreign = evaluate_before_resolution(Policy(regions=US), converse(west))
    assert foreign.pending_profiles == ()
    refused(foreign, "region.cross_region")
