"""Content never leaves: a sentinel in prompts, completions and tool inputs appears in no
span, event, metric, log record or exception text."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _telemetry_helpers import FAST_RETRY, make_otel
from botocore.client import BaseClient
from conftest import GUARDRAIL, MODEL_ID
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

import securebedrock
from securebedrock._policy import RegionsPolicy
from securebedrock.testing import EmbeddedBedrock

SENTINEL = "SENTINEL-7f3a9c-do-not-leak"
TOOL = {
    "tools": [
        {
            "toolSpec": {
                "name": "lookup",
                "description": "look something up",
                "inputSchema": {"json": {"type": "object"}},
            }
        }
    ]
}


def _messages(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": f"{text} {SENTINEL}"}]}]


def _tool_result_messages() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": [{"text": f"use tool lookup {SENTINEL}"}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": SENTINEL}}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"json": {"answer": SENTINEL}}]}}
            ],
        },
    ]


def _body(text: str) -> str:
    return json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 50,
            "system": SENTINEL,
            "messages": [{"role": "user", "content": f"{text} {SENTINEL}"}],
        }
    )


def _exercise(client: BaseClient, bedrock: EmbeddedBedrock, errors: list[BaseException]) -> None:
    """Every content-bearing path, the failing ones included."""
    guardrail = {"guardrailIdentifier": GUARDRAIL.identifier, "guardrailVersion": GUARDRAIL.version}
    system = [{"text": SENTINEL}]
    client.converse(modelId=MODEL_ID, messages=_messages("hello"), system=system)
    client.converse(modelId=MODEL_ID, messages=_messages("use tool lookup"), toolConfig=TOOL)
    client.converse(modelId=MODEL_ID, messages=_tool_result_messages(), toolConfig=TOOL)
    client.converse(modelId=MODEL_ID, messages=_messages("forbidden"), guardrailConfig=guardrail)
    for prompt in ("hello", "use tool lookup", "forbidden"):
        list(
            client.converse_stream(
                modelId=MODEL_ID,
                messages=_messages(prompt),
                toolConfig=TOOL,
                guardrailConfig=guardrail,
            )["stream"]
        )
    client.invoke_model(modelId=MODEL_ID, body=_body("hello"))["body"].read()
    client.invoke_model(modelId=MODEL_ID, body=_body("forbidden"), **guardrail)["body"].read()
    list(client.invoke_model_with_response_stream(modelId=MODEL_ID, body=_body("hi"))["body"])
    client.count_tokens(modelId=MODEL_ID, input={"converse": {"messages": _messages("hi")}})
    client.apply_guardrail(
        source="INPUT", content=[{"text": {"text": f"forbidden {SENTINEL}"}}], **guardrail
    )
    # Failing calls: retries exhausted, a stream cut mid-way.
    bedrock.faults.throttle(10)
    try:
        client.converse(modelId=MODEL_ID, messages=_messages("hello"))
    except Exception as exc:
        errors.append(exc)
    bedrock.faults.clear()
    bedrock.faults.close_mid_stream(after_events=3)
    try:
        list(client.converse_stream(modelId=MODEL_ID, messages=_messages("hello"))["stream"])
    except Exception as exc:
        errors.append(exc)


def _assert_no_sentinel(
    otel: Any, caplog: pytest.LogCaptureFixture, errors: list[BaseException]
) -> None:
    spans = otel.all_spans()
    assert spans
    for span in spans:
        assert SENTINEL not in span.to_json(), span.name
    assert SENTINEL not in otel.all_metric_text()
    checked = 0
    for record in caplog.records:
        # botocore's own DEBUG logs print request and response bodies (as in any boto3
        # app; docs/telemetry.md says to keep them off in production). Everything else,
        # ours included, must be clean at every level.
        if record.name.startswith(("botocore", "urllib3")) and record.levelno < logging.INFO:
            continue
        checked += 1
        assert SENTINEL not in record.getMessage(), record.name
        assert SENTINEL not in repr(record.__dict__), record.name
    assert checked
    for error in errors:
        assert SENTINEL not in str(error)
        assert SENTINEL not in repr(error)


@pytest.fixture
def _everything_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger propagates here


@pytest.mark.usefixtures("_everything_logged")
def test_no_content_anywhere_with_digests_on(
    secured_client: Callable[..., BaseClient],
    bedrock: EmbeddedBedrock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bedrock.answer = f"The answer is {SENTINEL} indeed."
    bedrock.set_tool_input("lookup", {"query": SENTINEL})
    monkeypatch.setenv("SECUREBEDROCK_AUDIT_HMAC_KEY", "x" * 32)
    otel = make_otel()
    policy = dataclasses.replace(
        securebedrock.Policy.default(),
        audit=dataclasses.replace(securebedrock.Policy.default().audit, content="digest"),
    )
    client = secured_client(policy, retry=FAST_RETRY, **otel.kwargs())
    errors: list[BaseException] = []
    instrumentor = BotocoreInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider)
    try:
        _exercise(client, bedrock, errors)
    finally:
        instrumentor.uninstrument()
    assert len(errors) == 2
    assert any(s.attributes.get("securebedrock.prompt.digest") for s in otel.spans())
    _assert_no_sentinel(otel, caplog, errors)


@pytest.mark.usefixtures("_everything_logged")
def test_no_content_in_refused_and_logged_violations(
    secured_client: Callable[..., BaseClient],
    bedrock: EmbeddedBedrock,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    otel = make_otel()
    eu_only = dataclasses.replace(
        securebedrock.Policy.default(), regions=RegionsPolicy(allowed=("eu-west-1",))
    )
    errors: list[BaseException] = []
    try:
        secured_client(eu_only, **otel.kwargs()).converse(
            modelId=MODEL_ID, messages=_messages("hello"), toolConfig=TOOL
        )
    except securebedrock.PolicyViolation as exc:
        errors.append(exc)
    org = tmp_path / "org.toml"
    org.write_text('version = 1\nmode = "log_only"\n[regions]\nallowed = ["eu-west-1"]\n')
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(org))
    log_only = dataclasses.replace(securebedrock.Policy.default(), mode="log_only")
    secured_client(log_only, **otel.kwargs()).converse(
        modelId=MODEL_ID, messages=_tool_result_messages(), toolConfig=TOOL
    )
    assert len(errors) == 1
    assert [s.attributes["securebedrock.decision"] for s in otel.spans()] == ["deny", "log_only"]
    _assert_no_sentinel(otel, caplog, errors)
