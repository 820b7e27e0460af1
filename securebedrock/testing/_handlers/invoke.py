"""InvokeModel and InvokeModelWithResponseStream: each model's own body shape.

The request and answer bodies are the model family's (see :mod:`.model_bodies`); the
guardrail rides in the ``X-Amzn-Bedrock-Guardrail*`` headers.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _eventstream
from .model_bodies import anthropic_tool_request, model_body, stop_word, stream_payloads
from .responses import ApiError, Response, StreamResponse, json_response, parse_json_object
from .specs import GuardrailSpec
from .text import count_tokens, text_of_any

if TYPE_CHECKING:
    from .backend import Backend

__all__ = [
    "invoke_model",
    "invoke_model_with_bidirectional_stream",
    "invoke_model_with_response_stream",
]


@dataclass(frozen=True, kw_only=True)
class _Plan:
    family: str
    request: dict[str, Any]
    prompt: str
    guardrail: GuardrailSpec | None
    blocked: str | None

    @property
    def action(self) -> str | None:
        """The ``amazon-bedrock-guardrailAction`` of the answer (``None``: no guardrail)."""
        if self.guardrail is None:
            return None
        return "INTERVENED" if self.blocked else "NONE"


def _plan(
    backend: Backend, labels: Mapping[str, str], headers: Mapping[str, str], body: bytes
) -> _Plan:
    model_id = labels["modelId"]
    backend.check_model_id(model_id)
    request = parse_json_object(body, "body")
    family = backend.family(model_id)
    if family == "anthropic" and not isinstance(request.get("messages"), list):
        raise ApiError(
            "ValidationException",
            "Malformed input request: #: required key [messages] not found, "
            "please reformat your input and try again.",
        )
    if family == "titan" and not isinstance(request.get("inputText"), str):
        raise ApiError(
            "ValidationException",
            "Malformed input request: #: required key [inputText] not found, "
            "please reformat your input and try again.",
        )
    prompt = "\n".join(text_of_any(request))
    identifier = headers.get("x-amzn-bedrock-guardrailidentifier")
    version = headers.get("x-amzn-bedrock-guardrailversion")
    if identifier and not version:
        raise ApiError(
            "ValidationException", "Guardrail version is required with a guardrail identifier."
        )
    guardrail = backend.find_guardrail(identifier, version)
    return _Plan(
        family=family,
        request=request,
        prompt=prompt,
        guardrail=guardrail,
        blocked=backend.blocked_message(guardrail, prompt),
    )


def _tool(backend: Backend, plan: _Plan) -> tuple[str, Any] | None:
    if plan.family != "anthropic" or plan.blocked is not None:
        return None
    return anthropic_tool_request(plan.request, backend.tool_input)


def invoke_model(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``InvokeModel``: the model family's answer body, usage in response headers."""
    plan = _plan(backend, labels, headers, body)
    text = plan.blocked if plan.blocked is not None else backend.answer
    input_tokens, output_tokens = count_tokens(plan.prompt), count_tokens(text)
    action = plan.action
    payload = model_body(
        plan.family,
        labels["modelId"],
        text,
        input_tokens,
        output_tokens,
        stop_word(plan.family, plan.blocked is not None),
        action,
    )
    tool = _tool(backend, plan)
    if tool is not None:
        payload["content"] = [
            {"type": "text", "text": "I will use a tool."},
            {
                "type": "tool_use",
                "id": f"toolu_bdrk_{uuid.uuid4().hex[:24]}",
                "name": tool[0],
                "input": tool[1],
            },
        ]
        payload["stop_reason"] = "tool_use"
    response_headers = {
        "X-Amzn-Bedrock-Input-Token-Count": str(input_tokens),
        "X-Amzn-Bedrock-Output-Token-Count": str(output_tokens),
        "X-Amzn-Bedrock-Invocation-Latency": "7",
    }
    if action is not None:
        response_headers["X-Amzn-Bedrock-GuardrailAction"] = action
    if headers.get("x-amzn-bedrock-service-tier"):
        response_headers["X-Amzn-Bedrock-Service-Tier"] = headers["x-amzn-bedrock-service-tier"]
    if headers.get("x-amzn-bedrock-performanceconfig-latency"):
        response_headers["X-Amzn-Bedrock-PerformanceConfig-Latency"] = headers[
            "x-amzn-bedrock-performanceconfig-latency"
        ]
    return json_response(payload, response_headers)


def invoke_model_with_response_stream(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``InvokeModelWithResponseStream``: the family's stream chunks, base64 in events."""
    plan = _plan(backend, labels, headers, body)
    input_tokens = count_tokens(plan.prompt)
    action = plan.action
    deltas = (
        [plan.blocked]
        if plan.blocked is not None
        else backend.deltas(backend.stream_count(plan.prompt))
    )
    tool = _tool(backend, plan)
    metrics = {
        "inputTokenCount": input_tokens,
        "outputTokenCount": len(deltas),
        "invocationLatency": 7,
        "firstByteLatency": 3,
    }
    payloads = stream_payloads(
        plan.family,
        model_id=labels["modelId"],
        deltas=deltas,
        tool=tool,
        input_tokens=input_tokens,
        metrics=metrics,
        action=action,
        blocked=plan.blocked is not None,
    )

    def events() -> Iterator[bytes]:
        for payload in payloads:
            raw = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            yield _eventstream.encode_event("chunk", {"bytes": base64.b64encode(raw).decode()})

    stream_headers = {"X-Amzn-Bedrock-Content-Type": "application/json"}
    if action is not None:
        stream_headers["X-Amzn-Bedrock-GuardrailAction"] = action
    return StreamResponse(events=events(), headers=stream_headers)


def invoke_model_with_bidirectional_stream(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``InvokeModelWithBidirectionalStream``: refused, as Bedrock refuses it over HTTP/1.1."""
    raise ApiError(
        "ValidationException",
        "InvokeModelWithBidirectionalStream requires HTTP/2, which the embedded "
        "endpoint does not speak.",
    )
