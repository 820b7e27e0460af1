"""``mode = "apply"``: the rollout stage between ``log_only`` and ``enforce``.

It makes the mandated changes (guardrail attached, model mapped to its
profile), refuses nothing, and records what enforce would refuse: the span's
``securebedrock.decision`` is ``log_only`` with the rules, ``securebedrock.mode``
is ``apply``. The ladder ``log_only`` < ``apply`` < ``enforce`` is tighten-only
in merges and in ``SECUREBEDROCK_MODE``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _telemetry_helpers import FAST_RETRY, Otel, events, make_otel
from botocore.client import BaseClient
from conftest import GUARDRAIL, MODEL_ID

import securebedrock
from securebedrock import (
    GuardrailPolicy,
    InferenceProfilePolicy,
    ModelsPolicy,
    Policy,
    PolicyConfigError,
    RegionsPolicy,
    TLSPolicy,
    _discovery,
)
from securebedrock import _telemetry as T
from securebedrock.testing import EmbeddedBedrock

MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/apply1"
FM = f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL_ID}"
MANDATED = GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version)


@pytest.fixture
def otel() -> Otel:
    return make_otel()


def apply_client(
    secured_client: Callable[..., BaseClient], otel: Otel, **sections: Any
) -> BaseClient:
    return secured_client(Policy(mode="apply", **sections), retry=FAST_RETRY, **otel.kwargs())


def test_apply_attaches_the_guardrail_and_records_an_allow(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient], otel: Otel
) -> None:
    client = apply_client(secured_client, otel, guardrail=MANDATED)
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    sent = bedrock.requests[-1].json["guardrailConfig"]
    assert sent["guardrailIdentifier"] == GUARDRAIL.identifier
    assert sent["guardrailVersion"] == GUARDRAIL.version
    attrs = dict(otel.only_span().attributes or {})
    assert attrs[T.ATTR_MODE] == "apply"
    assert attrs[T.ATTR_DECISION] == "allow"  # nothing enforce would refuse


def test_apply_maps_the_model_on_invoke_model_too(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient], otel: Otel
) -> None:
    bedrock.add_inference_profile(PROFILE, models=[FM])
    client = apply_client(
        secured_client,
        otel,
        guardrail=MANDATED,
        inference_profile=InferenceProfilePolicy(map={MODEL_ID: PROFILE}),
    )
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                       "messages": [{"role": "user", "content": "hi"}]})  # fmt: skip
    client.invoke_model(modelId=MODEL_ID, body=body)
    request = bedrock.requests[-1]
    assert request.operation == "InvokeModel" and request.model_id == PROFILE
    assert request.headers["X-Amzn-Bedrock-GuardrailIdentifier"] == GUARDRAIL.identifier


def test_apply_refuses_nothing_and_records_what_enforce_would_refuse(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient], otel: Otel
) -> None:
    client = apply_client(
        secured_client,
        otel,
        guardrail=MANDATED,
        models=ModelsPolicy(deny=("anthropic.*",)),
        regions=RegionsPolicy(allowed=("eu-central-1",)),
    )
    client.converse(modelId=MODEL_ID, messages=MESSAGES)  # no PolicyViolation
    request = bedrock.requests[-1]
    assert request.model_id == MODEL_ID  # sent as asked ...
    assert request.json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier
    span = otel.only_span()
    attrs = dict(span.attributes or {})
    assert attrs[T.ATTR_MODE] == "apply"
    assert attrs[T.ATTR_DECISION] == "log_only"
    assert set(attrs[T.ATTR_RULES]) == {"model.not_allowed", "region.not_allowed"}
    assert {e[T.ATTR_RULE] for e in events(span, T.EVENT_VIOLATION)} == {
        "model.not_allowed",
        "region.not_allowed",
    }
    (point, *_) = otel.metric_points(T.METRIC_VIOLATIONS)
    assert dict(point.attributes)[T.ATTR_MODE] == "apply"


def test_apply_conflicting_guardrail_is_sent_as_the_caller_wrote_it(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient], otel: Otel
) -> None:
    bedrock.add_guardrail(type(GUARDRAIL)(identifier="other0guard1", version="1"))
    client = apply_client(secured_client, otel, guardrail=MANDATED)
    own = {"guardrailIdentifier": "other0guard1", "guardrailVersion": "1"}
    client.converse(modelId=MODEL_ID, messages=MESSAGES, guardrailConfig=own)
    assert bedrock.requests[-1].json["guardrailConfig"]["guardrailIdentifier"] == "other0guard1"
    assert dict(otel.only_span().attributes or {})[T.ATTR_RULES] == ("guardrail.conflict",)


def test_apply_transport_rules_record_and_send() -> None:
    otel = make_otel()
    with EmbeddedBedrock(tls_max_version="1.2") as server:
        with server.org_policy(Policy(mode="apply", tls=TLSPolicy(minimum_version="1.3"))):
            client = securebedrock.client(**server.client_kwargs(), **otel.kwargs())
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
        assert server.requests[-1].tls_version == "TLSv1.2"
    attrs = dict(otel.only_span().attributes or {})
    assert attrs[T.ATTR_DECISION] == "log_only" and attrs[T.ATTR_RULES] == ("tls.version",)


# --------------------------------------------------------------------------- the ladder


def org(tmp_path: Path, mode: str) -> dict[str, str]:
    path = tmp_path / f"{mode}.toml"
    path.write_text(f'version = 1\nmode = "{mode}"\n')
    return {"SECUREBEDROCK_POLICY_FILE": str(path)}


@pytest.mark.parametrize(
    ("file_mode", "env_mode", "expected"),
    [
        ("log_only", "apply", "apply"),
        ("log_only", "enforce", "enforce"),
        ("apply", "enforce", "enforce"),
        ("apply", "apply", "apply"),
        ("enforce", "enforce", "enforce"),
    ],
)
def test_environment_climbs_the_ladder(
    tmp_path: Path, file_mode: str, env_mode: str, expected: str
) -> None:
    env = {**org(tmp_path, file_mode), "SECUREBEDROCK_MODE": env_mode}
    assert _discovery.effective_policy(None, environ=env).mode == expected


@pytest.mark.parametrize(
    ("file_mode", "env_mode"),
    [("apply", "log_only"), ("enforce", "apply"), ("enforce", "log_only")],
)
def test_environment_never_steps_down(tmp_path: Path, file_mode: str, env_mode: str) -> None:
    env = {**org(tmp_path, file_mode), "SECUREBEDROCK_MODE": env_mode}
    with pytest.raises(PolicyConfigError) as refused:
        _discovery.effective_policy(None, environ=env)
    assert env_mode in str(refused.value.found) and file_mode in str(refused.value.found)


def test_code_cannot_step_the_org_stage_down(tmp_path: Path) -> None:
    env = org(tmp_path, "apply")
    code = Policy(mode="log_only")
    assert _discovery.effective_policy(code, environ=env).mode == "apply"
    assert _discovery.effective_policy(Policy(mode="enforce"), environ=env).mode == "enforce"


def test_apply_round_trips_and_is_in_the_digest() -> None:
    applied = Policy.from_toml('version = 1\nmode = "apply"\n')
    assert applied.mode == "apply"
    assert Policy.from_toml(applied.to_toml()) == applied
    assert applied.digest != Policy(mode="enforce").digest != Policy(mode="log_only").digest
    with pytest.raises(PolicyConfigError, match="apply"):
        Policy.from_toml('version = 1\nmode = "Apply"\n')
