"""Refusals the engine makes that a regression could quietly turn into allows.

Each test names a call the engine must refuse (or must not rewrite) and pins it,
so that mutation testing (``nox -s mutation``) finds no change to the ``_rules`` package or
``_modelid.py`` that lets such a call through unnoticed. The operation table is
pinned against botocore's own service model, through the engine's behaviour, so
these tests do not depend on where the table lives.
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from securebedrock._modelid import parse_model_id
from securebedrock._policy import (
    GuardrailPolicy,
    InferenceProfilePolicy,
    ModelsPolicy,
    Policy,
    RegionsPolicy,
    ServiceTierPolicy,
)
from securebedrock._rules import Call, Decision, evaluate

ACCT = "123456789012"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
GR_ID = "gr1abc2def3g"
GUARDED = Policy(guardrail=GuardrailPolicy(identifier=GR_ID, version="3"))
#: The loosest region policy there is: any region, any geography, cross-region on.
ANYWHERE = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("global",)))
IN_REGION = Policy(regions=RegionsPolicy(allowed=("us-east-1",)))

SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")


def _members(operation: str) -> dict[str, Any]:
    shape = SERVICE.operation_model(operation).input_shape
    return dict(shape.members) if shape is not None else {}


def _call(operation: str, region: str = "us-east-1", **params: Any) -> Call:
    extra = {k: params.pop(k) for k in ("partition", "auth") if k in params}
    return Call(operation=operation, region=region, params=params, **extra)


def _rules(decision: Decision) -> list[str]:
    return [v.rule for v in decision.violations]


# --------------------------------------------------------------------------- operation table


@pytest.mark.parametrize("operation", SERVICE.operation_names)
def test_model_rules_apply_exactly_to_the_operations_botocore_gives_a_model_id(
    operation: str,
) -> None:
    nothing_allowed = Policy(models=ModelsPolicy(allow=()))
    decision = evaluate(nothing_allowed, _call(operation, modelId=SONNET))
    assert ("model.not_allowed" in _rules(decision)) == ("modelId" in _members(operation))
    assert decision.model_requested == (SONNET if "modelId" in _members(operation) else None)


@pytest.mark.parametrize("operation", SERVICE.operation_names)
def test_the_mandated_guardrail_goes_where_botocore_carries_it(operation: str) -> None:
    members = _members(operation)
    decision = evaluate(GUARDED, _call(operation, modelId=SONNET))
    if "guardrailConfig" in members:
        assert members["guardrailConfig"].type_name == "structure"
        assert decision.allowed
        assert decision.params["guardrailConfig"]["guardrailIdentifier"] == GR_ID
        assert decision.params["guardrailConfig"]["guardrailVersion"] == "3"
    elif "guardrailIdentifier" in members and "modelId" in members:
        assert members["guardrailIdentifier"].serialization["location"] == "header"
        assert decision.allowed
        assert (decision.params["guardrailIdentifier"], decision.params["guardrailVersion"]) == (
            GR_ID,
            "3",
        )
        assert decision.params["trace"] == "ENABLED"
    else:
        # Nothing to carry it: never attached; inference is refused unless listed
        # (CountTokens, which generates nothing, may be allowed by default).
        assert decision.params == {"modelId": SONNET}
        assert decision.changes == ()
        refused = _rules(decision) == ["guardrail.unsupported_operation"]
        if "modelId" not in members:
            assert decision.allowed
        elif operation != "CountTokens":
            assert refused


@pytest.mark.parametrize("operation", SERVICE.operation_names)
def test_service_tier_rules_apply_where_botocore_has_a_service_tier(operation: str) -> None:
    members = _members(operation)
    priority_only = Policy(service_tier=ServiceTierPolicy(allowed=("priority",)))
    absent = evaluate(priority_only, _call(operation, modelId=SONNET))
    assert ("service_tier.not_allowed" in _rules(absent)) == ("serviceTier" in members)
    if "serviceTier" not in members:
        return
    structure = members["serviceTier"].type_name == "structure"
    for tier, allowed in (("priority", True), ("flex", False)):
        value: Any = {"type": tier} if structure else tier
        decision = evaluate(priority_only, _call(operation, modelId=SONNET, serviceTier=value))
        assert decision.allowed is allowed, (tier, decision.violations)
    # The other shape is not read as a tier: refused, never taken as allowed.
    wrong = "priority" if structure else {"type": "priority"}
    decision = evaluate(priority_only, _call(operation, modelId=SONNET, serviceTier=wrong))
    assert _rules(decision) == ["service_tier.not_allowed"]


@pytest.mark.parametrize("operation", SERVICE.operation_names)
def test_a_required_profile_applies_to_every_inference_operation(operation: str) -> None:
    required = Policy(inference_profile=InferenceProfilePolicy(required=True))
    decision = evaluate(required, _call(operation, modelId=SONNET))
    # CountTokens takes a foundation model id (no profile); the rest that name a model infer.
    expected = "modelId" in _members(operation) and operation != "CountTokens"
    assert ("inference_profile.required" in _rules(decision)) == expected


def test_an_operation_the_engine_does_not_know_fails_closed() -> None:
    decision = evaluate(GUARDED, _call("InvokeSomethingNew", modelId=SONNET))
    assert _rules(decision) == ["guardrail.unsupported_operation"]
    required = Policy(inference_profile=InferenceProfilePolicy(required=True))
    assert _rules(evaluate(required, _call("InvokeSomethingNew", modelId=SONNET))) == [
        "inference_profile.required"
    ]


@pytest.mark.parametrize(
    ("operation", "param", "arn"),
    [
        ("ApplyGuardrail", "guardrailIdentifier", f"arn:aws:bedrock:us-west-2:{ACCT}:guardrail/g1"),
        ("GetAsyncInvoke", "invocationArn", f"arn:aws:bedrock:us-west-2:{ACCT}:async-invoke/a1"),
    ],
)
def test_arn_parameters_of_non_inference_operations_are_region_checked(
    operation: str, param: str, arn: str
) -> None:
    assert param in _members(operation)
    assert _rules(evaluate(Policy(), _call(operation, **{param: arn}))) == ["region.cross_region"]
    assert _rules(evaluate(IN_REGION, _call(operation, **{param: arn}))) == ["region.not_allowed"]
    here = arn.replace("us-west-2", "us-east-1")
    assert evaluate(IN_REGION, _call(operation, **{param: here})).allowed


# --------------------------------------------------------------------------- guardrail ARNs


@pytest.mark.parametrize("operation", ["InvokeModel", "InvokeModelWithResponseStream"])
def test_a_guardrail_arn_in_another_region_is_refused_on_invoke_model(operation: str) -> None:
    foreign = f"arn:aws:bedrock:us-west-2:{ACCT}:guardrail/g1"
    params = {"modelId": SONNET, "guardrailIdentifier": foreign, "guardrailVersion": "1"}
    assert _rules(evaluate(Policy(), _call(operation, **params))) == ["region.cross_region"]
    assert _rules(evaluate(IN_REGION, _call(operation, **params))) == ["region.not_allowed"]
    us_only = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("eu",)))
    assert _rules(evaluate(us_only, _call(operation, **params))) == ["region.cross_region"]
    local = {**params, "guardrailIdentifier": foreign.replace("us-west-2", "us-east-1")}
    assert evaluate(IN_REGION, _call(operation, **local)).allowed


def test_a_guardrail_arn_in_another_region_is_refused_on_converse() -> None:
    foreign = f"arn:aws:bedrock:eu-west-1:{ACCT}:guardrail/g1"
    config = {"guardrailIdentifier": foreign, "guardrailVersion": "1"}
    assert _rules(evaluate(IN_REGION, _call("Converse", modelId=SONNET, guardrailConfig=config)))
    assert _rules(
        evaluate(Policy(), _call("ConverseStream", modelId=SONNET, guardrailConfig=config))
    )


def test_a_conflicting_guardrail_is_refused_and_left_as_the_caller_sent_it() -> None:
    for operation, params in (
        (
            "Converse",
            {"guardrailConfig": {"guardrailIdentifier": "other1", "guardrailVersion": "1"}},
        ),
        ("InvokeModel", {"guardrailIdentifier": "other1", "guardrailVersion": "1"}),
        ("InvokeModel", {"guardrailIdentifier": GR_ID, "guardrailVersion": "4"}),
    ):
        call = _call(operation, modelId=SONNET, **params)
        decision = evaluate(GUARDED, call)
        assert _rules(decision) == ["guardrail.conflict"]
        assert decision.changes == ()
        assert decision.params == call.params


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("Converse", {"guardrailConfig": {"guardrailIdentifier": GR_ID, "guardrailVersion": "3"}}),
        ("InvokeModel", {"guardrailIdentifier": GR_ID, "guardrailVersion": "3", "trace": "x"}),
    ],
)
def test_the_mandated_guardrail_named_by_the_caller_is_not_rewritten(
    operation: str, params: dict[str, Any]
) -> None:
    call = _call(operation, modelId=SONNET, **params)
    decision = evaluate(GUARDED, call)
    assert decision.allowed and decision.changes == ()
    assert decision.params == call.params


# --------------------------------------------------------------------------- partitions

#: Every place an identifier names a partition, with an ARN in a partition other than
#: the client's ``aws``. The region is the client's, so only the partition differs.
FOREIGN_PARTITION_MODELS = [
    f"arn:{p}:bedrock:us-east-1::foundation-model/{SONNET}"
    for p in ("aws-cn", "aws-us-gov", "aws-iso")
] + [
    f"arn:aws-cn:bedrock:us-east-1:{ACCT}:inference-profile/us.{SONNET}",
    f"arn:aws-us-gov:bedrock:us-east-1:{ACCT}:inference-profile/{SONNET}",
    f"arn:aws-us-gov:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6",
    f"arn:aws-cn:bedrock:us-east-1:{ACCT}:provisioned-model/a1b2c3d4e5f6",
    f"arn:aws-cn:bedrock:us-east-1:{ACCT}:custom-model/{SONNET}/a1b2c3d4e5f6",
    f"arn:aws-cn:bedrock:us-east-1:{ACCT}:imported-model/a1b2c3d4e5f6",
    f"arn:aws-us-gov:bedrock:us-east-1:{ACCT}:prompt/PROMPT12AB",
    f"arn:aws-us-gov:bedrock:us-east-1:{ACCT}:default-prompt-router/anthropic.claude:1",
    f"arn:aws-cn:sagemaker:us-east-1:{ACCT}:endpoint/my-endpoint",
]


@pytest.mark.parametrize("model_id", FOREIGN_PARTITION_MODELS)
@pytest.mark.parametrize("operation", ["Converse", "InvokeModel", "StartAsyncInvoke"])
def test_a_model_in_another_partition_is_refused_under_any_region_policy(
    model_id: str, operation: str
) -> None:
    ref = parse_model_id(model_id)
    assert ref.kind != "unknown" and ref.partition != "aws"
    for policy in (Policy(), ANYWHERE, IN_REGION):
        decision = evaluate(policy, _call(operation, modelId=model_id))
        assert _rules(decision) == ["region.cross_region"], (policy, decision.violations)
        assert "partition" in decision.violations[0].found


def test_the_clients_own_partition_is_the_reference() -> None:
    china = f"arn:aws-cn:bedrock:cn-north-1::foundation-model/{SONNET}"
    assert evaluate(
        Policy(), _call("Converse", "cn-north-1", modelId=china, partition="aws-cn")
    ).allowed
    aws = f"arn:aws:bedrock:cn-north-1::foundation-model/{SONNET}"
    decision = evaluate(ANYWHERE, _call("Converse", "cn-north-1", modelId=aws, partition="aws-cn"))
    assert _rules(decision) == ["region.cross_region"]


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_a_guardrail_or_resource_arn_in_another_partition_is_refused(partition: str) -> None:
    arn = f"arn:{partition}:bedrock:us-east-1:{ACCT}:guardrail/g1"
    cases = [
        (
            "Converse",
            {
                "modelId": SONNET,
                "guardrailConfig": {"guardrailIdentifier": arn, "guardrailVersion": "1"},
            },
        ),
        (
            "ConverseStream",
            {
                "modelId": SONNET,
                "guardrailConfig": {"guardrailIdentifier": arn, "guardrailVersion": "1"},
            },
        ),
        ("InvokeModel", {"modelId": SONNET, "guardrailIdentifier": arn, "guardrailVersion": "1"}),
        (
            "InvokeModelWithResponseStream",
            {"modelId": SONNET, "guardrailIdentifier": arn, "guardrailVersion": "1"},
        ),
        ("ApplyGuardrail", {"guardrailIdentifier": arn, "guardrailVersion": "1"}),
        (
            "GetAsyncInvoke",
            {"invocationArn": f"arn:{partition}:bedrock:us-east-1:{ACCT}:async-invoke/a1"},
        ),
    ]
    for operation, params in cases:
        decision = evaluate(ANYWHERE, _call(operation, **params))
        assert _rules(decision) == ["region.cross_region"], (operation, decision.violations)
        assert partition in decision.violations[0].found


def test_a_profile_map_target_in_another_partition_is_refused() -> None:
    target = f"arn:aws-us-gov:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
    policy = Policy(
        regions=ANYWHERE.regions,
        inference_profile=InferenceProfilePolicy(map={SONNET: target}),
    )
    decision = evaluate(policy, _call("Converse", modelId=SONNET))
    assert decision.params["modelId"] == target
    assert _rules(decision) == ["region.cross_region"]
    assert "aws-us-gov" in decision.violations[0].found


# --------------------------------------------------------------------------- SageMaker

MALFORMED_SAGEMAKER = [
    f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint/",
    f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint",
    "arn:aws:sagemaker:us-east-1::endpoint/my-endpoint",
    f"arn:aws:sagemaker:us-east-1:{ACCT}:model/my-model",
    f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint-config/my-endpoint",
    f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint/-leading-hyphen",
    f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint/under_score",
    f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint/a/b",
    f"arn:aws:sagemaker:useast1:{ACCT}:endpoint/my-endpoint",
    "arn:aws:sagemaker:us-east-1:12345678901:endpoint/my-endpoint",
    f"arn:aws:sagemaker:us-east-1:{ACCT}:foundation-model/{SONNET}",
    f"arn:aws:sagemaker:us-east-1:{ACCT}:inference-profile/us.{SONNET}",
]


@pytest.mark.parametrize("model_id", MALFORMED_SAGEMAKER)
def test_a_malformed_sagemaker_arn_is_unknown_and_refused_under_any_policy(model_id: str) -> None:
    assert parse_model_id(model_id).kind == "unknown"
    for policy in (Policy(), ANYWHERE):
        decision = evaluate(policy, _call("Converse", modelId=model_id))
        assert _rules(decision) == ["region.cross_region"]
        assert "not a form securebedrock recognises" in decision.violations[0].found


def test_a_well_formed_sagemaker_endpoint_is_checked_like_any_regional_arn() -> None:
    here = f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint/my-endpoint-1"
    ref = parse_model_id(here)
    assert (ref.kind, ref.region, ref.partition, ref.account, ref.resource_id) == (
        "sagemaker-endpoint",
        "us-east-1",
        "aws",
        ACCT,
        "my-endpoint-1",
    )
    assert evaluate(IN_REGION, _call("Converse", modelId=here)).allowed
    there = here.replace("us-east-1", "eu-west-1")
    assert _rules(evaluate(IN_REGION, _call("Converse", modelId=there))) == ["region.not_allowed"]
    assert _rules(evaluate(Policy(), _call("Converse", modelId=there))) == ["region.cross_region"]


# --------------------------------------------------------------------------- real identifiers

#: Identifiers as Bedrock publishes them, and what each must classify as:
#: (id, kind, base model id, geography, region).
REAL_IDENTIFIERS = [
    (SONNET, "foundation-model", SONNET, None, None),
    (
        "anthropic.claude-3-sonnet-20240229-v1:0:200k",
        "foundation-model",
        "anthropic.claude-3-sonnet-20240229-v1:0:200k",
        None,
        None,
    ),
    (
        "amazon.titan-embed-text-v2:0",
        "foundation-model",
        "amazon.titan-embed-text-v2:0",
        None,
        None,
    ),
    (
        "meta.llama3-1-405b-instruct-v1:0",
        "foundation-model",
        "meta.llama3-1-405b-instruct-v1:0",
        None,
        None,
    ),
    ("cohere.command-r-plus-v1:0", "foundation-model", "cohere.command-r-plus-v1:0", None, None),
    (
        "mistral.mistral-large-2407-v1:0",
        "foundation-model",
        "mistral.mistral-large-2407-v1:0",
        None,
        None,
    ),
    ("amazon.nova-sonic-v1:0", "foundation-model", "amazon.nova-sonic-v1:0", None, None),
    (f"us.{SONNET}", "inference-profile", SONNET, "us", None),
    (f"eu.{SONNET}", "inference-profile", SONNET, "eu", None),
    (f"apac.{SONNET}", "inference-profile", SONNET, "apac", None),
    (
        "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "inference-profile",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "jp",
        None,
    ),
    (
        "au.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "inference-profile",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "au",
        None,
    ),
    ("ca.amazon.nova-lite-v1:0", "inference-profile", "amazon.nova-lite-v1:0", "ca", None),
    (
        "us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "inference-profile",
        SONNET,
        "us-gov",
        None,
    ),
    (
        "global.anthropic.claude-sonnet-4-20250514-v1:0",
        "inference-profile",
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "global",
        None,
    ),
    (
        f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}",
        "foundation-model",
        SONNET,
        None,
        "us-east-1",
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/us.{SONNET}",
        "inference-profile",
        SONNET,
        "us",
        "us-east-1",
    ),
    (
        f"arn:aws:bedrock:eu-central-1:{ACCT}:inference-profile/global.{SONNET}",
        "inference-profile",
        SONNET,
        "global",
        "eu-central-1",
    ),
    (
        f"arn:aws-us-gov:bedrock:us-gov-west-1:{ACCT}:inference-profile/us-gov.{SONNET}",
        "inference-profile",
        SONNET,
        "us-gov",
        "us-gov-west-1",
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6",
        "application-inference-profile",
        None,
        None,
        "us-east-1",
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:provisioned-model/a1b2c3d4e5f6",
        "provisioned-model",
        None,
        None,
        "us-east-1",
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:custom-model/{SONNET}/a1b2c3d4e5f6",
        "custom-model",
        None,
        None,
        "us-east-1",
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:custom-model-deployment/a1b2c3d4e5f6",
        "custom-model-deployment",
        None,
        None,
        "us-east-1",
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:imported-model/a1b2c3d4e5f6",
        "imported-model",
        None,
        None,
        "us-east-1",
    ),
    (f"arn:aws:bedrock:us-east-1:{ACCT}:prompt/PROMPT12AB:1", "prompt", None, None, "us-east-1"),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:default-prompt-router/anthropic.claude:1",
        "default-prompt-router",
        None,
        None,
        "us-east-1",
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:prompt-router/my-router",
        "prompt-router",
        None,
        None,
        "us-east-1",
    ),
    # Not identifiers: a geography prefix on nothing, an unknown prefix, free text.
    ("us.", "unknown", None, None, None),
    ("xx.anthropic.claude-v2", "unknown", None, None, None),
    ("Summarise this contract for me", "unknown", None, None, None),
    (f"arn:aws:bedrock:us-east-1:{ACCT}:guardrail/g1", "unknown", None, None, None),
    (f"arn:aws:bedrock:us-east-1:{ACCT}:foundation-model/{SONNET}", "unknown", None, None, None),
    (f"arn:aws:bedrock:us-east-1::inference-profile/us.{SONNET}", "unknown", None, None, None),
]


@pytest.mark.parametrize(
    ("raw", "kind", "base", "geography", "region"),
    REAL_IDENTIFIERS,
    ids=[r[0] for r in REAL_IDENTIFIERS],
)
def test_real_identifiers_classify_as_bedrock_documents_them(
    raw: str, kind: str, base: str | None, geography: str | None, region: str | None
) -> None:
    ref = parse_model_id(raw)
    assert (ref.kind, ref.base_model_id, ref.geography, ref.region) == (
        kind,
        base,
        geography,
        region,
    )


@pytest.mark.parametrize(
    ("raw", "kind", "base", "geography", "region"),
    REAL_IDENTIFIERS,
    ids=[r[0] for r in REAL_IDENTIFIERS],
)
def test_real_identifiers_pass_botocore_model_id_constraints(
    raw: str, kind: str, base: str | None, geography: str | None, region: str | None
) -> None:
    shape = SERVICE.operation_model("Converse").input_shape.members["modelId"]
    if kind != "unknown":
        assert shape.metadata["min"] <= len(raw) <= shape.metadata["max"]


# --------------------------------------------------------------------------- small contracts


def test_a_provisional_decision_never_has_an_allow_outcome() -> None:
    from securebedrock._rules import outcome

    pending = Decision(operation="Converse", params={}, pending_profiles=("arn:x",))
    assert not pending.allowed
    with pytest.raises(ValueError, match=r"^a provisional decision \(profiles not yet resolved\)"):
        outcome(pending, enforce=True)


@pytest.mark.parametrize("value", ["", 0, 7, None, ["gr1"]])
def test_a_guardrail_value_that_is_not_a_non_empty_string_is_not_reported_as_sent(
    value: object,
) -> None:
    config = {"guardrailIdentifier": value, "guardrailVersion": value}
    converse = evaluate(Policy(), _call("Converse", modelId=SONNET, guardrailConfig=config))
    invoke = evaluate(Policy(), _call("InvokeModel", modelId=SONNET, **config))
    for decision in (converse, invoke):
        assert (decision.guardrail_id, decision.guardrail_version) == (None, None)


def test_a_mapped_model_named_by_its_foundation_model_arn_is_resolved() -> None:
    from securebedrock._rules import profiles_to_resolve

    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}"
    app = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
    policy = Policy(
        regions=IN_REGION.regions, inference_profile=InferenceProfilePolicy(map={arn: app})
    )
    assert profiles_to_resolve(policy, _call("Converse", modelId=arn)) == (app,)
    assert evaluate(policy, _call("Converse", modelId=arn)).params["modelId"] == app


def test_a_global_geography_accepts_a_region_outside_every_geography() -> None:
    elsewhere = f"arn:aws:bedrock:me-south-1::foundation-model/{SONNET}"
    assert evaluate(ANYWHERE, _call("Converse", modelId=elsewhere)).allowed
    eu = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("eu",)))
    assert _rules(evaluate(eu, _call("Converse", modelId=elsewhere))) == ["region.cross_region"]


@pytest.mark.parametrize("operation", ["Converse", "InvokeModel"])
def test_a_policy_object_with_a_guardrail_but_no_version_fails_closed(operation: str) -> None:
    # Validation makes such a policy impossible to build; the engine still refuses rather
    # than attach a guardrail without a version, should one ever reach it.
    broken = GuardrailPolicy(identifier=GR_ID, version="3")
    object.__setattr__(broken, "version", "")
    policy = Policy(guardrail=GuardrailPolicy(identifier=GR_ID, version="3"))
    object.__setattr__(policy, "guardrail", broken)
    decision = evaluate(policy, _call(operation, modelId=SONNET))
    assert _rules(decision) == ["guardrail.missing"]
    assert decision.changes == ()
    (violation,) = decision.violations
    assert violation.found == "the policy mandates a guardrail without a version"
    assert violation.fix == "set guardrail.version in the policy"


@pytest.mark.parametrize("named", [f"other/{GR_ID}", f"x:y/{GR_ID}", "arn:without-a-slash"])
@pytest.mark.parametrize("operation", ["Converse", "InvokeModel"])
def test_an_identifier_that_only_ends_like_the_mandated_guardrail_is_a_conflict(
    named: str, operation: str
) -> None:
    # Only an ARN is reduced to its last path segment; anything else is compared whole.
    params: dict[str, Any] = (
        {"guardrailConfig": {"guardrailIdentifier": named, "guardrailVersion": "3"}}
        if operation == "Converse"
        else {"guardrailIdentifier": named, "guardrailVersion": "3"}
    )
    decision = evaluate(GUARDED, _call(operation, modelId=SONNET, **params))
    assert _rules(decision) == ["guardrail.conflict"]


def test_a_profile_mapped_to_itself_is_not_a_change() -> None:
    profile = f"us.{SONNET}"
    policy = Policy(
        regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)),
        inference_profile=InferenceProfilePolicy(map={profile: profile}),
    )
    decision = evaluate(policy, _call("Converse", modelId=profile))
    assert decision.allowed and decision.changes == ()


def test_a_models_rule_waits_for_the_routes_of_a_profile_still_to_be_resolved() -> None:
    from securebedrock._rules import evaluate_before_resolution

    app = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
    policy = Policy(models=ModelsPolicy(allow=("anthropic.*",)))
    before = evaluate_before_resolution(policy, _call("Converse", modelId=app))
    assert before.violations == () and before.pending_profiles == (app,)


def test_a_model_id_that_is_not_a_string_is_recorded_as_a_short_repr() -> None:
    odd = ["x" * 100]
    decision = evaluate(Policy(), _call("Converse", modelId=odd))
    assert decision.model_requested == repr(odd)[:64]
    assert _rules(decision) == ["region.cross_region"]


def test_each_policy_keeps_its_own_compiled_form() -> None:
    from securebedrock._rules import _compiled

    strict, loose = IN_REGION, ANYWHERE
    first_strict, first_loose = _compiled(strict), _compiled(loose)
    assert first_strict is not first_loose
    assert _compiled(strict) is first_strict and _compiled(loose) is first_loose
    assert _rules(evaluate(strict, _call("Converse", "eu-west-1", modelId=SONNET))) == [
        "region.not_allowed"
    ]


def test_the_guardrail_reported_as_sent_is_the_one_the_operation_carries() -> None:
    applied = evaluate(
        Policy(), _call("ApplyGuardrail", guardrailIdentifier="g1", guardrailVersion="2")
    )
    assert (applied.guardrail_id, applied.guardrail_version) == ("g1", "2")
    for operation in ("GetAsyncInvoke", "ListAsyncInvokes", "CountTokens"):
        other = evaluate(Policy(), _call(operation, guardrailIdentifier="g1", guardrailVersion="2"))
        assert (other.guardrail_id, other.guardrail_version) == (None, None)


def test_a_per_region_profile_map_applies_in_its_region_only() -> None:
    west = f"arn:aws:bedrock:us-west-2:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
    policy = Policy(
        inference_profile=InferenceProfilePolicy(regional_map={"us-west-2": {SONNET: west}})
    )
    assert (
        evaluate(policy, _call("Converse", "us-west-2", modelId=SONNET)).params["modelId"] == west
    )
    assert (
        evaluate(policy, _call("Converse", "us-east-1", modelId=SONNET)).params["modelId"] == SONNET
    )
