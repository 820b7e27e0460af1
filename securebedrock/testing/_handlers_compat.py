"""The OpenAI- and Anthropic-compatible APIs of the embedded endpoint.

- ``POST /openai/v1/chat/completions``: OpenAI Chat Completions as bedrock-runtime
  serves it (SigV4 service ``bedrock``), the guardrail taken from the
  ``X-Amzn-Bedrock-GuardrailIdentifier``/``-GuardrailVersion``/``-Trace`` headers.
- ``POST /v1/chat/completions``: the same on the bedrock-mantle host form (SigV4
  service ``bedrock-mantle``); no guardrail headers are read there.
- ``POST /anthropic/v1/messages``: Anthropic Messages as bedrock-mantle serves it.

Each answers JSON, or server-sent events with ``"stream": true``: OpenAI chunks ending
with ``data: [DONE]``, Anthropic events ending with ``message_stop``. A prompt holding
``[[truncate]]`` makes a stream end cleanly *without* its terminal event (what a proxy
cutting a stream looks like to a client); ``[[stream:N]]`` sets the number of deltas.
A blocked word of the request's guardrail gives the intervention shape: the blocked
message as the answer, ``finish_reason: "content_filter"`` and the
``X-Amzn-Bedrock-GuardrailAction: INTERVENED`` response header.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ._handlers import (
    ApiError,
    GuardrailSpec,
    JsonResponse,
    _count_tokens,
    _parse_json_object,
    _text_of_any,
    base_model_id,
)

if TYPE_CHECKING:
    from ._handlers import Backend

__all__ = ["COMPAT_OPERATIONS", "SseResponse", "handle", "route", "signing_service"]

_ROUTES: Final = {
    "/openai/v1/chat/completions": "ChatCompletions",
    "/v1/chat/completions": "MantleChatCompletions",
    "/anthropic/v1/messages": "MantleMessages",
}
#: The operations this module answers.
COMPAT_OPERATIONS: Final = frozenset(_ROUTES.values())
_TRUNCATE: Final = "[[truncate]]"


@dataclass(frozen=True, kw_only=True)
class SseResponse:
    """A ``text/event-stream`` response: each item of ``events`` is one event's bytes."""

    events: Iterator[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)


def route(method: str, raw_path: str) -> tuple[str, dict[str, str]] | None:
    """The compatible-API operation of a request, or ``None``."""
    operation = _ROUTES.get(raw_path)
    if operation is None or method.upper() != "POST":
        return None
    return operation, {}


def signing_service(operation: str) -> str:
    """The SigV4 service name requests for ``operation`` are signed for."""
    return "bedrock-mantle" if operation.startswith("Mantle") else "bedrock"


def handle(
    backend: Backend, operation: str, headers: Mapping[str, str], body: bytes
) -> JsonResponse | SseResponse:
    """Answer one authenticated compatible-API request."""
    request = _parse_json_object(body, "request body")
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError("ValidationException", "model is required.")
    backend.check_model_id(model)
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError("ValidationException", "messages must be a non-empty array.")
    prompt = "\n".join(_text_of_any({"messages": messages, "system": request.get("system")}))
    guardrail: GuardrailSpec | None = None
    if operation == "ChatCompletions":
        identifier = headers.get("x-amzn-bedrock-guardrailidentifier")
        version = headers.get("x-amzn-bedrock-guardrailversion")
        if identifier and not version:
            raise ApiError(
                "ValidationException", "Guardrail version is required with a guardrail identifier."
            )
        guardrail = backend._guardrail(identifier, version)
    blocked = None
    if guardrail is not None:
        if guardrail.blocked_in(prompt):
            blocked = guardrail.blocked_input_message
        elif guardrail.blocked_in(backend.answer):
            blocked = guardrail.blocked_output_message
    response_headers: dict[str, str] = {}
    if guardrail is not None:
        response_headers["X-Amzn-Bedrock-GuardrailAction"] = "INTERVENED" if blocked else "NONE"
    deltas = [blocked] if blocked is not None else backend._deltas(backend._stream_count(prompt))
    text = "".join(deltas)
    usage = (_count_tokens(prompt), _count_tokens(text))
    stream = request.get("stream") is True
    truncate = _TRUNCATE in prompt
    if operation == "MantleMessages":
        if stream:
            return SseResponse(
                events=_anthropic_events(model, deltas, usage, truncate), headers=response_headers
            )
        return JsonResponse(
            body=json.dumps(_anthropic_message(model, text, usage)).encode(),
            headers=response_headers,
        )
    finish = "content_filter" if blocked is not None else "stop"
    if stream:
        include_usage = isinstance(request.get("stream_options"), dict) and bool(
            request["stream_options"].get("include_usage")
        )
        return SseResponse(
            events=_openai_events(
                model, deltas, finish, usage if include_usage else None, truncate
            ),
            headers=response_headers,
        )
    completion = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        },
    }
    return JsonResponse(body=json.dumps(completion).encode(), headers=response_headers)


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def _openai_events(
    model: str,
    deltas: list[str],
    finish: str,
    usage: tuple[int, int] | None,
    truncate: bool,
) -> Iterator[bytes]:
    ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
        }

    for number, text in enumerate(deltas):
        delta = {"role": "assistant", "content": text} if number == 0 else {"content": text}
        yield _sse(chunk(delta, None))
    if truncate:
        return
    yield _sse(chunk({}, finish))
    if usage is not None:
        yield _sse(
            {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": sum(usage),
                },
            }
        )
    yield _sse("[DONE]")


def _anthropic_message(model: str, text: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": base_model_id(model),
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def _anthropic_events(
    model: str, deltas: list[str], usage: tuple[int, int], truncate: bool
) -> Iterator[bytes]:
    start = _anthropic_message(model, "", (usage[0], 0))
    start["content"] = []
    start["stop_reason"] = None
    yield _sse({"type": "message_start", "message": start}, "message_start")
    yield _sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        "content_block_start",
    )
    for text in deltas:
        yield _sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
            "content_block_delta",
        )
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage[1]},
        },
        "message_delta",
    )
    if truncate:
        return
    yield _sse({"type": "message_stop"}, "message_stop")
