"""ARNs that name another region or partition, end to end.

A guardrail ARN on InvokeModel, or a model or guardrail ARN in another partition,
is refused before a byte is sent: the embedded endpoint receives nothing, the span
is a deny with the rule, and the audit log records it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from _telemetry_helpers import events, make_otel
from botocore.client import BaseClient
from conftest import MODEL_ID

import securebedrock
from securebedrock import Policy
from securebedrock import _telemetry as T
from securebedrock._constants import AUDIT_LOGGER_NAME
from securebedrock._policy import RegionsPolicy
from securebedrock.testing import EmbeddedBedrock

ACCT = "123456789012"
BODY = json.dumps(
    {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": []}
).encode()
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
ANYWHERE = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("global",)))


def _refused(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    caplog: pytest.LogCaptureFixture,
    policy: Policy,
    call: Callable[[BaseClient], Any],
    rule: str,
) -> str:
    """Run ``call`` on a secured client; assert the refusal everywhere; return its 'found'."""
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    otel = make_otel()
    client = secured_client(policy, **otel.kwargs())
    with pytest.raises(securebedrock.PolicyViolation) as raised:
        call(client)
    assert raised.value.rule == rule
    assert bedrock.requests == []
    span = otel.only_span()
    assert dict(span.attributes or {})[T.ATTR_DECISION] == "deny"
    assert rule in dict(span.attributes or {})[T.ATTR_RULES]
    assert [v[T.ATTR_RULE] for v in events(span, T.EVENT_VIOLATION)] == [rule]
    records = [
        r.securebedrock  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == AUDIT_LOGGER_NAME and hasattr(r, "securebedrock")
    ]
    assert any(r["decision"] == "deny" and rule in r["rules"] for r in records), records
    return str(raised.value)


@pytest.mark.parametrize("operation", ["invoke_model", "invoke_model_with_response_stream"])
def test_a_guardrail_arn_in_another_region_on_invoke_model_sends_nothing(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    caplog: pytest.LogCaptureFixture,
    operation: str,
) -> None:
    foreign = f"arn:aws:bedrock:us-west-2:{ACCT}:guardrail/g1"

    def call(client: BaseClient) -> Any:
        return getattr(client, operation)(
            modelId=MODEL_ID, body=BODY, guardrailIdentifier=foreign, guardrailVersion="1"
        )

    message = _refused(bedrock, secured_client, caplog, Policy(), call, "region.cross_region")
    assert "us-west-2" in message


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_a_model_arn_in_another_partition_sends_nothing(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    caplog: pytest.LogCaptureFixture,
    partition: str,
) -> None:
    model = f"arn:{partition}:bedrock:us-east-1::foundation-model/{MODEL_ID}"

    def call(client: BaseClient) -> Any:
        return client.converse(modelId=model, messages=MESSAGES)

    message = _refused(bedrock, secured_client, caplog, ANYWHERE, call, "region.cross_region")
    assert partition in message


def test_a_guardrail_arn_in_another_partition_sends_nothing(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    guardrail = f"arn:aws-us-gov:bedrock:us-east-1:{ACCT}:guardrail/g1"

    def call(client: BaseClient) -> Any:
        return client.converse(
            modelId=MODEL_ID,
            messages=MESSAGES,
            guardrailConfig={"guardrailIdentifier": guardrail, "guardrailVersion": "1"},
        )

    message = _refused(bedrock, secured_client, caplog, ANYWHERE, call, "region.cross_region")
    assert "aws-us-gov" in message


def test_a_malformed_sagemaker_arn_sends_nothing(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = "arn:aws:sagemaker:us-east-1::endpoint/my-endpoint"  # no account

    def call(client: BaseClient) -> Any:
        return client.converse(modelId=model, messages=MESSAGES)

    _refused(bedrock, secured_client, caplog, ANYWHERE, call, "region.cross_region")
