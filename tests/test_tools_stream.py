"""Tool calls from real Converse / ConverseStream responses of the embedded endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient

from securebedrock.testing import EmbeddedBedrock
from securebedrock.tools import Principal, ToolGate, ToolPolicy, denied_tool_result

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
POLICY = """
@id("small-refunds")
permit (principal, action == AgentCore::Action::"ProcessRefund__execute", resource)
when { context.input.amount < 500 && principal.hasTag("role") &&
       principal.getTag("role") == "billing-agent" };
"""
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": name,
                "inputSchema": {"json": {"type": "object"}},
            }
        }
        for name in ("ProcessRefund__execute", "DeleteEverything")
    ]
}
BILLING = Principal(id="alice", tags={"role": "billing-agent"})


@pytest.fixture(scope="module")
def gate() -> ToolGate:
    return ToolGate(policy=ToolPolicy.from_text(POLICY))


def _events(*blocks: tuple[int, str, str, list[str]]) -> list[dict[str, Any]]:
    """ConverseStream events for tool blocks (index, toolUseId, name, input chunks)."""
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    events.append({"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Sure."}}})
    events.append({"contentBlockStop": {"contentBlockIndex": 0}})
    for index, tool_use_id, name, chunks in blocks:
        events.append(
            {
                "contentBlockStart": {
                    "contentBlockIndex": index,
                    "start": {"toolUse": {"toolUseId": tool_use_id, "name": name}},
                }
            }
        )
        events.extend(
            {"contentBlockDelta": {"contentBlockIndex": index, "delta": {"toolUse": {"input": c}}}}
            for c in chunks
        )
        events.append({"contentBlockStop": {"contentBlockIndex": index}})
    events.append({"messageStop": {"stopReason": "tool_use"}})
    return events


def test_assembler_decides_each_block_when_it_completes(gate: ToolGate) -> None:
    assembler = gate.assembler(principal=BILLING)
    events = _events(
        (1, "a", "ProcessRefund__execute", ['{"orderId": "A', '-1", "amo', 'unt": 120}']),
        (2, "b", "ProcessRefund__execute", ['{"amount": 9', "00}"]),
        (3, "c", "DeleteEverything", []),
    )
    produced = [(i, d) for i, e in enumerate(events) if (d := assembler.feed(e)) is not None]
    # A decision appears exactly on each tool block's contentBlockStop, not before.
    assert all("contentBlockStop" in events[i] for i, _ in produced)
    assert [(d.tool_use_id, d.allowed) for _, d in produced] == [
        ("a", True),
        ("b", False),
        ("c", False),
    ]
    assert assembler.finish() == tuple(d for _, d in produced)
    assert assembler.tool_uses[0] == {
        "toolUse": {
            "toolUseId": "a",
            "name": "ProcessRefund__execute",
            "input": {"orderId": "A-1", "amount": 120},
        }
    }
    assert assembler.tool_uses[2]["toolUse"]["input"] == {}  # no deltas: empty input


def test_assembler_denies_invalid_json_and_unclosed_blocks(gate: ToolGate) -> None:
    assembler = gate.assembler(principal=BILLING)
    for event in _events((1, "bad", "ProcessRefund__execute", ['{"amount": 1'])):
        assembler.feed(event)
    (decision,) = assembler.decisions
    assert not decision.allowed and decision.errors == (
        "the streamed toolUse input is not valid JSON",
    )
    assert denied_tool_result(decision)["toolResult"]["toolUseId"] == "bad"

    open_block = gate.assembler(principal=BILLING)
    for event in _events((1, "cut", "ProcessRefund__execute", ['{"amount": 1}']))[:-2]:
        assert open_block.feed(event) is None  # the stream ends before contentBlockStop
    (unfinished,) = open_block.finish()
    assert unfinished.tool_use_id == "cut" and not unfinished.allowed
    assert "before the toolUse block was complete" in unfinished.errors[0]


def test_check_on_a_real_converse_response(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient], gate: ToolGate
) -> None:
    client = secured_client()
    bedrock.set_tool_input("ProcessRefund__execute", {"orderId": "A-1", "amount": 120})
    response = client.converse(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": "use tool ProcessRefund__execute"}]}],
        toolConfig=TOOL_CONFIG,
    )
    assert response["stopReason"] == "tool_use"
    (decision,) = gate.check(response, principal=BILLING)
    assert decision.allowed and decision.determining_policies == ("small-refunds",)

    bedrock.set_tool_input("DeleteEverything", {"confirm": True})
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"text": "use tool DeleteEverything"}]}
    ]
    response = client.converse(modelId=MODEL_ID, messages=messages, toolConfig=TOOL_CONFIG)
    (denied,) = gate.check(response, principal=BILLING)
    assert denied.blocked
    # The agent answers with the toolResult error block; the conversation goes on.
    messages.append(response["output"]["message"])
    messages.append({"role": "user", "content": [denied_tool_result(denied)]})
    final = client.converse(modelId=MODEL_ID, messages=messages, toolConfig=TOOL_CONFIG)
    assert final["stopReason"] == "end_turn"
    sent = bedrock.requests[-1].json["messages"][-1]["content"][0]["toolResult"]
    assert sent["status"] == "error" and sent["toolUseId"] == denied.tool_use_id
    assert "confirm" not in json.dumps(sent)


@pytest.mark.parametrize(("amount", "allowed"), [(120, True), (900, False)])
def test_assembler_on_a_real_converse_stream(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    gate: ToolGate,
    amount: int,
    allowed: bool,
) -> None:
    # Long enough that the server splits the JSON input across several deltas.
    tool_input = {"orderId": "ORDER-" + "9" * 40, "amount": amount}
    bedrock.set_tool_input("ProcessRefund__execute", tool_input)
    response = secured_client().converse_stream(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": "use tool ProcessRefund__execute"}]}],
        toolConfig=TOOL_CONFIG,
    )
    assembler = gate.assembler(principal=BILLING)
    deltas = 0
    for event in response["stream"]:
        deltas += "toolUse" in event.get("contentBlockDelta", {}).get("delta", {})
        assembler.feed(event)
    assert deltas > 1
    (decision,) = assembler.finish()
    assert decision.allowed is allowed
    assert assembler.tool_uses[0]["toolUse"]["input"] == tool_input
