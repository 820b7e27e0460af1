"""InvokeModel body shapes per model family: Anthropic, Titan, Nova, and the rest.

InvokeModel speaks each model's own JSON. The endpoint answers four shapes, picked
by the model id (``Backend.family``): Anthropic Messages, Amazon Titan Text, Amazon
Nova, and a generic ``generation`` body (the Llama/Mistral style) for every other
model.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .text import USE_TOOL, base_model_id

__all__ = ["anthropic_tool_request", "model_body", "stop_word", "stream_payloads"]


def model_body(
    family: str,
    model_id: str,
    text: str,
    input_tokens: int,
    output_tokens: int,
    stop: str,
    guardrail_action: str | None,
) -> dict[str, Any]:
    """A complete InvokeModel answer of ``family``'s shape."""
    body: dict[str, Any]
    if family == "anthropic":
        body = {
            "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": base_model_id(model_id),
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
    elif family == "titan":
        body = {
            "inputTextTokenCount": input_tokens,
            "results": [
                {"tokenCount": output_tokens, "outputText": text, "completionReason": stop}
            ],
        }
    elif family == "nova":
        body = {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
        }
    else:
        body = {
            "generation": text,
            "prompt_token_count": input_tokens,
            "generation_token_count": output_tokens,
            "stop_reason": stop,
        }
    if guardrail_action is not None:
        body["amazon-bedrock-guardrailAction"] = guardrail_action
    return body


def stop_word(family: str, blocked: bool) -> str:
    """How ``family`` says the answer is complete (or was filtered)."""
    if family == "anthropic":
        return "end_turn"
    if family == "titan":
        return "CONTENT_FILTERED" if blocked else "FINISH"
    return "end_turn" if family == "nova" else "stop"


def anthropic_tool_request(
    request: Mapping[str, Any], tool_input: Callable[[str], Any]
) -> tuple[str, Any] | None:
    """The tool an Anthropic-format request makes the model ask for, and its input
    (``tool_input(name)``): the one named after "use tool" in the latest user message,
    unless that message answers a tool."""
    tools = [
        t["name"]
        for t in request.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    ]
    users = [
        m for m in request.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"
    ]
    if not tools or not users:
        return None
    content = users[-1].get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks):
        return None
    text = " ".join(
        b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)
    )
    found = USE_TOOL.search(text)
    if not found:
        return None
    name = found.group(1) if found.group(1) in tools else tools[0]
    return name, tool_input(name)


def stream_payloads(
    family: str,
    *,
    model_id: str,
    deltas: list[str],
    tool: tuple[str, Any] | None,
    input_tokens: int,
    metrics: Mapping[str, Any],
    action: str | None,
    blocked: bool,
) -> Iterator[dict[str, Any]]:
    """The JSON payloads of an InvokeModelWithResponseStream answer, one per chunk."""
    if family == "anthropic":
        yield from _anthropic_stream(
            model_id=model_id,
            deltas=deltas,
            tool=tool,
            input_tokens=input_tokens,
            metrics=metrics,
            action=action,
        )
        return
    last = len(deltas) - 1
    for index, delta in enumerate(deltas):
        piece: dict[str, Any]
        if family == "titan":
            piece = {
                "outputText": delta,
                "index": 0,
                "totalOutputTextTokenCount": index + 1,
                "completionReason": stop_word(family, blocked) if index == last else None,
                "inputTextTokenCount": input_tokens,
            }
        elif family == "nova":
            piece = {"contentBlockDelta": {"delta": {"text": delta}, "contentBlockIndex": 0}}
        else:
            piece = {
                "generation": delta,
                "prompt_token_count": input_tokens,
                "generation_token_count": index + 1,
                "stop_reason": "stop" if index == last else None,
            }
        if index == last:
            piece["amazon-bedrock-invocationMetrics"] = metrics
            if action is not None:
                piece["amazon-bedrock-guardrailAction"] = action
        yield piece


def _anthropic_stream(
    *,
    model_id: str,
    deltas: list[str],
    tool: tuple[str, Any] | None,
    input_tokens: int,
    metrics: Mapping[str, Any],
    action: str | None,
) -> Iterator[dict[str, Any]]:
    yield {
        "type": "message_start",
        "message": {
            "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": base_model_id(model_id),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    }
    if tool is not None:
        yield {
            "type": "content_block_start",
            "index": 0,
            "content_block": {
                "type": "tool_use",
                "id": f"toolu_bdrk_{uuid.uuid4().hex[:24]}",
                "name": tool[0],
                "input": {},
            },
        }
        raw = json.dumps(tool[1], separators=(",", ":"))
        for start in range(0, len(raw), 16):
            yield {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": raw[start : start + 16]},
            }
    else:
        yield {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        for delta in deltas:
            yield {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": delta},
            }
    yield {"type": "content_block_stop", "index": 0}
    yield {
        "type": "message_delta",
        "delta": {
            "stop_reason": "end_turn" if tool is None else "tool_use",
            "stop_sequence": None,
        },
        "usage": {"output_tokens": len(deltas)},
    }
    final: dict[str, Any] = {"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}
    if action is not None:
        final["amazon-bedrock-guardrailAction"] = action
    yield final
