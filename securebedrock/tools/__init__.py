"""A deterministic gate on the tool calls a model asks for: Cedar policies, outside the model.

The client-side counterpart of AgentCore Policy, for agents that call Bedrock
directly. Needs the ``cedar`` extra (``pip install 'securebedrock[cedar]'``);
importing this module works without it, using the gate raises
:class:`CedarNotInstalledError`.

    from securebedrock.tools import Principal, ToolGate, ToolPolicy, denied_tool_result

    gate = ToolGate(policy=ToolPolicy.from_file("tools.cedar"))
    caller = Principal(id="alice", tags={"role": "billing-agent"})
    for decision in gate.check(response, principal=caller):
        if decision.blocked:
            results.append(denied_tool_result(decision))
        ...

Entities: principal ``AgentCore::OAuthUser::"<id>"`` (or the type you give),
action ``AgentCore::Action::"<tool name>"``, resource
``AgentCore::Gateway::"<gateway>"``, and ``context.input`` the tool input.
"""

from __future__ import annotations

from ._errors import CedarNotInstalledError, PolicyProblem, ToolGateError, ToolPolicyError
from ._gate import (
    ACTION_TYPE,
    DECISION_EVENT,
    DEFAULT_GATEWAY,
    DEFAULT_PRINCIPAL_TYPE,
    GATEWAY_TYPE,
    Mode,
    Principal,
    ToolDecision,
    ToolGate,
    denied_tool_result,
)
from ._policy import ToolPolicy
from ._stream import ToolUseAssembler

__all__ = [
    "ACTION_TYPE",
    "CedarNotInstalledError",
    "DECISION_EVENT",
    "DEFAULT_GATEWAY",
    "DEFAULT_PRINCIPAL_TYPE",
    "GATEWAY_TYPE",
    "Mode",
    "PolicyProblem",
    "Principal",
    "ToolDecision",
    "ToolGate",
    "ToolGateError",
    "ToolPolicy",
    "ToolPolicyError",
    "ToolUseAssembler",
    "denied_tool_result",
]
