"""What the tool-call gate decides about: the principal, and the decision it returns."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from ._errors import ToolGateError
from ._values import ValueProblem, to_cedar

__all__ = [
    "ACTION_TYPE",
    "DECISION_EVENT",
    "DEFAULT_GATEWAY",
    "DEFAULT_PRINCIPAL_TYPE",
    "GATEWAY_TYPE",
    "NAMESPACE",
    "Mode",
    "Principal",
    "ToolDecision",
    "denied_tool_result",
]

Mode = Literal["enforce", "log_only"]

#: Cedar namespace of every entity the gate builds (the one AgentCore Gateway uses).
NAMESPACE: Final = "AgentCore"
#: Entity type of the action: one action per tool, its id the tool name.
ACTION_TYPE: Final = f"{NAMESPACE}::Action"
#: Entity type of the resource every tool call is made against.
GATEWAY_TYPE: Final = f"{NAMESPACE}::Gateway"
#: Default principal entity type (AgentCore's OAuth user; the id is the JWT ``sub``).
DEFAULT_PRINCIPAL_TYPE: Final = f"{NAMESPACE}::OAuthUser"
#: Gateway id used when a ``ToolGate`` is not given one.
DEFAULT_GATEWAY: Final = "securebedrock"
#: Name of the span event recorded for each decision.
DECISION_EVENT: Final = "securebedrock.tool_decision"

_ENTITY_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, kw_only=True)
class Principal:
    """The identity on whose behalf the agent calls a tool: a Cedar entity.

    ``tags`` are Cedar entity tags (``principal.getTag("role")``,
    ``principal.hasTag("role")``), the way AgentCore exposes OAuth token claims;
    ``attributes`` are ordinary attributes (``principal.department``). Values
    are JSON values (str, bool, int, lists, records); they are checked here, so
    a bad value fails when the principal is built, not during a call.
    """

    #: The entity id, e.g. the OAuth ``sub`` claim.
    id: str
    #: The entity type, e.g. ``AgentCore::OAuthUser`` or ``AgentCore::IamEntity``.
    type: str = DEFAULT_PRINCIPAL_TYPE
    #: Cedar attributes of the principal entity.
    attributes: Mapping[str, Any] = field(default_factory=dict)
    #: Cedar tags of the principal entity (e.g. token claims).
    tags: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ToolGateError(
                "[tools.principal] invalid principal id",
                found=repr(type(self.id).__name__),
                expected="a non-empty string",
                fix="pass the caller's identity, e.g. Principal(id=claims['sub'])",
            )
        if not isinstance(self.type, str) or not _ENTITY_TYPE.fullmatch(self.type):
            raise ToolGateError(
                "[tools.principal] invalid principal entity type",
                found=repr(self.type),
                expected="a Cedar entity type such as AgentCore::OAuthUser",
                fix="use Namespace::Type made of letters, digits and underscores",
            )
        for name in ("attributes", "tags"):
            raw = getattr(self, name)
            try:
                converted = to_cedar(dict(raw), name)
            except (ValueProblem, TypeError, ValueError) as exc:
                raise ToolGateError(
                    f"[tools.principal.{name}] principal {name} must be Cedar-compatible JSON",
                    found=str(exc),
                    expected="strings, booleans, 64-bit integers, lists and records",
                    fix=f"convert the offending {name[:-1]} before building the Principal",
                ) from None
            object.__setattr__(self, name, MappingProxyType(converted))

    @property
    def uid(self) -> str:
        """The entity uid in Cedar syntax, e.g. ``AgentCore::OAuthUser::"alice"``."""
        return f"{self.type}::{_quote(self.id)}"

    def _entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "uid": {"type": self.type, "id": self.id},
            "attrs": dict(self.attributes),
            "parents": [],
        }
        if self.tags:
            entity["tags"] = dict(self.tags)
        return entity


@dataclass(frozen=True, kw_only=True)
class ToolDecision:
    """The gate's decision on one ``toolUse`` block.

    ``allowed`` is what the policies decided. ``blocked`` is what the agent
    must act on: it is ``allowed`` inverted in ``enforce`` mode and always
    ``False`` in ``log_only`` mode, where decisions are recorded but nothing is
    stopped. Branch on ``blocked``::

        if decision.blocked:
            results.append(denied_tool_result(decision))
        else:
            results.append(run_tool(tool_use))
    """

    #: The tool the model asked for (the ``toolUse`` ``name``).
    tool_name: str
    #: The ``toolUseId`` of the block, to answer it with a ``toolResult``.
    tool_use_id: str
    #: The policies' verdict: ``True`` only when a ``permit`` matched and no ``forbid`` did.
    allowed: bool
    #: The gate's mode when it decided.
    mode: Mode
    #: Ids of the policies that determined the decision: the matching ``permit`` policies
    #: for an allow, the matching ``forbid`` policies for a deny; empty for a default
    #: deny and for a deny caused by an error.
    determining_policies: tuple[str, ...] = ()
    #: Why the evaluation failed, if it did. Any error denies the call, even when
    #: Cedar alone would allow it (Cedar skips an erroring policy, so a broken
    #: ``forbid`` would otherwise let a ``permit`` through). Never contains
    #: tool input values: Cedar's quoted fragments that are not policy text are redacted.
    errors: tuple[str, ...] = ()
    #: :attr:`ToolPolicy.digest` of the policy that decided.
    policy_digest: str = ""

    @property
    def enforced(self) -> bool:
        """``True`` when the gate was in ``enforce`` mode (a deny stops the call)."""
        return self.mode == "enforce"

    @property
    def blocked(self) -> bool:
        """``True`` when the agent must not run the tool (denied, in ``enforce`` mode)."""
        return not self.allowed and self.enforced

    @property
    def outcome(self) -> Literal["allow", "deny", "log_only"]:
        """``allow``; ``deny`` (blocked); or ``log_only`` (would have been denied, was not)."""
        if self.allowed:
            return "allow"
        return "deny" if self.enforced else "log_only"


def denied_tool_result(decision: ToolDecision) -> dict[str, Any]:
    """The ``toolResult`` content block that answers a denied ``toolUse``.

    Send it back to the model in the next ``user`` message instead of running
    the tool, so the conversation continues safely. The text names the tool and
    the denial, never the tool input. Raises :class:`ToolGateError` for a
    decision that was allowed (there is nothing to deny).
    """
    if decision.allowed:
        raise ToolGateError(
            "[tools.result] denied_tool_result() called for an allowed tool call",
            found=f"decision for {decision.tool_name!r} with allowed=True",
            expected="a decision with allowed=False",
            fix="run the tool when decision.blocked is False; answer with this block otherwise",
        )
    if decision.errors:
        why = "the policy could not be evaluated for this call, so it was denied"
    elif decision.determining_policies:
        why = "forbidden by policy " + ", ".join(decision.determining_policies)
    else:
        why = "no policy permits this call"
    text = (
        f"Tool call denied: {decision.tool_name!r} was not run ({why}). "
        "This is a policy decision, not an error in the tool; do not retry the same call."
    )
    return {
        "toolResult": {
            "toolUseId": decision.tool_use_id,
            "content": [{"text": text}],
            "status": "error",
        }
    }


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
