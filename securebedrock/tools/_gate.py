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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from opentelemetry import trace

from .. import _env
from .._constants import AUDIT_LOGGER_NAME
from ._cedar import cedarpy
from ._errors import ToolGateError
from ._policy import ToolPolicy
from ._values import ValueProblem, to_cedar

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
_QUOTED = re.compile(r"`([^`]*)`")
_IDENTIFIER_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

if TYPE_CHECKING:
    from ._stream import ToolUseAssembler

_audit_log = logging.getLogger(AUDIT_LOGGER_NAME)
_log = logging.getLogger("securebedrock.tools")


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


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _redact(message: str, policy: ToolPolicy, known: set[str]) -> str:
    """Cedar's message with every quoted fragment that may be tool input replaced by ``…``.

    Cedar quotes values in backticks ("context `{input: ...}` is not valid").
    A fragment is kept only when it is a policy id, one of the request's entity
    uids, or a path of identifiers that all appear in the policy or schema text.
    Positional policy ids are replaced by the policy's ``@id``.
    """

    def keep(match: re.Match[str]) -> str:
        fragment = match.group(1)
        if fragment in policy._display_ids:
            return f"`{policy._display_id(fragment)}`"
        if fragment in known or fragment in policy.policy_ids:
            return match.group(0)
        if _IDENTIFIER_PATH.fullmatch(fragment) and all(
            part in policy._identifiers for part in fragment.split(".")
        ):
            return match.group(0)
        return "`…`"

    return _QUOTED.sub(keep, message)


def _record(decision: ToolDecision, principal: Principal, gate: ToolGate) -> None:
    """One span event and one audit record per decision; telemetry never raises."""
    attributes: dict[str, Any] = {
        "gen_ai.tool.name": decision.tool_name,
        "gen_ai.tool.call.id": decision.tool_use_id,
        "securebedrock.decision": decision.outcome,
        "securebedrock.mode": decision.mode,
        "securebedrock.tool.allowed": decision.allowed,
        "securebedrock.tool.blocked": decision.blocked,
        "securebedrock.tool.policy_ids": list(decision.determining_policies),
        "securebedrock.tool.error_count": len(decision.errors),
        "securebedrock.tool.policy_digest": decision.policy_digest,
        "securebedrock.tool.principal_type": principal.type,
    }
    try:
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(DECISION_EVENT, attributes)
    except Exception:  # noqa: BLE001, S110 - telemetry must never break the agent
        pass
    try:
        if _audit_log.isEnabledFor(logging.INFO):
            _audit_log.info(
                "securebedrock tool decision: %s %s",
                decision.outcome,
                decision.tool_name,
                extra={
                    "securebedrock": {
                        "event": DECISION_EVENT,
                        "tool": decision.tool_name,
                        "tool_use_id": decision.tool_use_id,
                        "decision": decision.outcome,
                        "mode": decision.mode,
                        "policy_ids": list(decision.determining_policies),
                        "error_count": len(decision.errors),
                        "policy_digest": decision.policy_digest,
                        "gateway": gate.gateway,
                    }
                },
            )
    except Exception:  # noqa: BLE001, S110 - telemetry must never break the agent
        pass
