"""Every message the engine can produce, pinned verbatim.

A refusal's ``found``/``expected``/``fix`` text is what an operator reads (in the
error, on the span, in the audit log) to learn which rule fired, on what, and how
to fix it; a change's ``reason`` is what the audit records. This catalogue runs one
call per path through the engine and compares the whole decision with
``rule_messages.json`` next to this file. After an intended change of wording,
regenerate it and review the diff::

    SB_UPDATE_RULE_MESSAGES=1 pytest tests/test_rules_messages.py
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

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
from securebedrock._rules import Call, Decision, ResolvedProfile, evaluate, outcome

GOLDEN = Path(__file__).with_name("rule_messages.json")
ACCT = "123456789012"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
GR_ID = "gr1abc2def3g"
GR_ARN = f"arn:aws:bedrock:us-east-1:{ACCT}:guardrail/{GR_ID}"
APP = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
APP_WEST = APP.replace("us-east-1", "us-west-2")
ROUTER = f"arn:aws:bedrock:us-east-1:{ACCT}:default-prompt-router/anthropic.claude:1"
FM = "arn:aws:bedrock:{}::foundation-model/" + SONNET
SECRET = "SECRET-PROMPT-TEXT"

GUARDED = Policy(guardrail=GuardrailPolicy(identifier=GR_ID, version="3"))
GUARDED_ARN = Policy(guardrail=GuardrailPolicy(identifier=GR_ARN, version="7", trace="disabled"))
IN_REGION = Policy(regions=RegionsPolicy(allowed=("us-east-1",)))
US_ONLY = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)))
CLAUDE_ONLY = Policy(models=ModelsPolicy(allow=("anthropic.claude-3-5-*",)))
NO_HAIKU = Policy(models=ModelsPolicy(deny=("*-haiku-*",)))
PRIORITY = Policy(service_tier=ServiceTierPolicy(allowed=("priority", "flex")))
MAPPED = Policy(inference_profile=InferenceProfilePolicy(map={SONNET: APP}))
REQUIRED = Policy(inference_profile=InferenceProfilePolicy(required=True))
KNOWN = Policy(
    regions=RegionsPolicy(allowed=("us-east-1",)),
    inference_profile=InferenceProfilePolicy(
        known={APP: KnownProfile(models=(FM.format("us-east-1"), FM.format("eu-west-1")))}
    ),
)
RESOLVED = {APP: ResolvedProfile(arn=APP, regions=("us-east-1", "us-west-2"), model_ids=(HAIKU,))}


def _call(operation: str = "Converse", region: str = "us-east-1", **params: Any) -> Call:
    extra = {
        k: params.pop(k)
        for k in ("partition", "auth", "resolved_profiles", "unresolved_profiles")
        if k in params
    }
    if operation.startswith("Converse"):
        params.setdefault("messages", [{"role": "user", "content": [{"text": SECRET}]}])
    return Call(operation=operation, region=region, params=params, **extra)


SCENARIOS: dict[str, tuple[Policy, Call]] = {
    "allowed": (Policy(), _call(modelId=SONNET)),
    "auth.api_key": (
        Policy(auth=AuthPolicy(allow_api_keys=False)),
        _call(modelId=SONNET, auth="bearer"),
    ),
    "region.not_allowed client": (IN_REGION, _call(region="eu-west-1", modelId=SONNET)),
    "guardrail attach converse": (GUARDED, _call(modelId=SONNET)),
    "guardrail attach converse keeps caller trace": (
        GUARDED_ARN,
        _call("ConverseStream", modelId=SONNET, guardrailConfig={"trace": "enabled_full"}),
    ),
    "guardrail attach invoke": (GUARDED_ARN, _call("InvokeModel", modelId=SONNET, body=b"{}")),
    "guardrail attach invoke with caller id": (
        GUARDED,
        _call("InvokeModel", modelId=SONNET, guardrailIdentifier=GR_ARN, trace="ENABLED"),
    ),
    "guardrail.unsupported_operation": (GUARDED, _call("StartAsyncInvoke", modelId=SONNET)),
    "guardrail allowed without": (
        Policy(
            guardrail=GUARDED.guardrail,
            operations=OperationsPolicy(allow_without_guardrail=("StartAsyncInvoke",)),
        ),
        _call("StartAsyncInvoke", modelId=SONNET),
    ),
    "guardrail.conflict id": (
        GUARDED,
        _call(
            modelId=SONNET,
            guardrailConfig={"guardrailIdentifier": "other1", "guardrailVersion": "1"},
        ),
    ),
    "guardrail.conflict version": (
        GUARDED,
        _call("InvokeModel", modelId=SONNET, guardrailIdentifier=GR_ID, guardrailVersion="4"),
    ),
    "guardrail.conflict two arns": (
        GUARDED_ARN,
        _call(
            modelId=SONNET,
            guardrailConfig={"guardrailIdentifier": GR_ARN.replace(ACCT, "210987654321")},
        ),
    ),
    "guardrail.missing not a structure": (GUARDED, _call(modelId=SONNET, guardrailConfig="x")),
    "inference_profile.required": (REQUIRED, _call(modelId=SONNET)),
    "inference_profile.map": (
        MAPPED,
        _call(modelId=SONNET, resolved_profiles={APP: RESOLVED[APP]}),
    ),
    "unknown model": (Policy(), _call(modelId="not a model id")),
    "model not a string": (Policy(), _call(modelId=12345)),
    "partition": (Policy(), _call(modelId=FM.format("us-east-1").replace(":aws:", ":aws-cn:"))),
    "foreign arn not allowed": (IN_REGION, _call(modelId=FM.format("eu-west-1"))),
    "foreign arn cross_region off": (Policy(), _call(modelId=FM.format("eu-west-1"))),
    "foreign arn outside geographies": (US_ONLY, _call(modelId=FM.format("eu-west-1"))),
    "foreign arn inside geographies": (US_ONLY, _call(modelId=FM.format("us-west-2"))),
    "geo profile cross_region off": (Policy(), _call(modelId=f"eu.{SONNET}")),
    "geo profile geography not allowed": (US_ONLY, _call(modelId=f"eu.{SONNET}")),
    "application profile unresolved": (IN_REGION, _call(modelId=APP)),
    "application profile resolution failed": (
        IN_REGION,
        _call(modelId=APP, unresolved_profiles={APP: "AccessDeniedException"}),
    ),
    "application profile elsewhere": (IN_REGION, _call(modelId=APP_WEST)),
    "application profile routes abroad": (
        IN_REGION,
        _call(modelId=APP, resolved_profiles=RESOLVED),
    ),
    "known profile routes abroad": (KNOWN, _call(modelId=APP)),
    "prompt router": (IN_REGION, _call(modelId=ROUTER)),
    "prompt": (IN_REGION, _call(modelId=f"arn:aws:bedrock:us-east-1:{ACCT}:prompt/PROMPT12AB:1")),
    "custom prompt router": (
        IN_REGION,
        _call(modelId=f"arn:aws:bedrock:us-east-1:{ACCT}:prompt-router/my-router"),
    ),
    "guardrail attach invoke over empty caller values": (
        GUARDED,
        _call("InvokeModel", modelId=SONNET, guardrailIdentifier="", guardrailVersion="", trace=""),
    ),
    "model.not_allowed allow": (CLAUDE_ONLY, _call(modelId=HAIKU)),
    "model.not_allowed deny": (
        NO_HAIKU,
        _call(modelId=f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"),
    ),
    "model.not_allowed via profile": (CLAUDE_ONLY, _call(modelId=APP, resolved_profiles=RESOLVED)),
    "model.not_allowed undeterminable": (CLAUDE_ONLY, _call(modelId=APP)),
    "service_tier absent": (PRIORITY, _call(modelId=SONNET)),
    "service_tier structure": (PRIORITY, _call(modelId=SONNET, serviceTier={"type": "default"})),
    "service_tier string": (PRIORITY, _call("InvokeModel", modelId=SONNET, serviceTier="reserved")),
    "service_tier wrong shape": (PRIORITY, _call(modelId=SONNET, serviceTier="priority")),
    "foreign guardrail arn": (
        IN_REGION,
        _call(
            "InvokeModel",
            modelId=SONNET,
            guardrailIdentifier=GR_ARN.replace("us-east-1", "eu-west-1"),
            guardrailVersion="1",
        ),
    ),
    "foreign async invocation": (
        Policy(),
        _call("GetAsyncInvoke", invocationArn=f"arn:aws:bedrock:eu-west-1:{ACCT}:async-invoke/a1"),
    ),
}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


#: Unrecognised values are shown as a digest keyed per process: pinned without the digest.
_PLACEHOLDER = re.compile(r"<unrecognised:[0-9a-f]+>")


def _text(text: str) -> str:
    return _PLACEHOLDER.sub("<unrecognised:...>", text)


def _render(decision: Decision) -> dict[str, Any]:
    return {
        "outcome": [outcome(decision, enforce=True), outcome(decision, enforce=False)],
        "violations": [
            [v.rule, _text(v.found), _text(v.expected), _text(v.fix)] for v in decision.violations
        ],
        "changes": [
            [c.rule, c.path, _plain(c.old), _plain(c.new), c.reason] for c in decision.changes
        ],
        "sent": {k: _plain(v) for k, v in decision.params.items() if k not in ("messages", "body")},
        "model": [decision.model_requested, decision.model_sent, decision.inference_profile],
        "guardrail": [decision.guardrail_id, decision.guardrail_version],
    }


def _actual() -> dict[str, Any]:
    return {name: _render(evaluate(policy, call)) for name, (policy, call) in SCENARIOS.items()}


def test_every_engine_message_is_the_pinned_one() -> None:
    actual = _actual()
    if os.environ.get("SB_UPDATE_RULE_MESSAGES"):
        GOLDEN.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert sorted(actual) == sorted(expected)
    for name in SCENARIOS:
        assert actual[name] == expected[name], name


def test_the_catalogue_reaches_every_rule_and_never_quotes_the_prompt() -> None:
    from securebedrock._rules import RULE_IDS

    actual = _actual()
    seen = {v[0] for decision in actual.values() for v in decision["violations"]}
    assert seen == set(RULE_IDS) - {"wire.mismatch"}  # reported by the wire check, not here
    assert SECRET not in json.dumps(actual)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_refusal_says_what_was_found_expected_and_the_fix(name: str) -> None:
    policy, call = SCENARIOS[name]
    for violation in evaluate(policy, call).violations:
        assert violation.found and violation.expected and violation.fix


def test_why_a_known_profile_entry_is_unusable_is_pinned() -> None:
    # Unreachable through a validated policy (which admits only foundation-model ARNs),
    # but the engine re-checks the entries it compiles and says why it refuses one.
    from securebedrock._rules import _compile_known

    geo = f"us.{SONNET}"
    assert _compile_known(APP, (f"us.{SONNET}",)) == (
        f"inference_profile.known[{APP!r}] lists {geo!r}, which is not a foundation model id or ARN"
    )
    assert _compile_known(geo, (SONNET,)) == (
        f"inference_profile.known[{geo!r}] lists the plain id {SONNET!r} and the profile is not "
        "an ARN: give foundation-model ARNs (they name the region)"
    )
    assert _compile_known(APP, ()) == f"inference_profile.known[{APP!r}] lists no models"
