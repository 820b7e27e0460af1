"""The tool-call gate: one Cedar decision per ``toolUse`` block a model asks for.

Entity model (mirrors AgentCore Policy, so the same policy text works in both):

- principal: the calling identity, ``AgentCore::OAuthUser::"<sub>"`` by default
  (any entity type may be given), with its attributes and tags (JWT claims);
- action: ``AgentCore::Action::"<toolUse name>"``, the tool name verbatim;
- resource: ``AgentCore::Gateway::"<gateway id>"``, the gate's ``gateway``;
- context: ``{"input": <toolUse input>, **caller context}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as trace

from .. import _env
from ._cedar import cedarpy
from ._decision import (
    ACTION_TYPE,
    DECISION_EVENT,
    DEFAULT_GATEWAY,
    DEFAULT_PRINCIPAL_TYPE,
    GATEWAY_TYPE,
    NAMESPACE,
    Mode,
    Principal,
    ToolDecision,
    _quote,
    denied_tool_result,
)
from ._errors import ToolGateError
from ._policy import ToolPolicy

# The audit logger the decision records use, under the name it had here (tests replace
# its methods, and the tracing API's, to prove broken telemetry never breaks the gate).
from ._record import _audit_log as _audit_log
from ._record import record as _record
from ._record import redact as _redact
from ._values import ValueProblem, to_cedar

if TYPE_CHECKING:
    from ._stream import ToolUseAssembler

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
    "ToolGate",
    "denied_tool_result",
]

_log = logging.getLogger("securebedrock.tools")


@dataclass(frozen=True, kw_only=True)
class ToolGate:
    """Evaluates Cedar policies on the tool calls a model asks for; default deny.

    ``mode="log_only"`` records decisions without blocking anything, for a
    rollout; ``SECUREBEDROCK_MODE=enforce`` in the environment tightens a
    ``log_only`` gate to ``enforce`` (read once, here), never the reverse.
    ``gateway`` is the id of the ``AgentCore::Gateway`` resource entity.
    """

    #: The loaded policies.
    policy: ToolPolicy
    #: ``enforce`` (a deny blocks) or ``log_only`` (decisions recorded, nothing blocked).
    mode: Mode = "enforce"
    #: Id of the ``AgentCore::Gateway`` entity every call is a request against.
    gateway: str = DEFAULT_GATEWAY
    # The cedarpy module, imported once here (fails now, naming the extra, not at a call).
    _cedar: Any = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cedar", cedarpy())
        if not isinstance(self.policy, ToolPolicy):
            raise ToolGateError(
                "[tools.policy] ToolGate needs a ToolPolicy",
                found=type(self.policy).__name__,
                expected="ToolPolicy.from_file(...) or ToolPolicy.from_text(...)",
                fix="load the Cedar policies with ToolPolicy first",
            )
        if self.mode not in ("enforce", "log_only"):
            raise ToolGateError(
                "[tools.mode] invalid tool gate mode",
                found=repr(self.mode),
                expected="'enforce' or 'log_only'",
                fix="pass mode='enforce' (or 'log_only' for a rollout)",
            )
        if not isinstance(self.gateway, str) or not self.gateway:
            raise ToolGateError(
                "[tools.gateway] invalid gateway id",
                found=repr(self.gateway),
                expected="a non-empty string (e.g. the gateway ARN your policies name)",
                fix="pass gateway='arn:aws:bedrock-agentcore:...' or leave the default",
            )
        # Read by the same rules as the client's; a gate has no "apply" stage, so only
        # "enforce" changes it (the environment tightens, never loosens).
        if _env.mode() == "enforce":
            object.__setattr__(self, "mode", "enforce")
        for line, named in self.policy._gateway_references():
            if named != self.gateway:
                _log.warning(
                    "%s:%d names %s::%s but this gate's gateway is %s: "
                    "that policy never matches a call through this gate",
                    self.policy.source,
                    line,
                    GATEWAY_TYPE,
                    _quote(named),
                    _quote(self.gateway),
                )

    def evaluate(
        self,
        tool_use: Mapping[str, Any],
        *,
        principal: Principal,
        context: Mapping[str, Any] | None = None,
    ) -> ToolDecision:
        """Decide one ``toolUse`` block (``{"toolUseId", "name", "input"}``).

        ``context`` adds caller attributes next to ``input`` in the Cedar
        context (``context.channel``); it may not define ``input``. A block
        that cannot be evaluated (malformed, values Cedar cannot represent,
        an evaluation error) is denied, with the reason in ``errors``.
        """
        extra = self._caller_context(context)
        if not isinstance(principal, Principal):
            raise ToolGateError(
                "[tools.principal] evaluate() needs a Principal",
                found=type(principal).__name__,
                expected="securebedrock.tools.Principal",
                fix="pass principal=Principal(id=..., tags=...)",
            )
        name, tool_use_id, problem = _read_tool_use(tool_use)
        if problem is not None:
            decision = self._deny(name, tool_use_id, problem)
        else:
            try:
                tool_input = to_cedar(
                    tool_use.get("input", {}), "input", known_keys=self.policy._identifiers
                )
            except ValueProblem as exc:
                decision = self._deny(name, tool_use_id, str(exc))
            else:
                decision = self._authorize(name, tool_use_id, tool_input, principal, extra)
        _record(decision, principal, self)
        return decision

    def check(
        self,
        response: Mapping[str, Any],
        *,
        principal: Principal,
        context: Mapping[str, Any] | None = None,
    ) -> tuple[ToolDecision, ...]:
        """Decide every ``toolUse`` block of a Converse response (or of one message).

        Returns one decision per block, in order; an empty tuple when the
        model asked for no tool.
        """
        if not isinstance(response, Mapping):
            raise ToolGateError(
                "[tools.check] not a Converse response",
                found=type(response).__name__,
                expected="the dict returned by client.converse(), or its output['message']",
                fix="pass the Converse response itself",
            )
        message = response.get("output", {}).get("message") if "output" in response else response
        # No default: a ConverseStream response (or anything else) passed here by mistake
        # must not read as "the model asked for no tool".
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            raise ToolGateError(
                "[tools.check] not a Converse response",
                found="no output.message.content list",
                expected="the dict returned by client.converse(), or its output['message']",
                fix="pass the Converse response itself; for ConverseStream use gate.assembler()",
            )
        return tuple(
            self.evaluate(block["toolUse"], principal=principal, context=context)
            for block in content
            if isinstance(block, Mapping) and "toolUse" in block
        )

    def assembler(
        self, *, principal: Principal, context: Mapping[str, Any] | None = None
    ) -> ToolUseAssembler:
        """A :class:`ToolUseAssembler` that decides each streamed ``toolUse`` as it completes."""
        from ._stream import ToolUseAssembler  # the assembler module imports this one

        return ToolUseAssembler(self, principal=principal, context=context)

    # -- internals ------------------------------------------------------------------------

    def _caller_context(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        if context is None:
            return {}
        if not isinstance(context, Mapping) or "input" in context:
            raise ToolGateError(
                "[tools.context] invalid caller context",
                found="a context defining 'input'"
                if isinstance(context, Mapping)
                else type(context).__name__,
                expected="a mapping of extra attributes ('input' is set by the gate)",
                fix="rename the attribute (e.g. 'request_input') or drop it",
            )
        try:
            converted: dict[str, Any] = to_cedar(dict(context), "context")
        except ValueProblem as exc:
            raise ToolGateError(
                "[tools.context] caller context must be Cedar-compatible JSON",
                found=str(exc),
                expected="strings, booleans, 64-bit integers, lists and records",
                fix="convert the offending value before passing it",
            ) from None
        return converted

    def _deny(self, name: str, tool_use_id: str, error: str) -> ToolDecision:
        return ToolDecision(
            tool_name=name,
            tool_use_id=tool_use_id,
            allowed=False,
            mode=self.mode,
            errors=(error,),
            policy_digest=self.policy.digest,
        )

    def _authorize(
        self,
        name: str,
        tool_use_id: str,
        tool_input: Any,
        principal: Principal,
        extra: dict[str, Any],
    ) -> ToolDecision:
        cedar = self._cedar
        request = {
            "principal": {"type": principal.type, "id": principal.id},
            "action": {"type": ACTION_TYPE, "id": name},
            "resource": {"type": GATEWAY_TYPE, "id": self.gateway},
            "context": {**extra, "input": tool_input},
        }
        entities = [principal._entity()]
        if (principal.type, principal.id) != (GATEWAY_TYPE, self.gateway):
            entities.append(
                {"uid": {"type": GATEWAY_TYPE, "id": self.gateway}, "attrs": {}, "parents": []}
            )
        try:
            result = cedar.is_authorized(
                request, self.policy._policy_set, entities, schema=self.policy._schema
            )
            raw_errors = tuple(str(error) for error in result.diagnostics.errors)
            # Cedar skips a policy whose condition errors, so a broken `forbid` would
            # silently let a `permit` through. We fail closed instead: any error denies.
            allowed = result.decision == cedar.Decision.Allow and not raw_errors
            reasons = (
                tuple(str(reason) for reason in result.diagnostics.reasons)
                if not raw_errors
                else ()
            )
        except Exception as exc:  # noqa: BLE001 - any failure of the engine is a deny
            allowed, reasons = False, ()
            # The exception text may quote the request (tool input): keep only its type.
            raw_errors = (f"Cedar evaluation failed ({type(exc).__name__})",)
        known = {
            principal.uid,
            f"{ACTION_TYPE}::{_quote(name)}",
            f"{GATEWAY_TYPE}::{_quote(self.gateway)}",
        }
        errors = tuple(_redact(error, self.policy, known) for error in raw_errors)
        return ToolDecision(
            tool_name=name,
            tool_use_id=tool_use_id,
            allowed=allowed,
            mode=self.mode,
            determining_policies=tuple(self.policy._display_id(reason) for reason in reasons),
            errors=errors,
            policy_digest=self.policy.digest,
        )


def _read_tool_use(tool_use: Any) -> tuple[str, str, str | None]:
    """(name, toolUseId, problem): a malformed block is denied, never guessed at."""
    if not isinstance(tool_use, Mapping):
        return "", "", "malformed toolUse block: not a mapping"
    name = tool_use.get("name")
    tool_use_id = tool_use.get("toolUseId")
    safe_name = name if isinstance(name, str) else ""
    safe_id = tool_use_id if isinstance(tool_use_id, str) else ""
    if not safe_name:
        return safe_name, safe_id, "malformed toolUse block: no tool name"
    if not safe_id:
        return safe_name, safe_id, "malformed toolUse block: no toolUseId"
    return safe_name, safe_id, None
