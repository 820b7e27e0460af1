"""The pure engine on inference profiles whose routes matter: no network, no botocore.

Each test here pins a refusal that a small change to the ``_rules`` engine could turn into an
allow: a profile taken as in-region without being resolved, a route list checked only
up to its first foreign region, a pre-declared profile whose entries are not what they
should be. (Which rules are evaluated before a control-plane look-up:
tests/test_rules_before_resolution.py.)
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from securebedrock import PolicyConfigError
from securebedrock._policy import (
    InferenceProfilePolicy,
    KnownProfile,
    ModelsPolicy,
    Policy,
    RegionsPolicy,
)
from securebedrock._rules import (
    Call,
    Decision,
    ResolvedProfile,
    _compile_known,
    evaluate,
    mapped_profiles_to_resolve,
    profiles_to_resolve,
    routes_matter,
)

ACCT = "123456789012"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
LLAMA = "meta.llama3-70b-instruct-v1:0"
APP = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]

#: System inference-profile ARNs whose id carries no geography this engine knows.
NO_GEOGRAPHY = (
    f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/{SONNET}",
    f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/zz.{SONNET}",
    f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/mars-north.{SONNET}",
)

US = RegionsPolicy(cross_region=True, allowed_geographies=("us",))
ANYWHERE = RegionsPolicy(cross_region=True, allowed_geographies=("global",))


def converse(model: str, region: str = "us-east-1", **extra: Any) -> Call:
    fields = {
        k: extra.pop(k) for k in ("resolved_profiles", "unresolved_profiles", "auth") if k in extra
    }
    params = {"modelId": model, "messages": MESSAGES, **extra}
    return Call(operation="Converse", region=region, params=params, **fields)


def routes(arn: str, regions: tuple[str, ...], models: tuple[str, ...] = (SONNET,)) -> Any:
    return {arn: ResolvedProfile(arn=arn, regions=regions, model_ids=models)}


def rules(decision: Decision) -> list[str]:
    return [v.rule for v in decision.violations]


def refused(decision: Decision, rule: str) -> None:
    assert rule in rules(decision), decision.violations
    assert not decision.allowed


def forced_known(profile: str, *models: str) -> Policy:
    """A policy declaring ``profile`` with ``models`` that ``KnownProfile`` would refuse.

    The policy layer accepts only foundation-model ARNs; the engine must still refuse
    a policy object whose entries escaped that validation, never route it in-region.
    """
    entry = object.__new__(KnownProfile)
    object.__setattr__(entry, "models", tuple(models))
    return Policy(
        inference_profile=InferenceProfilePolicy(known=types.MappingProxyType({profile: entry}))
    )


# --- system profile ARNs without a known geography ----------------------------------------


@pytest.mark.parametrize("arn", NO_GEOGRAPHY)
def test_system_profile_without_geography_is_resolved_never_assumed_in_region(arn: str) -> None:
    # Not a geographic profile, so the control plane must say where it routes.
    assert profiles_to_resolve(Policy(), converse(arn)) == (arn,)
    refused(evaluate(Policy(), converse(arn)), "region.cross_region")
    refused(
        evaluate(Policy(), converse(arn, unresolved_profiles={arn: "AccessDeniedException"})),
        "region.cross_region",
    )
    # Its answer decides: in-region passes, another region does not.
    assert evaluate(Policy(), converse(arn, resolved_profiles=routes(arn, ("us-east-1",)))).allowed
    refused(
        evaluate(Policy(), converse(arn, resolved_profiles=routes(arn, ("us-west-2",)))),
        "region.cross_region",
    )
    # The models behind it are checked too.
    deny_sonnet = Policy(models=ModelsPolicy(deny=("anthropic.*",)))
    refused(
        evaluate(deny_sonnet, converse(arn, resolved_profiles=routes(arn, ("us-east-1",)))),
        "model.not_allowed",
    )
    refused(
        evaluate(Policy(models=ModelsPolicy(allow=("anthropic.*",))), converse(arn)),
        "model.not_allowed",
    )


@pytest.mark.parametrize("arn", NO_GEOGRAPHY)
def test_system_profile_without_geography_in_another_region_is_refused(arn: str) -> None:
    foreign = arn.replace("us-east-1", "us-west-2")
    # Another region's control plane is not asked: it stays unresolved, and refused,
    # even where the ARN's own region would be acceptable.
    assert profiles_to_resolve(Policy(regions=US), converse(foreign)) == ()
    refused(evaluate(Policy(regions=US), converse(foreign)), "region.cross_region")
    refused(evaluate(Policy(), converse(foreign)), "region.cross_region")


@pytest.mark.parametrize(
    "model",
    [f"zz.{SONNET}", f"mars.{SONNET}", f"arn:aws:bedrock:us-east-1::inference-profile/zz.{SONNET}"],
)
def test_unknown_geography_prefix_as_an_id_is_refused_everywhere(model: str) -> None:
    for policy in (Policy(), Policy(regions=US), Policy(regions=ANYWHERE)):
        assert profiles_to_resolve(policy, converse(model)) == ()
        refused(evaluate(policy, converse(model)), "region.cross_region")


# --- every region a profile routes to -------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "regions", "rule"),
    [
        # an allowed foreign region before a forbidden geography
        (Policy(regions=US), ("us-west-2", "eu-west-1"), "region.cross_region"),
        (Policy(regions=US), ("us-east-1", "us-west-2", "eu-west-1"), "region.cross_region"),
        (Policy(regions=US), ("us-west-2", "us-east-2", "ap-south-1"), "region.cross_region"),
        # an allowed region before one outside regions.allowed
        (
            Policy(
                regions=RegionsPolicy(
                    allowed=("us-east-1", "us-west-2"),
                    cross_region=True,
                    allowed_geographies=("us", "eu"),
                )
            ),
            ("us-west-2", "eu-west-1"),
            "region.not_allowed",
        ),
        # without cross_region, the client's own region first
        (Policy(), ("us-east-1", "us-west-2"), "region.cross_region"),
    ],
)
def test_every_route_region_is_checked(policy: Policy, regions: tuple[str, ...], rule: str) -> None:
    decision = evaluate(policy, converse(APP, resolved_profiles=routes(APP, regions)))
    refused(decision, rule)
    assert regions[-1] in decision.violations[0].found
    # The same routes without the forbidden last region pass.
    assert evaluate(policy, converse(APP, resolved_profiles=routes(APP, regions[:-1]))).allowed


@pytest.mark.parametrize(
    "models",
    [
        ModelsPolicy(deny=("meta.*",)),
        ModelsPolicy(allow=("anthropic.*",)),
        ModelsPolicy(allow=("anthropic.*", "meta.*"), deny=("meta.llama3-70b*",)),
    ],
)
def test_every_model_behind_a_profile_is_checked_in_order(models: ModelsPolicy) -> None:
    policy = Policy(models=models)
    both = converse(APP, resolved_profiles=routes(APP, ("us-east-1",), (SONNET, LLAMA)))
    decision = evaluate(policy, both)
    refused(decision, "model.not_allowed")
    assert LLAMA in decision.violations[0].found
    alone = converse(APP, resolved_profiles=routes(APP, ("us-east-1",), (SONNET,)))
    assert evaluate(policy, alone).allowed


# --- [inference_profile.known] entries ------------------------------------------------------


@pytest.mark.parametrize("model", [f"us.{SONNET}", f"global.{SONNET}", SONNET])
def test_known_profile_models_must_be_foundation_model_arns(model: str) -> None:
    with pytest.raises(PolicyConfigError) as raised:
        KnownProfile(models=(model,))
    assert str(raised.value.path).startswith("inference_profile.known.<profile>.models")
    text = f'version = 1\n[inference_profile.known."{APP}"]\nmodels = ["{model}"]\n'
    with pytest.raises(PolicyConfigError):
        Policy.from_toml(text)


@pytest.mark.parametrize(
    "geographic",
    [
        f"us.{SONNET}",
        f"eu.{SONNET}",
        f"global.{SONNET}",
        f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/us.{SONNET}",
    ],
)
def test_known_entry_listing_a_geographic_profile_is_refused(geographic: str) -> None:
    reason = _compile_known(APP, (geographic,))
    assert isinstance(reason, str) and "not a foundation model" in reason
    # In a policy object (bypassing validation): the profile is declared, so no
    # control-plane call, and the call is refused, never taken as in-region.
    for regions in (RegionsPolicy(), US, ANYWHERE):
        policy = forced_known(APP, geographic)
        policy = Policy(regions=regions, inference_profile=policy.inference_profile)
        assert profiles_to_resolve(policy, converse(APP)) == ()
        decision = evaluate(policy, converse(APP))
        if regions is ANYWHERE:
            # No rule needs the routes: nothing to refuse, nothing to resolve.
            assert decision.allowed
            continue
        refused(decision, "region.cross_region")
        assert "not a foundation model" in decision.violations[0].found


def test_known_plain_model_ids_under_an_arn_profile_take_its_region() -> None:
    in_region = _compile_known(APP, (SONNET,))
    assert in_region == ResolvedProfile(arn=APP, regions=("us-east-1",), model_ids=(SONNET,))
    west = APP.replace("us-east-1", "us-west-2")
    assert _compile_known(west, (SONNET,)) == ResolvedProfile(
        arn=west, regions=("us-west-2",), model_ids=(SONNET,)
    )
    # Mixed: a plain id takes the profile's region, an ARN keeps its own.
    mixed = _compile_known(APP, (SONNET, f"arn:aws:bedrock:eu-west-1::foundation-model/{LLAMA}"))
    assert isinstance(mixed, ResolvedProfile)
    assert mixed.regions == ("us-east-1", "eu-west-1") and mixed.model_ids == (SONNET, LLAMA)

    policy = forced_known(APP, SONNET, f"arn:aws:bedrock:eu-west-1::foundation-model/{LLAMA}")
    refused(evaluate(policy, converse(APP)), "region.cross_region")
    # The plain id is still held to the model rules.
    deny = Policy(
        models=ModelsPolicy(deny=("anthropic.*",)),
        inference_profile=forced_known(APP, SONNET).inference_profile,
    )
    refused(evaluate(deny, converse(APP)), "model.not_allowed")
    assert evaluate(forced_known(APP, SONNET), converse(APP)).allowed
    # ...and its region is the profile's: a us-west-2 profile from a us-east-1 client.
    refused(evaluate(forced_known(west, SONNET), converse(west)), "region.cross_region")


@pytest.mark.parametrize("owner", [f"us.{SONNET}", "my-profile"])
def test_known_plain_model_ids_under_a_non_arn_profile_are_refused(owner: str) -> None:
    reason = _compile_known(owner, (SONNET,))
    assert isinstance(reason, str) and "plain id" in reason
    assert isinstance(_compile_known(APP, ()), str)


# --- whether the control plane is needed at all (doctor) -------------------------------------


def test_routes_matter_unless_every_destination_and_model_is_acceptable() -> None:
    assert routes_matter(Policy())
    assert routes_matter(Policy(regions=US))
    assert not routes_matter(Policy(regions=ANYWHERE))
    assert routes_matter(Policy(regions=ANYWHERE, models=ModelsPolicy(deny=("meta.*",))))
    assert routes_matter(
        Policy(
            regions=RegionsPolicy(
                allowed=("us-east-1",), cross_region=True, allowed_geographies=("global",)
            )
        )
    )


def test_mapped_profiles_to_resolve() -> None:
    other = APP.replace("a1b2c3d4e5f6", "zzzzzzzzzzzz")
    system = f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/{SONNET}"
    mapping = types.MappingProxyType(
        {SONNET: APP, LLAMA: f"us.{LLAMA}", "amazon.nova-pro-v1:0": other, "x.y-v1:0": system}
    )
    declared = types.MappingProxyType(
        {APP: KnownProfile(models=(f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}",))}
    )
    policy = Policy(inference_profile=InferenceProfilePolicy(map=mapping, known=declared))
    assert mapped_profiles_to_resolve(policy) == tuple(sorted((other, system)))
    anywhere = Policy(regions=ANYWHERE, inference_profile=policy.inference_profile)
    assert mapped_profiles_to_resolve(anywhere) == ()
    assert mapped_profiles_to_resolve(Policy()) == ()
