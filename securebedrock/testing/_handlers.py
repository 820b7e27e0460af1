"""What the embedded endpoint answers: routing, the operations, guardrails.

Pure request-in, response-out logic with no sockets, so that the HTTP layer
(``_server.py``) stays small. Every model answer is deterministic and canned:
the server never echoes a prompt back, so a test can assert that a prompt did
not leak anywhere without the server's own output muddying the check.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import itertools
import json
import re
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from .._operations import match_request
from . import _eventstream

__all__ = [
    "ApiError",
    "Backend",
    "GuardrailSpec",
    "JsonResponse",
    "StreamResponse",
    "route",
]

#: The answer every model gives unless the server is configured otherwise.
DEFAULT_ANSWER = "This is a canned answer from the embedded Bedrock endpoint."
DEFAULT_BLOCKED_MESSAGE = "Sorry, the model cannot answer this question."

_STREAM_MARKER = re.compile(r"\[\[stream:(\d{1,6})\]\]")
_USE_TOOL = re.compile(r"use tool(?:\s+([A-Za-z0-9_-]+))?", re.IGNORECASE)
_GEO_PREFIXES = ("us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "global.")
_BASE_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9-]*\.[A-Za-z0-9][A-Za-z0-9._:-]*$")
_MODEL_ARN = re.compile(
    r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]*:[0-9]{0,12}:"
    r"(?:foundation-model|inference-profile|application-inference-profile|"
    r"provisioned-model|custom-model|custom-model-deployment|imported-model|"
    r"prompt|default-prompt-router|prompt-router|endpoint)/.+$"
)
_GUARDRAIL_ARN = re.compile(
    r"^arn:aws(?:-[a-z-]+)?:bedrock:([a-z0-9-]+):([0-9]{12}):guardrail/([a-z0-9]+)$"
)
_STATUS_FOR_ERROR = {
    "AccessDeniedException": 403,
    "ConflictException": 400,
    "InternalServerException": 500,
    "ModelErrorException": 424,
    "ModelNotReadyException": 429,
    "ModelTimeoutException": 408,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 400,
    "ServiceUnavailableException": 503,
    "ThrottlingException": 429,
    "ValidationException": 400,
}


class ApiError(Exception):
    """A modelled AWS error: ``x-amzn-ErrorType`` header, status, JSON ``message``."""

    def __init__(self, error_type: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.status = status if status is not None else _STATUS_FOR_ERROR.get(error_type, 400)


@dataclass(frozen=True, kw_only=True)
class JsonResponse:
    """A complete (non-streaming) response."""

    body: bytes
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True, kw_only=True)
class StreamResponse:
    """An event-stream response: each item of ``events`` is one framed message."""

    events: Iterator[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)


Response = JsonResponse | StreamResponse


@dataclass(frozen=True, kw_only=True)
class GuardrailSpec:
    """A guardrail configured on the embedded endpoint.

    It intervenes on a call only when the call names this guardrail (its
    ``identifier`` or its ARN) *and* its ``version``, and the call's text
    contains one of ``blocked_words`` (case-insensitive; for input) or the
    model's answer does (for output).
    """

    identifier: str
    version: str = "1"
    blocked_words: tuple[str, ...] = ()
    blocked_input_message: str = DEFAULT_BLOCKED_MESSAGE
    blocked_output_message: str = DEFAULT_BLOCKED_MESSAGE
    name: str = ""

    def arn(self, region: str, account_id: str) -> str:
        """The guardrail's ARN in ``region`` and ``account_id``."""
        return f"arn:aws:bedrock:{region}:{account_id}:guardrail/{self.identifier}"

    def blocked_in(self, text: str) -> tuple[str, ...]:
        """The blocked words found in ``text``."""
        lowered = text.lower()
        return tuple(word for word in self.blocked_words if word.lower() in lowered)


@dataclass(frozen=True, kw_only=True)
class InferenceProfileSpec:
    """An inference profile served by ``GetInferenceProfile``."""

    identifier: str
    arn: str
    models: tuple[str, ...]
    type: str = "APPLICATION"
    name: str = ""


@dataclass(kw_only=True)
class _AsyncInvoke:
    arn: str
    model_arn: str
    token: str | None
    status: str
    submit_time: datetime.datetime
    output_data_config: Any


# --------------------------------------------------------------------- routing


def route(method: str, raw_path: str) -> tuple[str, dict[str, str]] | None:
    """The operation a request is for and its decoded path labels, or ``None``."""
    matched = match_request(method, raw_path)
    if matched is not None:
        return matched[0].name, matched[1]
    segments = [unquote(part) for part in raw_path.split("/")[1:]]
    method = method.upper()
    n = len(segments)
    if n == 2 and segments[0] == "inference-profiles" and method == "GET":
        return "GetInferenceProfile", {"inferenceProfileIdentifier": segments[1]}
    if n == 2 and segments[0] == "guardrails" and method == "GET":
        return "GetGuardrail", {"guardrailIdentifier": segments[1]}
    return None


# --------------------------------------------------------------------- helpers


def _json(body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> JsonResponse:
    return JsonResponse(
        body=json.dumps(body, separators=(",", ":")).encode("utf-8"), headers=dict(headers or {})
    )


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _count_tokens(text: str) -> int:
    # Deterministic and cheap: one token per whitespace-separated word.
    return len(text.split())


def _parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            "ValidationException", f"Malformed input request: {what} is not JSON"
        ) from None
    if not isinstance(parsed, dict):
        raise ApiError("ValidationException", f"Malformed input request: {what} must be an object")
    return parsed


def _text_of_converse_blocks(blocks: Any) -> list[str]:
    texts: list[str] = []
    if not isinstance(blocks, list):
        return texts
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        guard = block.get("guardContent")
        if isinstance(guard, dict) and isinstance(guard.get("text"), dict):
            text = guard["text"].get("text")
            if isinstance(text, str):
                texts.append(text)
        result = block.get("toolResult")
        if isinstance(result, dict):
            for item in result.get("content") or []:
                if isinstance(item, dict) and isinstance(item.get("text"), str):
                    texts.append(item["text"])
    return texts


def _text_of_any(value: Any) -> list[str]:
    """All strings under the prompt-bearing keys of an arbitrary model body."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _text_of_any(item)]
    if isinstance(value, dict):
        texts: list[str] = []
        for key in ("text", "content", "messages", "system", "prompt", "inputText", "message"):
            if key in value:
                texts.extend(_text_of_any(value[key]))
        return texts
    return []


def base_model_id(model_id: str) -> str:
    """The foundation-model id behind a model id, profile id or ARN (best effort)."""
    resource = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    for prefix in _GEO_PREFIXES:
        if resource.startswith(prefix):
            return resource[len(prefix) :]
    return resource


# --------------------------------------------------------------------- backend


@dataclass(frozen=True, kw_only=True)
class _Prompt:
    text: str
    latest_user_text: str
    ends_with_tool_result: bool


class Backend:
    """The emulated Bedrock account: guardrails, profiles, async jobs, answers."""

    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        guardrails: Sequence[GuardrailSpec],
        answer: str,
        stream_events: int | None,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.answer = answer
        self.stream_events = stream_events
        self._lock = threading.Lock()
        self._guardrails: dict[str, GuardrailSpec] = {}
        self._guardrail_versions: dict[tuple[str, str], GuardrailSpec] = {}
        self._profiles: dict[str, InferenceProfileSpec] = {}
        self._async: list[_AsyncInvoke] = []
        self._async_ids = itertools.count(1)
        self._tool_inputs: dict[str, Any] = {}
        for spec in guardrails:
            self.add_guardrail(spec)

    # -- configuration -------------------------------------------------------

    @property
    def guardrails(self) -> tuple[GuardrailSpec, ...]:
        """The configured guardrails, in the order they were added."""
        with self._lock:
            return tuple(self._guardrails.values())

    def add_guardrail(self, spec: GuardrailSpec) -> None:
        """Configure (or replace) a guardrail."""
        with self._lock:
            self._guardrails[spec.identifier] = spec
            # Every configured version answers (a guardrail in the middle of a version change).
            self._guardrail_versions[(spec.identifier, spec.version)] = spec

    def add_inference_profile(
        self, identifier_or_arn: str, models: Sequence[str], type: str = "APPLICATION"
    ) -> InferenceProfileSpec:
        """Configure an inference profile (by id or ARN) routing to ``models``."""
        if identifier_or_arn.startswith("arn:"):
            arn = identifier_or_arn
            identifier = arn.rsplit("/", 1)[-1]
        else:
            identifier = identifier_or_arn
            kind = "application-inference-profile" if type == "APPLICATION" else "inference-profile"
            arn = f"arn:aws:bedrock:{self.region}:{self.account_id}:{kind}/{identifier}"
        spec = InferenceProfileSpec(
            identifier=identifier, arn=arn, models=tuple(models), type=type, name=identifier
        )
        with self._lock:
            self._profiles[identifier] = spec
            self._profiles[arn] = spec
        return spec

    def set_tool_input(self, tool_name: str, tool_input: Any) -> None:
        """The input the model gives when it asks for tool ``tool_name``."""
        with self._lock:
            self._tool_inputs[tool_name] = tool_input

    # -- dispatch ------------------------------------------------------------

    def handle(
        self,
        operation: str,
        labels: Mapping[str, str],
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Response:
        """Answer one authenticated request."""
        handler = getattr(self, f"_op_{operation}")
        response: Response = handler(labels, query, headers, body)
        return response

    # -- shared pieces -------------------------------------------------------

    def check_model_id(self, model_id: str) -> None:
        """Refuse a model id that is not shaped like one, as Bedrock does."""
        if len(model_id) > 2048 or not (
            _BASE_MODEL_ID.match(model_id)
            or _MODEL_ARN.match(model_id)
            or any(
                model_id.startswith(p) and _BASE_MODEL_ID.match(model_id[len(p) :])
                for p in _GEO_PREFIXES
            )
        ):
            raise ApiError("ValidationException", "The provided model identifier is invalid.")

    def _family(self, model_id: str) -> str:
        with self._lock:
            profile = self._profiles.get(model_id)
        if profile is not None and profile.models:
            model_id = profile.models[0]
        base = base_model_id(model_id)
        if base.startswith("anthropic."):
            return "anthropic"
        if base.startswith("amazon.titan-text"):
            return "titan"
        if base.startswith("amazon.nova"):
            return "nova"
        return "generic"

    def _guardrail(self, identifier: str | None, version: str | None) -> GuardrailSpec | None:
        if not identifier:
            return None
        match = _GUARDRAIL_ARN.match(identifier)
        key = match.group(3) if match else identifier
        with self._lock:
            spec = self._guardrail_versions.get((key, version or ""))
        if (
            spec is not None
            and match
            and (match.group(1) != self.region or match.group(2) != self.account_id)
        ):
            spec = None
        if spec is None:
            raise ApiError(
                "ValidationException",
                "The guardrail identifier or version provided in the request does not exist.",
            )
        return spec

    def _stream_count(self, prompt: str) -> int:
        marker = _STREAM_MARKER.search(prompt)
        if marker:
            return max(1, int(marker.group(1)))
        if self.stream_events is not None:
            return max(1, self.stream_events)
        return len(self.answer.split()) or 1

    def _deltas(self, count: int) -> list[str]:
        words = self.answer.split() or ["ok"]
        if count == len(words):
            return [w if i == 0 else " " + w for i, w in enumerate(words)]
        return [(" " if i else "") + words[i % len(words)] for i in range(count)]

    def _tool_request(self, prompt: _Prompt, tool_config: Any) -> tuple[str, Any] | None:
        if prompt.ends_with_tool_result or not isinstance(tool_config, dict):
            return None
        tools = [
            t["toolSpec"]["name"]
            for t in tool_config.get("tools") or []
            if isinstance(t, dict)
            and isinstance(t.get("toolSpec"), dict)
            and isinstance(t["toolSpec"].get("name"), str)
        ]
        found = _USE_TOOL.search(prompt.latest_user_text)
        if not tools or not found:
            return None
        wanted = found.group(1)
        name = wanted if wanted in tools else tools[0]
        with self._lock:
            tool_input = self._tool_inputs.get(name, {})
        return name, tool_input

    def _anthropic_tool_request(self, request: Mapping[str, Any]) -> tuple[str, Any] | None:
        """The tool an Anthropic-format InvokeModel request makes the model ask for."""
        tools = [
            t["name"]
            for t in request.get("tools") or []
            if isinstance(t, dict) and isinstance(t.get("name"), str)
        ]
        users = [
            m
            for m in request.get("messages") or []
            if isinstance(m, dict) and m.get("role") == "user"
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
        found = _USE_TOOL.search(text)
        if not found:
            return None
        name = found.group(1) if found.group(1) in tools else tools[0]
        with self._lock:
            tool_input = self._tool_inputs.get(name, {})
        return name, tool_input

    @staticmethod
    def _converse_prompt(request: Mapping[str, Any]) -> _Prompt:
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError("ValidationException", "A conversation must start with a user message.")
        texts = _text_of_converse_blocks(request.get("system"))
        latest_user = ""
        ends_with_tool_result = False
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise ApiError("ValidationException", "Each message needs a valid role.")
            content = message.get("content")
            if not isinstance(content, list) or not content:
                raise ApiError("ValidationException", "Each message needs non-empty content.")
            message_texts = _text_of_converse_blocks(content)
            texts.extend(message_texts)
            if message["role"] == "user":
                latest_user = " ".join(message_texts)
                ends_with_tool_result = any(
                    isinstance(b, dict) and "toolResult" in b for b in content
                )
        return _Prompt(
            text="\n".join(texts),
            latest_user_text=latest_user,
            ends_with_tool_result=ends_with_tool_result,
        )

    # -- Converse / ConverseStream -------------------------------------------

    def _converse_plan(
        self, labels: Mapping[str, str], body: bytes
    ) -> tuple[dict[str, Any], _Prompt, GuardrailSpec | None, str | None]:
        model_id = labels["modelId"]
        self.check_model_id(model_id)
        request = _parse_json_object(body, "request body")
        prompt = self._converse_prompt(request)
        config = request.get("guardrailConfig")
        guardrail = None
        if isinstance(config, dict):
            guardrail = self._guardrail(
                config.get("guardrailIdentifier"), config.get("guardrailVersion")
            )
        blocked = None
        if guardrail is not None:
            if guardrail.blocked_in(prompt.text):
                blocked = guardrail.blocked_input_message
            elif guardrail.blocked_in(self.answer):
                blocked = guardrail.blocked_output_message
        return request, prompt, guardrail, blocked

    def _guardrail_trace(
        self, request: Mapping[str, Any], guardrail: GuardrailSpec | None, prompt: _Prompt
    ) -> dict[str, Any] | None:
        config = request.get("guardrailConfig")
        if guardrail is None or not isinstance(config, dict):
            return None
        if config.get("trace", "disabled") == "disabled":
            return None
        words = guardrail.blocked_in(prompt.text)
        assessment: dict[str, Any] = {}
        if words:
            assessment["wordPolicy"] = {
                "customWords": [{"match": w, "action": "BLOCKED", "detected": True} for w in words],
                "managedWordLists": [],
            }
        return {"guardrail": {"inputAssessment": {guardrail.identifier: assessment}}}

    def _op_Converse(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        request, prompt, guardrail, blocked = self._converse_plan(labels, body)
        input_tokens = _count_tokens(prompt.text)
        tool = None if blocked else self._tool_request(prompt, request.get("toolConfig"))
        content: list[dict[str, Any]]
        if blocked is not None:
            content, stop_reason = [{"text": blocked}], "guardrail_intervened"
            output_tokens = _count_tokens(blocked)
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
            content, stop_reason = [{"text": self.answer}], "end_turn"
            output_tokens = _count_tokens(self.answer)
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
        trace = self._guardrail_trace(request, guardrail, prompt)
        if trace is not None:
            response["trace"] = trace
        if isinstance(request.get("serviceTier"), dict):
            response["serviceTier"] = request["serviceTier"]
        if isinstance(request.get("performanceConfig"), dict):
            response["performanceConfig"] = request["performanceConfig"]
        return _json(response)

    def _op_ConverseStream(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        request, prompt, guardrail, blocked = self._converse_plan(labels, body)
        input_tokens = _count_tokens(prompt.text)
        tool = None if blocked else self._tool_request(prompt, request.get("toolConfig"))
        count = self._stream_count(prompt.text)
        trace = self._guardrail_trace(request, guardrail, prompt)

        def events() -> Iterator[bytes]:
            enc = _eventstream.encode_event
            yield enc("messageStart", {"role": "assistant"})
            if blocked is not None:
                yield enc("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": blocked}})
                yield enc("contentBlockStop", {"contentBlockIndex": 0})
                stop_reason, output_tokens = "guardrail_intervened", _count_tokens(blocked)
            elif tool is not None:
                name, tool_input = tool
                yield enc(
                    "contentBlockStart",
                    {
                        "contentBlockIndex": 0,
                        "start": {
                            "toolUse": {
                                "toolUseId": f"tooluse_{uuid.uuid4().hex[:22]}",
                                "name": name,
                            }
                        },
                    },
                )
                raw = json.dumps(tool_input, separators=(",", ":"))
                # The input arrives as JSON text in pieces, as real models send it.
                pieces = [raw[i : i + 16] for i in range(0, len(raw), 16)] or ["{}"]
                for piece in pieces:
                    yield enc(
                        "contentBlockDelta",
                        {
                            "contentBlockIndex": 0,
                            "delta": {"toolUse": {"input": piece}},
                        },
                    )
                yield enc("contentBlockStop", {"contentBlockIndex": 0})
                stop_reason, output_tokens = "tool_use", len(pieces)
            else:
                for delta in self._deltas(count):
                    yield enc(
                        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": delta}}
                    )
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

    # -- InvokeModel / InvokeModelWithResponseStream -------------------------

    def _invoke_plan(
        self, labels: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> tuple[str, dict[str, Any], str, GuardrailSpec | None, str | None]:
        model_id = labels["modelId"]
        self.check_model_id(model_id)
        request = _parse_json_object(body, "body")
        family = self._family(model_id)
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
        prompt = "\n".join(_text_of_any(request))
        identifier = headers.get("x-amzn-bedrock-guardrailidentifier")
        version = headers.get("x-amzn-bedrock-guardrailversion")
        if identifier and not version:
            raise ApiError(
                "ValidationException", "Guardrail version is required with a guardrail identifier."
            )
        guardrail = self._guardrail(identifier, version)
        blocked = None
        if guardrail is not None:
            if guardrail.blocked_in(prompt):
                blocked = guardrail.blocked_input_message
            elif guardrail.blocked_in(self.answer):
                blocked = guardrail.blocked_output_message
        return family, request, prompt, guardrail, blocked

    def _model_body(
        self,
        family: str,
        model_id: str,
        text: str,
        input_tokens: int,
        output_tokens: int,
        stop: str,
        guardrail_action: str | None,
    ) -> dict[str, Any]:
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

    @staticmethod
    def _stop_word(family: str, blocked: bool) -> str:
        if family == "anthropic":
            return "end_turn"
        if family == "titan":
            return "CONTENT_FILTERED" if blocked else "FINISH"
        return "end_turn" if family == "nova" else "stop"

    def _op_InvokeModel(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        family, request, prompt, guardrail, blocked = self._invoke_plan(labels, headers, body)
        text = blocked if blocked is not None else self.answer
        input_tokens, output_tokens = _count_tokens(prompt), _count_tokens(text)
        action = None if guardrail is None else ("INTERVENED" if blocked else "NONE")
        payload = self._model_body(
            family,
            labels["modelId"],
            text,
            input_tokens,
            output_tokens,
            self._stop_word(family, blocked is not None),
            action,
        )
        tool = (
            self._anthropic_tool_request(request)
            if family == "anthropic" and blocked is None
            else None
        )
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
        return _json(payload, response_headers)

    def _op_InvokeModelWithResponseStream(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        family, request, prompt, guardrail, blocked = self._invoke_plan(labels, headers, body)
        input_tokens = _count_tokens(prompt)
        action = None if guardrail is None else ("INTERVENED" if blocked else "NONE")
        deltas = [blocked] if blocked is not None else self._deltas(self._stream_count(prompt))
        tool = (
            self._anthropic_tool_request(request)
            if family == "anthropic" and blocked is None
            else None
        )
        metrics = {
            "inputTokenCount": input_tokens,
            "outputTokenCount": len(deltas),
            "invocationLatency": 7,
            "firstByteLatency": 3,
        }

        def chunk(payload: Mapping[str, Any]) -> bytes:
            raw = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            return _eventstream.encode_event("chunk", {"bytes": base64.b64encode(raw).decode()})

        def events() -> Iterator[bytes]:
            last = len(deltas) - 1
            if family == "anthropic":
                yield chunk(
                    {
                        "type": "message_start",
                        "message": {
                            "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
                            "type": "message",
                            "role": "assistant",
                            "model": base_model_id(labels["modelId"]),
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                        },
                    }
                )
                if tool is not None:
                    yield chunk(
                        {
                            "type": "content_block_start",
                            "index": 0,
                            "content_block": {
                                "type": "tool_use",
                                "id": f"toolu_bdrk_{uuid.uuid4().hex[:24]}",
                                "name": tool[0],
                                "input": {},
                            },
                        }
                    )
                    raw = json.dumps(tool[1], separators=(",", ":"))
                    for start in range(0, len(raw), 16):
                        yield chunk(
                            {
                                "type": "content_block_delta",
                                "index": 0,
                                "delta": {
                                    "type": "input_json_delta",
                                    "partial_json": raw[start : start + 16],
                                },
                            }
                        )
                else:
                    yield chunk(
                        {
                            "type": "content_block_start",
                            "index": 0,
                            "content_block": {"type": "text", "text": ""},
                        }
                    )
                    for delta in deltas:
                        yield chunk(
                            {
                                "type": "content_block_delta",
                                "index": 0,
                                "delta": {"type": "text_delta", "text": delta},
                            }
                        )
                yield chunk({"type": "content_block_stop", "index": 0})
                yield chunk(
                    {
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": "end_turn" if tool is None else "tool_use",
                            "stop_sequence": None,
                        },
                        "usage": {"output_tokens": len(deltas)},
                    }
                )
                final: dict[str, Any] = {
                    "type": "message_stop",
                    "amazon-bedrock-invocationMetrics": metrics,
                }
                if action is not None:
                    final["amazon-bedrock-guardrailAction"] = action
                yield chunk(final)
                return
            for index, delta in enumerate(deltas):
                piece: dict[str, Any]
                if family == "titan":
                    piece = {
                        "outputText": delta,
                        "index": 0,
                        "totalOutputTextTokenCount": index + 1,
                        "completionReason": (
                            self._stop_word(family, blocked is not None) if index == last else None
                        ),
                        "inputTextTokenCount": input_tokens,
                    }
                elif family == "nova":
                    piece = {
                        "contentBlockDelta": {"delta": {"text": delta}, "contentBlockIndex": 0}
                    }
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
                yield chunk(piece)

        stream_headers = {"X-Amzn-Bedrock-Content-Type": "application/json"}
        if action is not None:
            stream_headers["X-Amzn-Bedrock-GuardrailAction"] = action
        return StreamResponse(events=events(), headers=stream_headers)

    def _op_InvokeModelWithBidirectionalStream(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        # Bedrock serves this over HTTP/2 only; an HTTP/1.1 client gets an error.
        raise ApiError(
            "ValidationException",
            "InvokeModelWithBidirectionalStream requires HTTP/2, which the embedded "
            "endpoint does not speak.",
        )

    # -- CountTokens ---------------------------------------------------------

    def _op_CountTokens(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        self.check_model_id(labels["modelId"])
        request = _parse_json_object(body, "request body")
        token_input = request.get("input")
        if not isinstance(token_input, dict):
            raise ApiError("ValidationException", "input is required")
        if isinstance(token_input.get("converse"), dict):
            converse = token_input["converse"]
            texts = _text_of_converse_blocks(converse.get("system"))
            for message in converse.get("messages") or []:
                if isinstance(message, dict):
                    texts.extend(_text_of_converse_blocks(message.get("content")))
            count = _count_tokens("\n".join(texts))
        elif isinstance(token_input.get("invokeModel"), dict):
            raw = token_input["invokeModel"].get("body")
            try:
                decoded = base64.b64decode(str(raw), validate=True)
            except (binascii.Error, ValueError):
                raise ApiError("ValidationException", "invokeModel.body is not base64") from None
            model_body = _parse_json_object(decoded, "invokeModel.body")
            count = _count_tokens("\n".join(_text_of_any(model_body)))
        else:
            raise ApiError("ValidationException", "input needs converse or invokeModel")
        return _json({"inputTokens": count})

    # -- ApplyGuardrail / InvokeGuardrailChecks ------------------------------

    def _op_ApplyGuardrail(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        request = _parse_json_object(body, "request body")
        try:
            spec = self._guardrail(labels["guardrailIdentifier"], labels["guardrailVersion"])
        except ApiError:
            raise ApiError(
                "ResourceNotFoundException", "The guardrail identifier or version does not exist."
            ) from None
        assert spec is not None  # noqa: S101  (identifier is never empty here)
        source = request.get("source")
        if source not in ("INPUT", "OUTPUT"):
            raise ApiError("ValidationException", "source must be INPUT or OUTPUT")
        texts: list[str] = []
        for block in request.get("content") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), dict):
                text = block["text"].get("text")
                if isinstance(text, str):
                    texts.append(text)
        joined = "\n".join(texts)
        words = spec.blocked_in(joined)
        message = spec.blocked_input_message if source == "INPUT" else spec.blocked_output_message
        assessment: dict[str, Any] = {}
        if words:
            assessment["wordPolicy"] = {
                "customWords": [{"match": w, "action": "BLOCKED", "detected": True} for w in words],
                "managedWordLists": [],
            }
        response: dict[str, Any] = {
            "usage": {
                "topicPolicyUnits": 0,
                "contentPolicyUnits": 0,
                "wordPolicyUnits": max(1, (len(joined) + 999) // 1000),
                "sensitiveInformationPolicyUnits": 0,
                "sensitiveInformationPolicyFreeUnits": 0,
                "contextualGroundingPolicyUnits": 0,
            },
            "action": "GUARDRAIL_INTERVENED" if words else "NONE",
            "outputs": [{"text": message}] if words else [],
            "assessments": [assessment],
            "guardrailCoverage": {"textCharacters": {"guarded": len(joined), "total": len(joined)}},
        }
        if words:
            response["actionReason"] = "Guardrail blocked."
        return _json(response)

    def _op_InvokeGuardrailChecks(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        request = _parse_json_object(body, "request body")
        messages = request.get("messages")
        checks = request.get("checks")
        if not isinstance(messages, list) or not messages or not isinstance(checks, dict):
            raise ApiError("ValidationException", "messages and checks are required")
        units = 1
        results: dict[str, Any] = {}
        usage: dict[str, Any] = {}
        if isinstance(checks.get("contentFilter"), dict):
            results["contentFilter"] = {
                "results": [
                    {"category": c.get("category"), "severityScore": 0.0}
                    for c in checks["contentFilter"].get("categories") or []
                    if isinstance(c, dict)
                ]
            }
            usage["contentFilter"] = {"textUnits": units}
        if isinstance(checks.get("promptAttack"), dict):
            results["promptAttack"] = {
                "results": [
                    {"category": c.get("category"), "severityScore": 0.0}
                    for c in checks["promptAttack"].get("categories") or []
                    if isinstance(c, dict)
                ]
            }
            usage["promptAttack"] = {"textUnits": units}
        if isinstance(checks.get("sensitiveInformation"), dict):
            results["sensitiveInformation"] = {"results": [], "truncated": False}
            usage["sensitiveInformation"] = {"textUnits": units}
        return _json({"results": results, "usage": usage})

    # -- async invoke ----------------------------------------------------------

    def _op_StartAsyncInvoke(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        request = _parse_json_object(body, "request body")
        model_id = request.get("modelId")
        if not isinstance(model_id, str):
            raise ApiError("ValidationException", "modelId is required")
        self.check_model_id(model_id)
        output = request.get("outputDataConfig")
        if not isinstance(output, dict) or "modelInput" not in request:
            raise ApiError("ValidationException", "modelInput and outputDataConfig are required")
        token = request.get("clientRequestToken")
        with self._lock:
            for job in self._async:
                if token and job.token == token:
                    return _json({"invocationArn": job.arn})
            number = next(self._async_ids)
            arn = f"arn:aws:bedrock:{self.region}:{self.account_id}:async-invoke/emb{number:09d}"
            model_arn = (
                model_id
                if model_id.startswith("arn:")
                else f"arn:aws:bedrock:{self.region}::foundation-model/{model_id}"
            )
            base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
            self._async.append(
                _AsyncInvoke(
                    arn=arn,
                    model_arn=model_arn,
                    token=token if isinstance(token, str) else None,
                    status="Completed",
                    # Distinct, increasing submit times keep list ordering deterministic.
                    submit_time=base + datetime.timedelta(seconds=number),
                    output_data_config=output,
                )
            )
        return _json({"invocationArn": arn})

    @staticmethod
    def _summary(job: _AsyncInvoke) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "invocationArn": job.arn,
            "modelArn": job.model_arn,
            "status": job.status,
            "submitTime": _iso(job.submit_time),
            "lastModifiedTime": _iso(job.submit_time),
            "endTime": _iso(job.submit_time),
            "outputDataConfig": job.output_data_config,
        }
        if job.token:
            summary["clientRequestToken"] = job.token
        return summary

    def _op_GetAsyncInvoke(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        arn = labels["invocationArn"]
        with self._lock:
            jobs = [job for job in self._async if job.arn == arn]
        if not jobs:
            # GetAsyncInvoke does not model ResourceNotFoundException.
            raise ApiError("ValidationException", "The invocation ARN does not exist.")
        return _json(self._summary(jobs[0]))

    def _op_ListAsyncInvokes(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            max_results = int(params.get("maxResults", "1000"))
            offset = (
                int(base64.urlsafe_b64decode(params["nextToken"]).decode())
                if ("nextToken" in params)
                else 0
            )
        except (ValueError, binascii.Error):
            raise ApiError("ValidationException", "Invalid maxResults or nextToken") from None
        if not 1 <= max_results <= 1000 or offset < 0:
            raise ApiError("ValidationException", "maxResults must be between 1 and 1000")
        with self._lock:
            jobs = list(self._async)
        if "statusEquals" in params:
            jobs = [job for job in jobs if job.status == params["statusEquals"]]
        jobs.sort(
            key=lambda job: job.submit_time,
            reverse=params.get("sortOrder", "Descending") == "Descending",
        )
        page = jobs[offset : offset + max_results]
        response: dict[str, Any] = {"asyncInvokeSummaries": [self._summary(j) for j in page]}
        if offset + max_results < len(jobs):
            response["nextToken"] = base64.urlsafe_b64encode(
                str(offset + max_results).encode()
            ).decode()
        return _json(response)

    # -- control plane (service "bedrock") -----------------------------------

    def _op_GetInferenceProfile(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        identifier = labels["inferenceProfileIdentifier"]
        with self._lock:
            spec = self._profiles.get(identifier)
        if spec is None:
            raise ApiError(
                "ResourceNotFoundException", "The inference profile does not exist.", 404
            )
        created = _iso(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
        return _json(
            {
                "inferenceProfileName": spec.name,
                "inferenceProfileArn": spec.arn,
                "inferenceProfileId": spec.identifier,
                "models": [{"modelArn": arn} for arn in spec.models],
                "status": "ACTIVE",
                "type": spec.type,
                "createdAt": created,
                "updatedAt": created,
            }
        )

    def _op_GetGuardrail(
        self, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        identifier = labels["guardrailIdentifier"]
        match = _GUARDRAIL_ARN.match(identifier)
        key = match.group(3) if match else identifier
        with self._lock:
            spec = self._guardrails.get(key)
        version = dict(parse_qsl(query)).get("guardrailVersion")
        if spec is None or (version is not None and version not in (spec.version, "DRAFT")):
            raise ApiError("ResourceNotFoundException", "The guardrail does not exist.", 404)
        created = _iso(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
        return _json(
            {
                "name": spec.name or f"guardrail-{spec.identifier}",
                "guardrailId": spec.identifier,
                "guardrailArn": spec.arn(self.region, self.account_id),
                "version": version or spec.version,
                "status": "READY",
                "wordPolicy": {"words": [{"text": w} for w in spec.blocked_words]},
                "createdAt": created,
                "updatedAt": created,
                "blockedInputMessaging": spec.blocked_input_message,
                "blockedOutputsMessaging": spec.blocked_output_message,
            }
        )
