"""Assemble ``toolUse`` blocks from ConverseStream events and decide each when complete."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import ToolGateError
from ._gate import Principal, ToolDecision, ToolGate
from ._record import record as _record


@dataclass(kw_only=True)
class _Pending:
    tool_use_id: str
    name: str
    chunks: list[str] = field(default_factory=list)


class ToolUseAssembler:
    """Feed it every ConverseStream event; it decides each ``toolUse`` block when it completes.

    A streamed tool call arrives as ``contentBlockStart`` (``start.toolUse``
    with ``toolUseId`` and ``name``), any number of ``contentBlockDelta``
    (``delta.toolUse.input``, chunks of a JSON string) and ``contentBlockStop``.
    :meth:`feed` returns the :class:`ToolDecision` on the stop event of a tool
    block, ``None`` otherwise. Input that is not valid JSON is denied.

    After the stream, :meth:`finish` denies any tool block the stream never
    closed and returns every decision; :attr:`tool_uses` holds the assembled
    ``toolUse`` blocks (``input`` parsed), in order, ready to be put back into
    the conversation as the assistant's message content.
    """

    def __init__(
        self,
        gate: ToolGate,
        *,
        principal: Principal,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(gate, ToolGate):
            raise ToolGateError(
                "[tools.stream] ToolUseAssembler needs a ToolGate",
                found=type(gate).__name__,
                expected="securebedrock.tools.ToolGate",
                fix="use gate.assembler(principal=...)",
            )
        self._gate = gate
        self._principal = principal
        self._context = context
        self._pending: dict[int, _Pending] = {}
        self._tool_uses: list[dict[str, Any]] = []
        self._decisions: list[ToolDecision] = []

    @property
    def decisions(self) -> tuple[ToolDecision, ...]:
        """Decisions so far, in the order the tool blocks completed."""
        return tuple(self._decisions)

    @property
    def tool_uses(self) -> tuple[dict[str, Any], ...]:
        """Assembled ``{"toolUse": {...}}`` content blocks, in completion order."""
        return tuple(self._tool_uses)

    def feed(self, event: Mapping[str, Any]) -> ToolDecision | None:
        """Consume one stream event; return a decision when it completes a tool block."""
        if not isinstance(event, Mapping):
            return None
        if "contentBlockStart" in event:
            body = event["contentBlockStart"]
            start = body.get("start", {}).get("toolUse")
            if isinstance(start, Mapping):
                self._pending[_index(body)] = _Pending(
                    tool_use_id=str(start.get("toolUseId") or ""), name=str(start.get("name") or "")
                )
        elif "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta = body.get("delta", {}).get("toolUse")
            if isinstance(delta, Mapping):
                # A delta for a block that never started stays nameless and is denied.
                pending = self._pending.setdefault(_index(body), _Pending(tool_use_id="", name=""))
                chunk = delta.get("input", "")
                pending.chunks.append(chunk if isinstance(chunk, str) else "")
        elif "contentBlockStop" in event:
            finished = self._pending.pop(_index(event["contentBlockStop"]), None)
            if finished is not None:
                return self._complete(finished)
        return None

    def finish(self) -> tuple[ToolDecision, ...]:
        """Deny every tool block the stream left open, and return all decisions."""
        for index in sorted(self._pending):
            pending = self._pending.pop(index)
            decision = self._gate._deny(
                pending.name,
                pending.tool_use_id,
                "the stream ended before the toolUse block was complete (no contentBlockStop)",
            )
            _record(decision, self._principal, self._gate)
            self._decisions.append(decision)
        return self.decisions

    def _complete(self, pending: _Pending) -> ToolDecision:
        raw = "".join(pending.chunks)
        try:
            tool_input = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            decision = self._gate._deny(
                pending.name, pending.tool_use_id, "the streamed toolUse input is not valid JSON"
            )
            _record(decision, self._principal, self._gate)
            tool_input = {}
        else:
            decision = self._gate.evaluate(
                {"toolUseId": pending.tool_use_id, "name": pending.name, "input": tool_input},
                principal=self._principal,
                context=self._context,
            )
        self._tool_uses.append(
            {
                "toolUse": {
                    "toolUseId": pending.tool_use_id,
                    "name": pending.name,
                    "input": tool_input,
                }
            }
        )
        self._decisions.append(decision)
        return decision


def _index(body: Any) -> int:
    index = body.get("contentBlockIndex", 0) if isinstance(body, Mapping) else 0
    return index if isinstance(index, int) else 0
