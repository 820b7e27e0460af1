"""The emulated Bedrock account, and which handler answers which operation.

:class:`Backend` holds what a test configured (guardrails, inference profiles, the
canned answer, tool inputs, async jobs) and the checks every operation shares; the
operations themselves live in one module per family and are looked up in
:data:`HANDLERS`. Pure request-in, response-out logic with no sockets: the HTTP
layer is ``_server``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from ..._operations import match_request
from . import async_invoke, checks, control_plane, converse, invoke
from .responses import ApiError, Response
from .specs import GuardrailSpec, InferenceProfileSpec
from .text import GEO_PREFIXES, base_model_id

__all__ = ["HANDLERS", "Backend", "Handler", "route"]

_BASE_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9-]*\.[A-Za-z0-9][A-Za-z0-9._:-]*$")
_MODEL_ARN = re.compile(
    r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]*:[0-9]{0,12}:"
    r"(?:foundation-model|inference-profile|application-inference-profile|"
    r"provisioned-model|custom-model|custom-model-deployment|imported-model|"
    r"prompt|default-prompt-router|prompt-router|endpoint)/.+$"
)
#: A guardrail ARN: region, account and identifier.
GUARDRAIL_ARN = re.compile(
    r"^arn:aws(?:-[a-z-]+)?:bedrock:([a-z0-9-]+):([0-9]{12}):guardrail/([a-z0-9]+)$"
)
_STREAM_MARKER = re.compile(r"\[\[stream:(\d{1,6})\]\]")

#: One operation's answer: ``(backend, path labels, raw query, headers, body)``.
Handler = Callable[["Backend", Mapping[str, str], str, Mapping[str, str], bytes], Response]

#: The handler of every operation the endpoint answers (bedrock-runtime and control plane).
HANDLERS: Mapping[str, Handler] = {
    "Converse": converse.converse,
    "ConverseStream": converse.converse_stream,
    "InvokeModel": invoke.invoke_model,
    "InvokeModelWithResponseStream": invoke.invoke_model_with_response_stream,
    "InvokeModelWithBidirectionalStream": invoke.invoke_model_with_bidirectional_stream,
    "CountTokens": checks.count_tokens,
    "ApplyGuardrail": checks.apply_guardrail,
    "InvokeGuardrailChecks": checks.invoke_guardrail_checks,
    "StartAsyncInvoke": async_invoke.start_async_invoke,
    "GetAsyncInvoke": async_invoke.get_async_invoke,
    "ListAsyncInvokes": async_invoke.list_async_invokes,
    "GetInferenceProfile": control_plane.get_inference_profile,
    "GetGuardrail": control_plane.get_guardrail,
}


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
        self.async_jobs = async_invoke.AsyncJobs()
        self._lock = threading.Lock()
        self._guardrails: dict[str, GuardrailSpec] = {}
        self._guardrail_versions: dict[tuple[str, str], GuardrailSpec] = {}
        self._profiles: dict[str, InferenceProfileSpec] = {}
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
        return HANDLERS[operation](self, labels, query, headers, body)

    # -- what the handlers share ---------------------------------------------

    def check_model_id(self, model_id: str) -> None:
        """Refuse a model id that is not shaped like one, as Bedrock does."""
        if len(model_id) > 2048 or not (
            _BASE_MODEL_ID.match(model_id)
            or _MODEL_ARN.match(model_id)
            or any(
                model_id.startswith(p) and _BASE_MODEL_ID.match(model_id[len(p) :])
                for p in GEO_PREFIXES
            )
        ):
            raise ApiError("ValidationException", "The provided model identifier is invalid.")

    def profile(self, identifier: str) -> InferenceProfileSpec | None:
        """The configured inference profile with this id or ARN, if any."""
        with self._lock:
            return self._profiles.get(identifier)

    def guardrail_by_id(self, identifier: str) -> GuardrailSpec | None:
        """The configured guardrail with this id or ARN (any version), if any."""
        match = GUARDRAIL_ARN.match(identifier)
        key = match.group(3) if match else identifier
        with self._lock:
            return self._guardrails.get(key)

    def family(self, model_id: str) -> str:
        """The body shape a model speaks: ``anthropic``, ``titan``, ``nova`` or ``generic``."""
        profile = self.profile(model_id)
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

    def find_guardrail(self, identifier: str | None, version: str | None) -> GuardrailSpec | None:
        """The guardrail a call names (``None`` when it names none); a guardrail or
        version that is not configured is the ``ValidationException`` Bedrock gives."""
        if not identifier:
            return None
        match = GUARDRAIL_ARN.match(identifier)
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

    def blocked_message(self, guardrail: GuardrailSpec | None, prompt: str) -> str | None:
        """What ``guardrail`` answers instead of the model, or ``None`` if it lets it be."""
        if guardrail is None:
            return None
        if guardrail.blocked_in(prompt):
            return guardrail.blocked_input_message
        if guardrail.blocked_in(self.answer):
            return guardrail.blocked_output_message
        return None

    def stream_count(self, prompt: str) -> int:
        """How many text deltas a streamed answer to ``prompt`` has."""
        marker = _STREAM_MARKER.search(prompt)
        if marker:
            return max(1, int(marker.group(1)))
        if self.stream_events is not None:
            return max(1, self.stream_events)
        return len(self.answer.split()) or 1

    def deltas(self, count: int) -> list[str]:
        """The canned answer cut into ``count`` text deltas."""
        words = self.answer.split() or ["ok"]
        if count == len(words):
            return [w if i == 0 else " " + w for i, w in enumerate(words)]
        return [(" " if i else "") + words[i % len(words)] for i in range(count)]

    def tool_input(self, tool_name: str) -> Any:
        """The input configured for ``tool_name`` (``{}`` when none was)."""
        with self._lock:
            return self._tool_inputs.get(tool_name, {})

    # The names ``_handlers_compat`` (and code written against the single-module
    # ``_handlers``) call these by.
    _guardrail = find_guardrail
    _stream_count = stream_count
    _deltas = deltas
