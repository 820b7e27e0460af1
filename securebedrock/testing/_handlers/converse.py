"""Converse and ConverseStream: the model-agnostic conversation API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _eventstream
from .responses import ApiError, Response, StreamResponse, json_response, parse_json_object
from .specs import GuardrailSpec
from .text import USE_TOOL, count_tokens, text_of_converse_blocks

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["converse", "converse_stream"]


@dataclass(frozen=True, kw_only=True)
class _Prompt:
    text: str
    latest_user_text: str
    ends_with_tool_result: bool


@dataclass(frozen=True, kw_only=True)
class _Plan:
    request: dict[str, Any]
    prompt: _Prompt
    guardrail: GuardrailSpec | None
    blocked: str | None


def _prompt(request: Mapping[str, Any]) -> _Prompt:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError("ValidationException", "A conversation must start with a user message.")
    texts = text_of_converse_blocks(request.get("system"))
    latest_user = ""
    ends_with_tool_result = False
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise ApiError("ValidationException", "Each message needs a valid role.")
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise ApiError("ValidationException", "Each message needs non-empty content.")
        message_texts = text_of_converse_blocks(content)
        texts.extend(message_texts)
        if message["role"] == "user":
            latest_user = " ".join(message_texts)
            ends_with_tool_result = any(isinstance(b, dict) and "toolResult" in b for b in content)
    return _Prompt(
        text="\n".join(texts),
        latest_user_text=latest_user,
        ends_with_tool_result=ends_with_tool_result,
    )


def _plan(backend: Backend, labels: Mapping[str, str], body: bytes) -> _Plan:
    backend.check_model_id(labels["modelId"])
    request = parse_json_object(body, "request body")
    prompt = _prompt(request)
    config = request.get("guardrailConfig")
    guardrail = None
    if isinstance(config, dict):
        guardrail = backend.find_guardrail(
            config.get("guardrailIdentifier"), config.get("guardrailVersion")
        )
    return _Plan(
        request=request,
        prompt=prompt,
        guardrail=guardrail,
        blocked=backend.blocked_message(guardrail, prompt.text),
    )


def _tool_request(backend: Backend, prompt: _Prompt, tool_config: Any) -> tuple[str, Any] | None:
    """The tool the model asks for: the one named after "use tool" in the latest user
    message (the first tool when that names none of them), unless the conversation
    just answered a tool."""
    if prompt.ends_with_tool_result or not isinstance(tool_config, dict):
        return None
    tools = [
        t["toolSpec"]["name"]
        for t in tool_config.get("tools") or []
        if isinstance(t, dict)
        and isinstance(t.get("toolSpec"), dict)
        and isinstance(t["toolSpec"].get("name"), str)
    ]
    found = USE_TOOL.search(prompt.latest_user_text)
    if not tools or not found:
        return None
    wanted = found.group(1)
    name = wanted if wanted in tools else tools[0]
    return name, backend.tool_input(name)


def _guardrail_trace(plan: _Plan) -> dict[str, Any] | None:
    config = plan.request.get("guardrailConfig")
    if plan.guardrail is None or not isinstance(config, dict):
        return None
    if config.get("trace", "disabled") == "disabled":
        return None
    words = plan.guardrail.blocked_in(plan.prompt.text)
    assessment: dict[str, Any] = {}
    if words:
        assessment["wordPolicy"] = {
            "customWords": [{"match": w, "action": "BLOCKED", "detected": True} for w in words],
            "managedWordLists": [],
        }
    return {"guardrail": {"inputAssessment": {plan.guardrail.identifier: assessment}}}


def converse(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``Converse``: the whole answer in one JSON response."""
    plan = _plan(backend, labels, body)
    request, blocked = plan.request, plan.blocked
    input_tokens = count_tokens(plan.prompt.text)
    tool = None if blocked else _tool_request(backend, plan.prompt, request.get("toolConfig"))
    content: list[dict[str, Any]]
    if blocked is not None:
        content, stop_reason = [{"text": blocked}], "guardrail_intervened"
        output_tokens = count_tokens(blocked)
    elif tool is not None:
        content = [
            {"text": "I will use a tool."},
            {
                "toolUse": {
                    "toolUseId": f"tooluse_{uuid.uuid4().hex[:22]}",
                    "name": tool[0],
                    "input": tool[1],
                }
            },
        ]
        stop_reason, output_tokens = "tool_use", 8
    else:
        content, stop_reason = [{"text": backend.answer}], "end_turn"
        output_tokens = count_tokens(backend.answer)
    response: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 7},
    }
    trace = _guardrail_trace(plan)
    if trace is not None:
        response["trace"] = trace
    if isinstance(request.get("serviceTier"), dict):
        response["serviceTier"] = request["serviceTier"]
    if isinstance(request.get("performanceConfig"), dict):
        response["performanceConfig"] = request["performanceConfig"]
    return json_response(response)


def converse_stream(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``ConverseStream``: the answer as an event stream of deltas."""
    plan = _plan(backend, labels, body)
    blocked = plan.blocked
    input_tokens = count_tokens(plan.prompt.text)
    tool = None if blocked else _tool_request(backend, plan.prompt, plan.request.get("toolConfig"))
    count = backend.stream_count(plan.prompt.text)
    trace = _guardrail_trace(plan)

    def events() -> Iterator[bytes]:
        enc = _eventstream.encode_event
        yield enc("messageStart", {"role": "assistant"})
        if blocked is not None:
            yield enc("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": blocked}})
            yield enc("contentBlockStop", {"contentBlockIndex": 0})
            stop_reason, output_tokens = "guardrail_intervened", count_tokens(blocked)
        elif tool is not None:
            name, tool_input = tool
            yield enc(
                "contentBlockStart",
                {
                    "contentBlockIndex": 0,
                    "start": {
                        "toolUse": {"toolUseId": f"tooluse_{uuid.uuid4().hex[:22]}", "name": name}
                    },
                },
            )
            raw = json.dumps(tool_input, separators=(",", ":"))
            # The input arrives as JSON text in pieces, as real models send it.
            pieces = [raw[i : i + 16] for i in range(0, len(raw), 16)] or ["{}"]
            for piece in pieces:
                yield enc(
                    "contentBlockDelta",
                    {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}},
                )
            yield enc("contentBlockStop", {"contentBlockIndex": 0})
            stop_reason, output_tokens = "tool_use", len(pieces)
        else:
            for delta in backend.deltas(count):
                yield enc("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": delta}})
            yield enc("contentBlockStop", {"contentBlockIndex": 0})
            stop_reason, output_tokens = "end_turn", count
        yield enc("messageStop", {"stopReason": stop_reason})
        metadata: dict[str, Any] = {
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": 7},
        }
        if trace is not None:
            metadata["trace"] = trace
        yield enc("metadata", metadata)

    return StreamResponse(events=events())
