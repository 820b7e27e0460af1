"""A client's cache of decisions (``_rules.DecisionCache``) is never a bypass.

The cache answers a call from the decision it kept for an earlier call of the same
shape. These tests prove that what it answers is what a fresh evaluation answers, for
every call shape the engine accepts: odd types, nested and partial guardrail configs,
tiers in both carriers, profile ARNs and router ARNs, foreign regions and partitions,
bearer auth, unknown operations, and the same key with different values elsewhere in
the call. They also prove the key covers every parameter the engine reads, that a
call's handlers editing its parameters cannot change another call's, and that the fast
constructors the engine uses build exactly what the public ones build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from botocore.client import BaseClient
from conftest import GUARDRAIL, MODEL_ID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import securebedrock
from securebedrock._operations import HTTP_API_OPERATIONS, OPERATIONS
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
    Call,
    Change,
    Decision,
    DecisionCache,
    ResolvedProfile,
    Violation,
    _fastpath,
    evaluate,
    evaluate_before_resolution,
    new_call,
)
from securebedrock._rules._types import _new_change, _new_decision, _new_violation
from securebedrock.testing import EmbeddedBedrock

ACCT = "123456789012"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA = "amazon.nova-pro-v1:0"
EMBED = "amazon.titan-embed-text-v2:0"
GR_ID = "gr1abc2def3g"
GR_ARN = f"arn:aws:bedrock:us-east-1:{ACCT}:guardrail/{GR_ID}"
APP = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
APP_UNKNOWN = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/zz9"
APP_EU = f"arn:aws:bedrock:eu-west-1:{ACCT}:application-inference-profile/e1"
APP_GOV = f"arn:aws-us-gov:bedrock:us-gov-west-1:{ACCT}:application-inference-profile/g1"
ROUTER = f"arn:aws:bedrock:us-east-1:{ACCT}:default-prompt-router/anthropic.claude:1"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
FM_SONNET = f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}"

POLICIES = (
    Policy(),
    Policy(guardrail=GuardrailPolicy(identifier=GR_ID, version="3")),
    Policy(
        guardrail=GuardrailPolicy(
            identifier=GR_ARN,
            version=["4", "3"],  # type: ignore[arg-type]
            trace="disabled",
            exempt_models=("amazon.titan-embed-*",),
        ),
        operations=OperationsPolicy(
            allow_without_guardrail=("InvokeModelWithBidirectionalStream",)
        ),
    ),
    Policy(
        guardrail=GuardrailPolicy(identifier=GR_ID, version="3"),
        inference_profile=InferenceProfilePolicy(
            required=True,
            map={SONNET: APP, NOVA: APP_EU},
            regional_map={"eu-west-1": {SONNET: APP_EU}},
            known={
                APP: KnownProfile(models=(f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}",))
            },
        ),
        regions=RegionsPolicy(allowed=("us-east-1", "us-west-2")),
        models=ModelsPolicy(allow=("anthropic.*", "amazon.nova-*"), deny=("*-haiku-*",)),
        service_tier=ServiceTierPolicy(allowed=("default", "priority")),
        auth=AuthPolicy(allow_api_keys=False),
    ),
    Policy(
        regions=RegionsPolicy(cross_region=True, allowed_geographies=("us", "eu")),
        models=ModelsPolicy(deny=("meta.*",)),
        service_tier=ServiceTierPolicy(allowed=("flex",)),
    ),
    Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("global",))),
)

MODEL_IDS = (
    SONNET,
    NOVA,
    EMBED,
    f"us.{SONNET}",
    f"eu.{NOVA}",
    f"global.{SONNET}",
    "meta.llama3-8b-instruct-v1:0",
    f"arn:aws:bedrock:us-west-2::foundation-model/{NOVA}",
    f"arn:aws:bedrock:eu-central-1::foundation-model/{SONNET}",
    f"arn:aws-cn:bedrock:cn-north-1::foundation-model/{NOVA}",
    APP,
    APP_UNKNOWN,
    APP_EU,
    APP_GOV,
    ROUTER,
    f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/us.{SONNET}",
    f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/custom1",
    "not a model",
    "",
)

_text = st.sampled_from(["", "3", "4", "enabled", "disabled", "enabled_full", GR_ID, GR_ARN])
_odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 5),
    st.floats(allow_nan=False, width=16),
    st.binary(max_size=4),
    st.lists(st.sampled_from(["3", GR_ID, 3]), max_size=2),
)
# Plain values (the ones the cache keys) are drawn three times as often as odd ones, so
# that calls of one shape, and shapes one value apart, come up often.
_guardrail_config = st.one_of(
    st.dictionaries(
        st.sampled_from(["guardrailIdentifier", "guardrailVersion", "trace"]), _text, max_size=3
    ),
    st.dictionaries(
        st.sampled_from(["guardrailIdentifier", "guardrailVersion", "streamProcessingMode"]),
        _text,
        max_size=3,
    ),
    st.dictionaries(
        st.sampled_from(
            ["guardrailIdentifier", "guardrailVersion", "trace", "streamProcessingMode", "x"]
        ),
        _text | _odd | st.dictionaries(st.sampled_from(["a", "b"]), _text, max_size=2),
        max_size=4,
    ),
    _odd,
    _text,
)
_tier = st.one_of(
    st.sampled_from(["default", "priority", "flex", "reserved", ""]),
    st.sampled_from(["default", "priority", "flex"]).map(lambda tier: {"type": tier}),
    st.dictionaries(
        st.sampled_from(["type", "other"]),
        st.sampled_from(["default", "priority", "flex"]) | _odd,
        max_size=2,
    ),
    _odd,
)
_model = st.sampled_from(MODEL_IDS) | st.sampled_from(MODEL_IDS[:8]) | _odd
_arn = st.sampled_from([GR_ARN, APP, APP_EU, APP_GOV, f"arn:aws:bedrock:eu-west-1:{ACCT}:x/y"])
_other = st.sampled_from([MESSAGES, [], [{"role": "user", "content": [{"text": "other"}]}]])

_params = st.fixed_dictionaries(
    {},
    optional={
        "modelId": _model,
        "guardrailConfig": _guardrail_config,
        "guardrailIdentifier": _text | _arn | _text | _odd,
        "guardrailVersion": _text | _text | _odd,
        "trace": _text | _text | _odd,
        "serviceTier": _tier,
        "invocationArn": _arn | _arn | _odd,
        "messages": _other,
        "body": st.sampled_from([b"{}", b'{"inputText": "hi"}', "{}"]),
        "inferenceConfig": st.just({"maxTokens": 10}),
    },
)
_calls = st.builds(
    dict,
    operation=st.sampled_from(sorted(OPERATIONS) + sorted(HTTP_API_OPERATIONS) + ["Nope"])
    | st.sampled_from(["Converse", "ConverseStream", "InvokeModel", "ApplyGuardrail"]),
    region=st.sampled_from(["us-east-1", "eu-west-1", "us-gov-west-1"]),
    partition=st.sampled_from(["aws", "aws-us-gov"]),
    auth=st.sampled_from(["sigv4", "bearer", "none"]),
    params=_params,
)


def _call(spec: Mapping[str, Any]) -> Call:
    return Call(
        operation=spec["operation"],
        region=spec["region"],
        partition=spec["partition"],
        endpoint_host="127.0.0.1",
        params=spec["params"],
        auth=spec["auth"],
    )


def _tamper(params: Mapping[str, Any]) -> None:
    """What a botocore handler may do to the parameters it is handed."""
    config = params.get("guardrailConfig")
    if isinstance(config, dict):
        config["guardrailVersion"] = "tampered"
        config["guardrailIdentifier"] = "tampered"
    if isinstance(params, dict):
        params["modelId"] = "tampered"


_param_values = {
    "modelId": _model,
    "guardrailConfig": _guardrail_config,
    "guardrailIdentifier": _text | _arn | _text | _odd,
    "guardrailVersion": _text | _text | _odd,
    "trace": _text | _text | _odd,
    "serviceTier": _tier,
    "invocationArn": _arn | _arn | _odd,
    "messages": _other,
}


@st.composite
def _variants(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Calls that each differ from the one before in one place: a parameter the rules
    read, one they do not, or the call's operation, region, partition or auth."""
    spec = draw(_calls)
    specs = [spec]
    for _ in range(draw(st.integers(1, 10))):
        spec = {**spec, "params": dict(spec["params"])}
        where = draw(st.sampled_from([*_param_values, "drop", "operation", "region", "auth"]))
        if where in _param_values:
            spec["params"][where] = draw(_param_values[where])
        elif where == "drop" and spec["params"]:
            del spec["params"][draw(st.sampled_from(sorted(spec["params"])))]
        elif where in ("operation", "region", "auth"):
            spec[where] = draw(_calls)[where]
        specs.append(spec)
    return specs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_variants(), st.data())
def test_a_cached_decision_equals_a_fresh_evaluation(
    specs: list[dict[str, Any]], data: st.DataObject
) -> None:
    limit = data.draw(st.sampled_from([2, 256]), label="limit")
    # The boto3 client decides before resolving profiles; the httpx transports never
    # resolve them and decide with evaluate().
    before = data.draw(st.booleans(), label="before_resolution")
    caches = [DecisionCache(policy, limit=limit, before_resolution=before) for policy in POLICIES]
    # Every call twice, and the whole list again: later ones are answered from the cache,
    # after the caller's own dicts were changed in place (the key is taken per call).
    for spec in [s for s in specs for _ in (0, 1)] + specs:
        call = _call(spec)
        for cache in caches:
            _check(cache, call)
        if data.draw(st.booleans(), label="change the caller's dicts in place"):
            config = spec["params"].get("guardrailConfig")
            if isinstance(config, dict):
                config["guardrailVersion"] = data.draw(_text, label="new version")
            spec["params"]["messages"] = [{"role": "user", "content": [{"text": "again"}]}]


def _check(cache: DecisionCache, call: Call) -> None:
    if cache._before_resolution:
        fresh = evaluate_before_resolution(cache.policy, call)
    else:
        fresh = evaluate(cache.policy, call)
    cached = cache.decide(call)
    assert cached == fresh
    assert cached.allowed == fresh.allowed
    assert list(cached.params) == list(fresh.params)  # the order they are sent in
    if fresh.params is call.params:
        assert cached.params is call.params
    else:
        assert cached.params is not call.params
        # Handlers edit the parameters they are handed (the adapter's per-call snapshot,
        # or the decided copy); the next call must not see it.
        _tamper(cached.params)


def test_a_repeated_call_shape_is_evaluated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = POLICIES[3]
    evaluated: list[Call] = []
    original = _fastpath.evaluate_before_resolution

    def counting(p: Policy, call: Call) -> Decision:
        evaluated.append(call)
        return original(p, call)

    monkeypatch.setattr(_fastpath, "evaluate_before_resolution", counting)
    cache = DecisionCache(policy)
    decisions = [
        cache.decide(
            _call(
                {
                    "operation": "Converse",
                    "region": "us-east-1",
                    "partition": "aws",
                    "auth": "sigv4",
                    "params": {"modelId": SONNET, "messages": [{"text": str(i)}]},
                }
            )
        )
        for i in range(5)
    ]
    assert len(evaluated) == 1
    assert all(d.allowed for d in decisions)
    # Each decision carries its own call's parameters with the changes made.
    assert [d.params["messages"] for d in decisions] == [[{"text": str(i)}] for i in range(5)]
    assert all(d.params["modelId"] == APP for d in decisions)
    configs = [d.params["guardrailConfig"] for d in decisions]
    assert all(
        c == {"guardrailIdentifier": GR_ID, "guardrailVersion": "3", "trace": "enabled"}
        for c in configs
    )
    assert len({id(c) for c in configs}) == 5  # never shared between calls


@pytest.mark.parametrize(
    "value",
    [
        1,
        True,
        1.0,
        [SONNET],
        {"guardrailIdentifier": GR_ID, "guardrailVersion": 3},
        {"guardrailIdentifier": {"nested": GR_ID}},
        type("Text", (str,), {})(SONNET),
        type("Config", (dict,), {})(guardrailIdentifier=GR_ID),
    ],
)
def test_values_without_an_exact_key_are_evaluated_fresh(value: object) -> None:
    for name in ("modelId", "guardrailConfig", "serviceTier"):
        call = Call(operation="Converse", region="us-east-1", params={name: value})
        assert _fastpath.call_key(call) is None


def test_a_call_whose_names_are_not_plain_text_is_evaluated_fresh() -> None:
    class Anything(str):
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return hash("Converse")

    plain = Call(operation="Converse", region="us-east-1", params={"modelId": SONNET})
    assert _fastpath.call_key(plain) is not None
    for field in ("operation", "region", "partition", "endpoint_host", "auth"):
        odd = dataclasses.replace(plain, **{field: Anything(getattr(plain, field))})
        assert _fastpath.call_key(odd) is None


def test_resolved_profiles_are_evaluated_fresh() -> None:
    routes = ResolvedProfile(arn=APP_UNKNOWN, regions=("us-east-1",), model_ids=(SONNET,))
    call = Call(
        operation="Converse",
        region="us-east-1",
        params={"modelId": APP_UNKNOWN},
        resolved_profiles={APP_UNKNOWN: routes},
    )
    assert _fastpath.call_key(call) is None
    assert _fastpath.call_key(dataclasses.replace(call, resolved_profiles={})) is not None
    unresolved = dataclasses.replace(
        call, resolved_profiles={}, unresolved_profiles={APP_UNKNOWN: "denied"}
    )
    assert _fastpath.call_key(unresolved) is None


class _Recording(dict[str, Any]):
    """Parameters that remember which of their keys the engine read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


@pytest.mark.parametrize(
    "operation", sorted(OPERATIONS) + sorted(HTTP_API_OPERATIONS) + ["NoSuchOperation"]
)
@pytest.mark.parametrize("policy", POLICIES, ids=range(len(POLICIES)))
@pytest.mark.parametrize("model", [SONNET, APP_UNKNOWN, f"eu.{NOVA}", 7])
def test_the_key_covers_every_parameter_the_engine_reads(
    operation: str, policy: Policy, model: object
) -> None:
    from securebedrock._operations import operation as row

    op = row(operation)
    keyed = {
        *_fastpath.READ_PARAMETERS,
        *op.arn_params,
        *([op.model_param] if op.model_param else []),
    }
    params = _Recording(
        modelId=model,
        guardrailConfig={"guardrailIdentifier": GR_ARN, "guardrailVersion": "9"},
        guardrailIdentifier=GR_ARN,
        guardrailVersion="9",
        trace="ENABLED",
        serviceTier="flex",
        invocationArn=APP_EU,
        messages=MESSAGES,
        body=b"{}",
        inferenceConfig={"maxTokens": 1},
        system=[{"text": "s"}],
        additionalModelRequestFields={"x": 1},
    )
    for auth in ("sigv4", "bearer"):
        evaluate_before_resolution(
            policy, Call(operation=operation, region="us-east-1", params=params, auth=auth)
        )
    assert params.read <= keyed, f"the engine read {sorted(params.read - keyed)} outside the key"


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [
        ("auth", "sigv4", "bearer"),
        ("region", "us-east-1", "eu-west-1"),
        ("partition", "aws", "aws-us-gov"),
        ("operation", "Converse", "InvokeModel"),
        ("operation", "Converse", "ConverseStream"),
    ],
)
def test_calls_that_differ_only_in_one_field_of_the_call_are_not_confused(
    field: str, first: str, second: str
) -> None:
    policy = POLICIES[3]
    cache = DecisionCache(policy)
    base = Call(operation="Converse", region="us-east-1", params={"modelId": FM_SONNET})
    one = dataclasses.replace(base, **{field: first})
    other = dataclasses.replace(base, **{field: second})
    assert cache.decide(one) == evaluate_before_resolution(policy, one)
    assert cache.decide(other) == evaluate_before_resolution(policy, other)
    assert cache.decide(one) != cache.decide(other)


def test_a_full_cache_starts_again() -> None:
    cache = DecisionCache(POLICIES[0], limit=3)
    for i in range(10):
        cache.decide(Call(operation="Converse", region="us-east-1", params={"modelId": f"m{i}"}))
        assert len(cache) <= 3


def test_fast_constructors_build_what_the_public_constructors_build() -> None:
    violation = Violation(rule="r", found="f", expected="e", fix="x")
    assert _new_violation("r", "f", "e", "x") == violation
    assert vars(_new_violation("r", "f", "e", "x")).keys() == {
        f.name for f in dataclasses.fields(Violation)
    }
    change = Change(path="p", old=None, new={"a": "b"}, reason="why", rule="guardrail.missing")
    built = _new_change("p", None, {"a": "b"}, "why", "guardrail.missing")
    assert built == change and repr(built) == repr(change) and hash(built.path) == hash("p")
    assert vars(built).keys() == {f.name for f in dataclasses.fields(Change)}
    fields = {
        "operation": "Converse",
        "params": {"modelId": SONNET},
        "changes": (change,),
        "violations": (violation,),
        "model_requested": SONNET,
        "model_sent": APP,
        "inference_profile": APP,
        "guardrail_id": GR_ID,
        "guardrail_version": "3",
        "pending_profiles": (APP_UNKNOWN,),
    }
    decision = _new_decision(*fields.values())
    assert decision == Decision(**fields)
    # Every field is set: a new field must be added to the fast constructor as well.
    assert vars(decision).keys() == {f.name for f in dataclasses.fields(Decision)} == fields.keys()
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.operation = "InvokeModel"  # type: ignore[misc]
    call = new_call("Converse", "us-east-1", "aws", "127.0.0.1", {"modelId": SONNET}, "bearer")
    public = Call(
        operation="Converse",
        region="us-east-1",
        partition="aws",
        endpoint_host="127.0.0.1",
        params={"modelId": SONNET},
        auth="bearer",
    )
    assert call == public and repr(call) == repr(public)
    assert vars(call).keys() == {f.name for f in dataclasses.fields(Call)}


@pytest.mark.parametrize("version", [["3"], {"v": "3"}, 3, b"3"])
@pytest.mark.parametrize("operation", ["InvokeModel", "ApplyGuardrail"])
def test_a_guardrail_version_that_is_not_text_is_a_conflict(
    version: object, operation: str
) -> None:
    # A list or dict version once raised TypeError (unhashable) instead of refusing.
    policy = POLICIES[1]
    params = {"modelId": SONNET, "guardrailIdentifier": GR_ID, "guardrailVersion": version}
    decision = evaluate_before_resolution(
        policy, Call(operation=operation, region="us-east-1", params=params)
    )
    if operation == "InvokeModel":
        assert decision.rules == ("guardrail.conflict",)
    assert decision.guardrail_version is None


# --- end to end: a secured client answers repeated calls from its cache -----------------------


def test_a_handler_editing_one_calls_parameters_cannot_change_the_next_call(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient]
) -> None:
    policy = Policy(
        guardrail=GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version),
        service_tier=ServiceTierPolicy(allowed=("default",)),
    )
    client = secured_client(policy)
    calls: list[str] = []

    def edit_the_second(params: dict[str, Any], **_: Any) -> None:
        # A handler that edits the parameters it is handed, in place, on the second call:
        # the first one answered from the cache.
        calls.append("call")
        if len(calls) == 2:
            params["guardrailConfig"]["guardrailVersion"] = "DRAFT"
            params["guardrailConfig"]["guardrailIdentifier"] = "other-guardrail"

    client.meta.events.register("before-parameter-build.bedrock-runtime.Converse", edit_the_second)
    messages = [{"role": "user", "content": [{"text": "hello"}]}]
    client.converse(modelId=MODEL_ID, messages=messages)
    with pytest.raises(securebedrock.SecureBedrockError):
        # The wire check refuses the edited request: what was decided is not what is sent.
        client.converse(modelId=MODEL_ID, messages=messages)
    for _ in range(2):
        client.converse(modelId=MODEL_ID, messages=messages)
    sent = [r.json["guardrailConfig"] for r in bedrock.requests if r.operation == "Converse"]
    assert (
        sent
        == [
            {
                "guardrailIdentifier": GUARDRAIL.identifier,
                "guardrailVersion": GUARDRAIL.version,
                "trace": "enabled",
            }
        ]
        * 3
    )
    # A tier the policy refuses is refused although the call's shape differs only there.
    with pytest.raises(securebedrock.PolicyViolation) as refused:
        client.converse(modelId=MODEL_ID, messages=messages, serviceTier={"type": "flex"})
    assert refused.value.rule == "service_tier.not_allowed"
    assert len([r for r in bedrock.requests if r.operation == "Converse"]) == 3
