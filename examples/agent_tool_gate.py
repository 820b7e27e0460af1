"""An agent loop whose tool calls pass a Cedar gate before they run.

The model asks for tools; a deterministic policy, outside the model's
reasoning, decides whether each call runs. A denied call is answered with a
``toolResult`` error block, so the conversation goes on instead of crashing.

Run it: ``python examples/agent_tool_gate.py`` (starts its own embedded
endpoint on loopback; no AWS account, no network). Needs the ``cedar`` extra:
``pip install 'securebedrock[cedar]'``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import securebedrock
from securebedrock.testing import EmbeddedBedrock
from securebedrock.tools import (
    Principal,
    ToolDecision,
    ToolGate,
    ToolPolicy,
    denied_tool_result,
)

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
HERE = Path(__file__).resolve().parent
GATEWAY = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/refunds"


# --8<-- [start:tools]
def process_refund(tool_input: dict[str, Any]) -> dict[str, Any]:
    """The side effect the policy guards (here: pretend to refund)."""
    return {"refunded": tool_input["amount"], "orderId": tool_input["orderId"]}


def lookup_order(tool_input: dict[str, Any]) -> dict[str, Any]:
    """A harmless read."""
    return {"orderId": tool_input["orderId"], "status": "delivered", "total": 120}


TOOLS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ProcessRefund__execute": process_refund,
    "LookupOrder__execute": lookup_order,
}

TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "ProcessRefund__execute",
                "description": "Refund an order. Amount in whole currency units.",
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {
                            "orderId": {"type": "string"},
                            "amount": {"type": "integer"},
                        },
                        "required": ["orderId", "amount"],
                    }
                },
            }
        },
        {
            "toolSpec": {
                "name": "LookupOrder__execute",
                "description": "Look an order up.",
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {"orderId": {"type": "string"}},
                        "required": ["orderId"],
                    }
                },
            }
        },
    ]
}
# --8<-- [end:tools]


# --8<-- [start:gate]
def load_gate(mode: str = "enforce") -> ToolGate:
    """Parse and validate the policies once, at start-up (never per call)."""
    policy = ToolPolicy.from_file(
        HERE / "tools" / "refunds.cedar", schema_file=HERE / "tools" / "refunds.cedarschema"
    )
    return ToolGate(
        policy=policy, mode="log_only" if mode == "log_only" else "enforce", gateway=GATEWAY
    )


# --8<-- [end:gate]


@dataclass
class AgentRun:
    """What one conversation did: the final answer, every decision, the tools that ran."""

    answer: str = ""
    decisions: list[ToolDecision] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)


# --8<-- [start:loop]
def run_tool_calls(
    gate: ToolGate, principal: Principal, message: dict[str, Any], run: AgentRun
) -> list[dict[str, Any]]:
    """Answer every toolUse block of an assistant message: run it, or refuse it."""
    results: list[dict[str, Any]] = []
    for block in message["content"]:
        if "toolUse" not in block:
            continue
        tool_use = block["toolUse"]
        decision = gate.evaluate(tool_use, principal=principal)
        run.decisions.append(decision)
        if decision.blocked:  # never `not decision.allowed`: log_only must not block
            results.append(denied_tool_result(decision))
            continue
        output = TOOLS[tool_use["name"]](tool_use["input"])
        run.ran.append(tool_use["name"])
        results.append(
            {"toolResult": {"toolUseId": tool_use["toolUseId"], "content": [{"json": output}]}}
        )
    return results


def run_agent(
    client: Any, gate: ToolGate, principal: Principal, prompt: str, *, max_turns: int = 4
) -> AgentRun:
    """Converse until the model stops asking for tools (or max_turns is reached)."""
    run = AgentRun()
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": prompt}]}]
    for _ in range(max_turns):
        response = client.converse(modelId=MODEL_ID, messages=messages, toolConfig=TOOL_CONFIG)
        message = response["output"]["message"]
        messages.append(message)
        if response["stopReason"] != "tool_use":
            run.answer = " ".join(b["text"] for b in message["content"] if "text" in b)
            return run
        messages.append({"role": "user", "content": run_tool_calls(gate, principal, message, run)})
    return run


# --8<-- [end:loop]


# --8<-- [start:stream]
def stream_tool_calls(
    client: Any, gate: ToolGate, principal: Principal, prompt: str
) -> tuple[ToolDecision, ...]:
    """ConverseStream: each toolUse is decided the moment its block is complete."""
    response = client.converse_stream(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        toolConfig=TOOL_CONFIG,
    )
    assembler = gate.assembler(principal=principal)
    for event in response["stream"]:
        decision = assembler.feed(event)
        if decision is not None:
            print(f"  streamed {decision.tool_name}: {decision.outcome}")
    return assembler.finish()  # also denies a tool block the stream never closed


# --8<-- [end:stream]


def demo(client: Any, server: EmbeddedBedrock | None) -> list[AgentRun]:
    """Three conversations: a permitted refund, a denied one, and the same in log_only mode."""
    gate = load_gate()
    # --8<-- [start:principal]
    billing = Principal(id="alice", tags={"role": "billing-agent"})  # e.g. from the JWT claims
    # --8<-- [end:principal]
    runs: list[AgentRun] = []
    for label, amount, this_gate in (
        ("small refund", 120, gate),
        ("large refund", 900, gate),
        ("large refund, log_only", 900, load_gate("log_only")),
    ):
        if server is not None:  # the embedded model asks for exactly this input
            server.set_tool_input("ProcessRefund__execute", {"orderId": "A-1001", "amount": amount})
        run = run_agent(client, this_gate, billing, "Please use tool ProcessRefund__execute")
        outcomes = [(d.tool_name, d.outcome, d.determining_policies) for d in run.decisions]
        print(f"{label}: decisions={outcomes} ran={run.ran}")
        runs.append(run)
    print("streaming:")
    stream_tool_calls(client, gate, billing, "Please use tool LookupOrder__execute")
    return runs


def main(argv: Sequence[str] | None = None) -> None:
    """Run the demo against ``--endpoint-url``, or against an embedded endpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--endpoint-url", help="a bedrock-runtime endpoint (default: embedded)")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    if args.endpoint_url:
        client = securebedrock.client(region_name=args.region, endpoint_url=args.endpoint_url)
        demo(client, None)
        return
    with EmbeddedBedrock() as server, server.org_policy():
        server.set_tool_input("LookupOrder__execute", {"orderId": "A-1001"})
        client = securebedrock.client(**server.client_kwargs())
        runs = demo(client, server)
        print(json.dumps([run.ran for run in runs]))


if __name__ == "__main__":
    main()
