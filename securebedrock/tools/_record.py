"""What the tool-call gate records for each decision: a span event and an audit record,
with Cedar's error messages redacted so that no tool input reaches either."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from .._constants import AUDIT_LOGGER_NAME
from ._decision import DECISION_EVENT, Principal, ToolDecision
from ._policy import ToolPolicy

if TYPE_CHECKING:
    from ._gate import ToolGate

__all__ = ["redact", "record"]

_QUOTED = re.compile(r"`([^`]*)`")
_IDENTIFIER_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

_audit_log = logging.getLogger(AUDIT_LOGGER_NAME)


def redact(message: str, policy: ToolPolicy, known: set[str]) -> str:
    """Cedar's message with every quoted fragment that may be tool input replaced by ``…``.

    Cedar quotes values in backticks ("context `{input: ...}` is not valid").
    A fragment is kept only when it is a policy id, one of the request's entity
    uids, or a path of identifiers that all appear in the policy or schema text.
    Positional policy ids are replaced by the policy's ``@id``.

    Cedar does not escape a backtick inside a value, so once a fragment may be input,
    the backticks after it can no longer be paired truthfully: everything from that
    fragment on is replaced, and so is everything after an unpaired backtick.
    """
    kept: list[str] = []
    position = 0
    for match in _QUOTED.finditer(message):
        kept.append(message[position : match.start()])
        fragment = _kept_fragment(match.group(1), policy, known)
        if fragment is None:
            kept.append("`…`")
            return "".join(kept)
        kept.append(fragment)
        position = match.end()
    tail = message[position:]
    if "`" in tail:
        tail = tail[: tail.index("`")] + "`…`"
    kept.append(tail)
    return "".join(kept)


def _kept_fragment(fragment: str, policy: ToolPolicy, known: set[str]) -> str | None:
    """The quoted ``fragment`` as it may appear in a decision, or ``None`` (may be input)."""
    if fragment in policy._display_ids:
        return f"`{policy._display_id(fragment)}`"
    if fragment in known or fragment in policy.policy_ids:
        return f"`{fragment}`"
    if _IDENTIFIER_PATH.fullmatch(fragment) and all(
        part in policy._identifiers for part in fragment.split(".")
    ):
        return f"`{fragment}`"
    return None


def record(decision: ToolDecision, principal: Principal, gate: ToolGate) -> None:
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
