"""examples/agent_tool_gate.py runs as a user runs it, and its agent loop is safe end to end."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from _user_process import run_python
from botocore.client import BaseClient

from securebedrock.testing import EmbeddedBedrock
from securebedrock.tools import Principal

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "agent_tool_gate.py"


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    """The example imported as a module (registered, as dataclasses need, then removed)."""
    name = "_securebedrock_example_agent_tool_gate"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def test_example_runs_as_a_script(tmp_path: Path) -> None:
    result = run_python(tmp_path, str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (
        "small refund: decisions=[('ProcessRefund__execute', 'allow', ('refund-under-500',))]"
        in out
    )
    assert "large refund: decisions=[('ProcessRefund__execute', 'deny', ())] ran=[]" in out
    assert "large refund, log_only: decisions=[('ProcessRefund__execute', 'log_only', ())]" in out
    assert "streamed LookupOrder__execute: allow" in out
    assert out.strip().endswith(
        json.dumps([["ProcessRefund__execute"], [], ["ProcessRefund__execute"]])
    )


@pytest.mark.parametrize(("amount", "ran"), [(120, ["ProcessRefund__execute"]), (900, [])])
def test_agent_loop_runs_only_permitted_tools(
    example: ModuleType,
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    amount: int,
    ran: list[str],
) -> None:
    bedrock.set_tool_input("ProcessRefund__execute", {"orderId": "ORDER-77", "amount": amount})
    billing = Principal(id="alice", tags={"role": "billing-agent"})
    run = example.run_agent(
        secured_client(), example.load_gate(), billing, "use tool ProcessRefund__execute"
    )
    assert run.ran == ran
    assert run.answer  # the conversation finished with a final answer, no crash
    # What the server received on the second turn: the tool's result, or the denial.
    (result,) = [
        block["toolResult"]
        for block in bedrock.requests[-1].json["messages"][-1]["content"]
        if "toolResult" in block
    ]
    if ran:
        assert result["content"] == [{"json": {"refunded": amount, "orderId": "ORDER-77"}}]
    else:
        assert result["status"] == "error"
        assert "denied" in result["content"][0]["text"]
        assert "ORDER-77" not in json.dumps(result) and str(amount) not in json.dumps(result)


def test_suspended_account_is_refused_every_tool(
    example: ModuleType, bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient]
) -> None:
    bedrock.set_tool_input("LookupOrder__execute", {"orderId": "A-1"})
    suspended = Principal(id="mallory", tags={"role": "billing-agent", "suspended": "true"})
    run = example.run_agent(
        secured_client(), example.load_gate(), suspended, "use tool LookupOrder__execute"
    )
    assert run.ran == []
    assert [d.determining_policies for d in run.decisions] == [("suspended-accounts",)]


def test_streaming_helper(
    example: ModuleType, bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient]
) -> None:
    bedrock.set_tool_input("ProcessRefund__execute", {"orderId": "A-1", "amount": 9000})
    billing = Principal(id="alice", tags={"role": "billing-agent"})
    (decision,) = example.stream_tool_calls(
        secured_client(), example.load_gate(), billing, "use tool ProcessRefund__execute"
    )
    assert decision.blocked
