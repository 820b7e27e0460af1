"""Per-model body facts: request parameters and response usage, never content.

Request side: the GenAI operation name, the sampling parameters (Converse's
``inferenceConfig`` or the model family's own JSON body keys) and the guardrail
a call carries. Response side (:class:`ResponseFacts`, the half of a call record
that reads responses): token usage, finish reasons and guardrail interventions
from Converse results, InvokeModel bodies and headers, and stream events.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.response import StreamingBody
from opentelemetry import trace

from .. import _digest
from .. import _telemetry_semconv as sc
from .._operations import operation as operation_row
from .failopen import safe
from .names import (
    ATTR_COMPLETION_DIGEST,
    ATTR_GUARDRAIL_ACTION,
    ATTR_GUARDRAIL_SOURCE,
    EVENT_GUARDRAIL,
)

if TYPE_CHECKING:
    from .client import Telemetry

__all__ = [
    "MAX_PARSE_BYTES",
    "ResponseFacts",
    "gen_ai_operation",
    "guardrail_of",
    "json_object",
    "request_parameters",
    "text",
]

#: Bodies larger than this are never parsed (request parameters) or buffered (response).
MAX_PARSE_BYTES: Final = 1 << 20

# Stop reasons in InvokeModel bodies/chunks of the model families Bedrock hosts.
_STOP_KEYS: Final = ("stop_reason", "stopReason", "completionReason", "finish_reason")
_GUARDRAIL_INTERVENED: Final = "guardrail_intervened"

_PARAMETER_NAMES: Final = {
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
}
_BODY_ALIASES: Final = {
    "max_tokens": ("max_tokens", "maxTokens", "max_new_tokens", "maxTokenCount", "max_gen_len"),
    "temperature": ("temperature",),
    "top_p": ("top_p", "topP", "p"),
    "top_k": ("top_k", "topK", "k"),
    "stop_sequences": ("stop_sequences", "stopSequences", "stop"),
}


def text(value: Any) -> str | None:
    """``value`` if it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def json_object(data: bytes) -> Mapping[str, Any] | None:
    """``data`` parsed as a JSON object, or ``None`` (too large, not JSON, not an object)."""
    if len(data) > MAX_PARSE_BYTES:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def gen_ai_operation(operation: str, params: Mapping[str, Any]) -> str:
    """``gen_ai.operation.name`` of a call (the API operation for a non-inference one)."""
    row = operation_row(operation)
    if row.gen_ai_operation is None:
        return operation
    if row.prompt == "body":
        model = params.get("modelId")
        if isinstance(model, str) and "embed" in model:
            return sc.OPERATION_EMBEDDINGS
        body = params.get("body")
        # A substring test, not a parse: cheap, and enough to tell the messages API apart.
        if isinstance(body, bytes | bytearray) and len(body) <= MAX_PARSE_BYTES:
            return sc.OPERATION_CHAT if b'"messages"' in body else sc.OPERATION_TEXT_COMPLETION
        if isinstance(body, str) and len(body) <= MAX_PARSE_BYTES:
            return sc.OPERATION_CHAT if '"messages"' in body else sc.OPERATION_TEXT_COMPLETION
        return row.gen_ai_operation
    return row.gen_ai_operation


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    return None


def request_parameters(operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """max_tokens, temperature, top_p, top_k, stop_sequences: parameters, never content."""
    found: dict[str, Any] = {}
    prompt = operation_row(operation).prompt
    source: Mapping[str, Any]
    if prompt == "messages":
        config = params.get("inferenceConfig")
        if not isinstance(config, Mapping):
            return found
        source = {
            "max_tokens": config.get("maxTokens"),
            "temperature": config.get("temperature"),
            "top_p": config.get("topP"),
            "stop_sequences": config.get("stopSequences"),
        }
    elif prompt == "body":
        source = _body_parameters(params.get("body"))
    else:
        return found
    for key, attribute in _PARAMETER_NAMES.items():
        value = _number(source.get(key))
        if value is not None:
            found[attribute] = value
    stops = source.get("stop_sequences")
    if isinstance(stops, list | tuple) and all(isinstance(s, str) for s in stops):
        # Stop sequences are configuration chosen by the application, not conversation
        # content; the GenAI conventions record them.
        found[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stops)
    return found


def _body_parameters(body: Any) -> Mapping[str, Any]:
    """Request parameters from an InvokeModel body, when it is small bytes/str JSON."""
    raw = _digest.body_bytes(body)
    if raw is None or len(raw) > MAX_PARSE_BYTES:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    nested = [doc]
    for key in ("inferenceConfig", "textGenerationConfig", "parameters"):
        if isinstance(doc.get(key), dict):
            nested.append(doc[key])
    out: dict[str, Any] = {}
    for canonical, keys in _BODY_ALIASES.items():
        for part in nested:
            hit = next((part[k] for k in keys if k in part), None)
            if hit is not None:
                out[canonical] = hit
                break
    return out


def guardrail_of(operation: str, params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The guardrail identifier and version a call carries, as given."""
    if operation_row(operation).guardrail == "converse":
        config = params.get("guardrailConfig")
        if isinstance(config, Mapping):
            return text(config.get("guardrailIdentifier")), text(config.get("guardrailVersion"))
        return None, None
    return text(params.get("guardrailIdentifier")), text(params.get("guardrailVersion"))


class ResponseFacts:
    """What a call record reads from responses and stream events (no content is kept)."""

    # Set by the call record (spans.CallRecord).
    #: Span attributes found after the decision, set in one go when the span ends
    #: (one validation pass and one lock, not one per response fact).
    pending_attributes: dict[str, Any]
    _t: Telemetry
    _start: float
    _completion: _digest.Digester | None
    operation: str
    span: trace.Span
    recording: bool
    input_tokens: int | None
    output_tokens: int | None
    first_chunk_seen: bool
    guardrail_intervened: bool

    def _usage(
        self,
        input_tokens: Any,
        output_tokens: Any,
        cache_read: Any = None,
        cache_write: Any = None,
    ) -> None:
        # ``type() is int``: a count, never a bool (an int subclass); inline, per response.
        if type(input_tokens) is int:
            self.input_tokens = input_tokens
        if type(output_tokens) is int:
            self.output_tokens = output_tokens
        if not self.recording:
            return
        attributes: dict[str, Any] = {}
        for name, value in (
            (sc.GEN_AI_USAGE_INPUT_TOKENS, input_tokens),
            (sc.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens),
            (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, cache_read),
            (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, cache_write),
        ):
            if type(value) is int:
                attributes[name] = value
        self.pending_attributes.update(attributes)

    def _finish_reason(self, reason: Any) -> None:
        if not isinstance(reason, str) or not reason:
            return
        if self.recording:
            # Bounded vocabulary set by the service; never model text.
            self.pending_attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (reason[:64],)
        if reason == _GUARDRAIL_INTERVENED:
            self._guardrail_event(reason, "stopReason")

    def _guardrail_event(self, action: str, source: str) -> None:
        # One intervention event per call, whichever signal (header, body, stop reason) came first.
        if self.guardrail_intervened:
            return
        self.guardrail_intervened = True
        if not self.recording:
            return
        self.span.add_event(
            EVENT_GUARDRAIL, {ATTR_GUARDRAIL_ACTION: action[:64], ATTR_GUARDRAIL_SOURCE: source}
        )
        self.pending_attributes[ATTR_GUARDRAIL_ACTION] = action[:64]

    def _header_guardrail(self, headers: Mapping[str, Any]) -> None:
        action = headers.get("x-amzn-bedrock-guardrailaction")
        if isinstance(action, str) and action.upper() == "INTERVENED":
            self._guardrail_event(action, "header")

    def _converse_result(self, response: Mapping[str, Any]) -> None:
        usage = response.get("usage") or {}
        self._usage(
            usage.get("inputTokens"),
            usage.get("outputTokens"),
            usage.get("cacheReadInputTokens"),
            usage.get("cacheWriteInputTokens"),
        )
        self._finish_reason(response.get("stopReason"))
        key = self._t.hmac_key
        if key is not None and self.recording and "output" in response:
            completion = _digest.digest(key, _digest.canonical_json(response["output"]))
            self.pending_attributes[ATTR_COMPLETION_DIGEST] = completion

    def _invoke_model_result(self, response: dict[str, Any], headers: Mapping[str, Any]) -> None:
        def header_int(name: str) -> int | None:
            value = headers.get(name)
            try:
                return int(value) if value is not None else None
            except ValueError:
                return None

        self._usage(
            header_int("x-amzn-bedrock-input-token-count"),
            header_int("x-amzn-bedrock-output-token-count"),
            header_int("x-amzn-bedrock-cache-read-input-token-count"),
            header_int("x-amzn-bedrock-cache-write-input-token-count"),
        )
        self._header_guardrail(headers)
        if not self.recording:
            return
        body = response.get("body")
        length = header_int("content-length")
        if not isinstance(body, StreamingBody) or length is None or length > MAX_PARSE_BYTES:
            return
        # Buffer the (small) body to find the stop reason, the body's guardrail action
        # and the completion digest, then hand the caller an identical, unread body.
        data = body.read()
        response["body"] = StreamingBody(io.BytesIO(data), len(data))
        key = self._t.hmac_key
        if key is not None:
            self.pending_attributes[ATTR_COMPLETION_DIGEST] = _digest.digest(key, data)
        chunk = json_object(data)
        if chunk is not None:
            self._chunk_facts(chunk)

    def _chunk_facts(self, chunk: Mapping[str, Any]) -> None:
        """Usage, stop reason and guardrail action from an InvokeModel body or stream chunk."""
        metrics_ = chunk.get("amazon-bedrock-invocationMetrics")
        if isinstance(metrics_, Mapping):
            self._usage(
                metrics_.get("inputTokenCount"),
                metrics_.get("outputTokenCount"),
                metrics_.get("cacheReadInputTokenCount"),
                metrics_.get("cacheWriteInputTokenCount"),
            )
        action = chunk.get("amazon-bedrock-guardrailAction")
        if isinstance(action, str) and action.upper() == "INTERVENED":
            self._guardrail_event(action, "body")
        for holder in (chunk, chunk.get("delta"), chunk.get("messageStop")):
            if isinstance(holder, Mapping):
                for key in _STOP_KEYS:
                    reason = holder.get(key)
                    if isinstance(reason, str) and reason:
                        if self.recording:
                            self.pending_attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (
                                reason[:64],
                            )
                        return
        outputs = chunk.get("outputs") or chunk.get("results") or chunk.get("generations")
        if isinstance(outputs, list) and outputs and isinstance(outputs[0], Mapping):
            for key in _STOP_KEYS:
                reason = outputs[0].get(key)
                if isinstance(reason, str) and reason and self.recording:
                    self.pending_attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (reason[:64],)
                    return

    @safe
    def stream_event(self, event: Any) -> None:
        """Called for each event a wrapped stream yields: usage, finish reason, digests."""
        if not self.first_chunk_seen:
            self.first_chunk_seen = True
            if self.recording:
                self.pending_attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (
                    time.monotonic() - self._start
                )
        if not isinstance(event, Mapping):
            return
        if self.operation == "ConverseStream":
            if "contentBlockDelta" in event:
                if self._completion is not None:
                    delta = event["contentBlockDelta"].get("delta")
                    self._completion.update(_digest.canonical_json(delta) + b"\n")
            elif "messageStop" in event:
                self._finish_reason(event["messageStop"].get("stopReason"))
            elif "metadata" in event:
                usage = event["metadata"].get("usage") or {}
                self._usage(
                    usage.get("inputTokens"),
                    usage.get("outputTokens"),
                    usage.get("cacheReadInputTokens"),
                    usage.get("cacheWriteInputTokens"),
                )
            return
        chunk = event.get("chunk")
        if isinstance(chunk, Mapping):
            data = chunk.get("bytes")
            if isinstance(data, bytes | bytearray):
                if self._completion is not None:
                    self._completion.update(bytes(data))
                if self.recording or self.input_tokens is None:
                    parsed = json_object(bytes(data))
                    if parsed is not None:
                        self._chunk_facts(parsed)
