"""Audit telemetry: one OpenTelemetry span per call, GenAI metrics, the audit log.

Every public method here *fails open*: an exception inside telemetry is
logged at DEBUG (its type only; the message could quote data) and swallowed,
so a broken exporter, processor or meter never breaks a Bedrock call. With
only ``opentelemetry-api`` installed the tracer and meter are no-ops and the
per-call cost is a few attribute look-ups: attributes are built only when
``span.is_recording()``.

Content never leaves: no prompt, completion, tool input or credential is put
in a span, event, metric or log record. Exception messages are not recorded
either (Bedrock's validation messages can quote the request); only the error
type is. With ``audit.content = "digest"`` the keyed digests of
:mod:`securebedrock._digest` are recorded instead.

The reference of every attribute, event and metric is docs/telemetry.md.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from botocore.eventstream import EventStream
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import _bounded, _digest
from . import _telemetry_semconv as sc
from ._constants import AUDIT_LOGGER_NAME, INSTRUMENTATION_NAME
from ._errors import StreamInterruptedError
from ._operations import operation as operation_row

__all__ = [
    "ATTR_DECISION",
    "CallRecord",
    "Telemetry",
]

_log = logging.getLogger(f"{INSTRUMENTATION_NAME}.telemetry")
_audit_log = logging.getLogger(AUDIT_LOGGER_NAME)

F = TypeVar("F", bound=Callable[..., Any])

# --- our attribute, event and metric names (docs/telemetry.md) ------------------------
ATTR_DECISION: Final = "securebedrock.decision"
ATTR_RULES: Final = "securebedrock.rules"
ATTR_POLICY_DIGEST: Final = "securebedrock.policy.digest"
ATTR_POLICY_RELEASE: Final = "securebedrock.policy.release"
ATTR_POLICY_SERIAL: Final = "securebedrock.policy.serial"
ATTR_MODE: Final = "securebedrock.mode"
ATTR_OPERATION: Final = "securebedrock.operation"
ATTR_CHANGES: Final = "securebedrock.changes"
ATTR_MODEL_REQUESTED: Final = "securebedrock.model.requested"
ATTR_MODEL_SENT: Final = "securebedrock.model.sent"
ATTR_INFERENCE_PROFILE: Final = "securebedrock.inference_profile"
ATTR_GUARDRAIL_VERSION: Final = "securebedrock.guardrail.version"
ATTR_GUARDRAIL_ACTION: Final = "securebedrock.guardrail.action"
ATTR_GUARDRAIL_SOURCE: Final = "securebedrock.guardrail.source"
ATTR_TLS_VERSION: Final = "securebedrock.tls.version"
ATTR_PEER_ADDRESS_CLASS: Final = "securebedrock.peer.address_class"
ATTR_ATTEMPTS: Final = "securebedrock.attempts"
ATTR_ATTEMPT_NUMBER: Final = "securebedrock.attempt.number"
ATTR_RETRY_DELAY: Final = "securebedrock.retry.delay"
ATTR_STREAM_END: Final = "securebedrock.stream.end"
ATTR_RULE: Final = "securebedrock.rule"
ATTR_FOUND: Final = "securebedrock.found"
ATTR_EXPECTED: Final = "securebedrock.expected"
#: Where a violation was found: engine, wire, before-send, transport or control-plane.
ATTR_STAGE: Final = "securebedrock.stage"
ATTR_PROMPT_DIGEST: Final = "securebedrock.prompt.digest"
ATTR_COMPLETION_DIGEST: Final = "securebedrock.completion.digest"
ATTR_EXCEPTION_TYPE: Final = "exception.type"

EVENT_VIOLATION: Final = "securebedrock.policy.violation"
EVENT_GUARDRAIL: Final = "securebedrock.guardrail.intervention"
EVENT_ATTEMPT: Final = "securebedrock.attempt"
EVENT_EXCEPTION: Final = "exception"

METRIC_VIOLATIONS: Final = "securebedrock.policy.violations"

#: Bodies larger than this are never parsed (request parameters) or buffered (response).
_MAX_PARSE_BYTES: Final = 1 << 20

# Bucket advice from the GenAI semantic conventions.
_DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip

# Stop reasons in InvokeModel bodies/chunks of the model families Bedrock hosts.
_STOP_KEYS: Final = ("stop_reason", "stopReason", "completionReason", "finish_reason")
_GUARDRAIL_INTERVENED: Final = "guardrail_intervened"


def _safe(fn: F) -> F:
    """Run telemetry code fail-open: log the exception *type* at DEBUG and return ``None``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            # Type only: a message could quote an attribute value.
            _log.debug(
                "securebedrock telemetry error in %s: %s", fn.__qualname__, type(exc).__name__
            )
            return None

    return cast(F, wrapper)


def error_type(exc: BaseException) -> str:
    """Low-cardinality ``error.type``: the AWS error code, else the exception class name."""
    if isinstance(exc, ClientError):
        code = (exc.response.get("Error") or {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__qualname__


_transport_hooks: tuple[Callable[[], Any] | None, Callable[[], Any] | None] | None = None


def _hooks() -> tuple[Callable[[], Any] | None, Callable[[], Any] | None]:
    """The transport's ``last_connection``/``reset_last_connection``, looked up once.

    Imported late: the transport module is complete only once the package is.
    """
    global _transport_hooks
    if _transport_hooks is None:
        from . import _transport

        getter = getattr(_transport, "last_connection", None)
        reset = getattr(_transport, "reset_last_connection", None)
        _transport_hooks = (
            getter if callable(getter) else None,
            reset if callable(reset) else None,
        )
    return _transport_hooks


def _connection_info() -> Any:
    """The transport's ConnectionInfo for the last request on this thread."""
    getter = _hooks()[0]
    return getter() if getter is not None else None


def _forget_connection() -> None:
    """Clear the thread's last connection, so a failed attempt never reports a stale one."""
    reset = _hooks()[1]
    if reset is not None:
        reset()


def _gen_ai_operation(operation: str, params: Mapping[str, Any]) -> str:
    row = operation_row(operation)
    if row.gen_ai_operation is None:
        return operation
    if row.prompt == "body":
        model = params.get("modelId")
        if isinstance(model, str) and "embed" in model:
            return sc.OPERATION_EMBEDDINGS
        body = params.get("body")
        # A substring test, not a parse: cheap, and enough to tell the messages API apart.
        if isinstance(body, bytes | bytearray) and len(body) <= _MAX_PARSE_BYTES:
            return sc.OPERATION_CHAT if b'"messages"' in body else sc.OPERATION_TEXT_COMPLETION
        if isinstance(body, str) and len(body) <= _MAX_PARSE_BYTES:
            return sc.OPERATION_CHAT if '"messages"' in body else sc.OPERATION_TEXT_COMPLETION
        return row.gen_ai_operation
    return row.gen_ai_operation


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    return None


def _request_parameters(operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """max_tokens, temperature, top_p, top_k, stop_sequences: parameters, never content."""
    found: dict[str, Any] = {}
    prompt = operation_row(operation).prompt
    if prompt == "messages":
        config = params.get("inferenceConfig")
        if isinstance(config, Mapping):
            source: Mapping[str, Any] = {
                "max_tokens": config.get("maxTokens"),
                "temperature": config.get("temperature"),
                "top_p": config.get("topP"),
                "stop_sequences": config.get("stopSequences"),
            }
        else:
            source = {}
    elif prompt == "body":
        source = _body_parameters(params.get("body"))
    else:
        source = {}
    names = {
        "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
        "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
        "top_p": sc.GEN_AI_REQUEST_TOP_P,
        "top_k": sc.GEN_AI_REQUEST_TOP_K,
    }
    for key, attribute in names.items():
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
    if raw is None or len(raw) > _MAX_PARSE_BYTES:
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
    aliases = {
        "max_tokens": ("max_tokens", "maxTokens", "max_new_tokens", "maxTokenCount", "max_gen_len"),
        "temperature": ("temperature",),
        "top_p": ("top_p", "topP", "p"),
        "top_k": ("top_k", "topK", "k"),
        "stop_sequences": ("stop_sequences", "stopSequences", "stop"),
    }
    for canonical, keys in aliases.items():
        for part in nested:
            hit = next((part[k] for k in keys if k in part), None)
            if hit is not None:
                out[canonical] = hit
                break
    return out


def _guardrail_of(operation: str, params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if operation_row(operation).guardrail == "converse":
        config = params.get("guardrailConfig")
        if isinstance(config, Mapping):
            return _str(config.get("guardrailIdentifier")), _str(config.get("guardrailVersion"))
        return None, None
    return _str(params.get("guardrailIdentifier")), _str(params.get("guardrailVersion"))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# One meter and one set of instruments per meter provider, shared by every client.
# Creating them per client leaked: the API's global proxy provider (in force until an
# SDK provider is installed) keeps every meter and instrument ever created, so each
# new client grew it for good; an SDK provider logs a duplicate-instrument warning
# instead. Entries hold their provider, so an ``id()`` is never reused while cached.
_InstrumentSet = tuple[metrics.Histogram, metrics.Histogram, metrics.Counter]
_instrument_cache: dict[int, tuple[object, _InstrumentSet]] = {}
_instrument_lock = threading.Lock()
_INSTRUMENT_CACHE_LIMIT = 32


def _instruments(meter_provider: metrics.MeterProvider | None) -> _InstrumentSet:
    """The duration, token-usage and violation instruments for ``meter_provider``."""
    key = id(meter_provider)
    with _instrument_lock:
        cached = _instrument_cache.get(key)
        if cached is not None and cached[0] is meter_provider:
            return cached[1]
        from ._version import __version__

        meter = metrics.get_meter(INSTRUMENTATION_NAME, __version__, meter_provider=meter_provider)
        instruments: _InstrumentSet = (
            meter.create_histogram(
                sc.GEN_AI_CLIENT_OPERATION_DURATION,
                unit="s",
                description="Duration of a Bedrock call, including retries and, for streams, "
                "until the stream ends",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            meter.create_histogram(
                sc.GEN_AI_CLIENT_TOKEN_USAGE,
                unit="{token}",
                description="Input and output tokens per Bedrock call",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            ),
            meter.create_counter(
                METRIC_VIOLATIONS,
                unit="{violation}",
                description="Policy violations found, by rule and mode (enforced or logged)",
            ),
        )
        if len(_instrument_cache) >= _INSTRUMENT_CACHE_LIMIT:
            _instrument_cache.clear()
        _instrument_cache[key] = (meter_provider, instruments)
        return instruments


class Telemetry:
    """A secured client's tracer, instruments and digest key: built once, at construction."""

    def __init__(
        self,
        *,
        mode: str,
        policy_digest: str | None,
        region: str,
        server_address: str,
        server_port: int,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        hmac_key: bytes | None = None,
        policy_release: str | None = None,
        policy_serial: int | None = None,
    ) -> None:
        from ._version import __version__

        self.mode = mode
        self.policy_digest = policy_digest
        self.policy_release = policy_release
        self.policy_serial = policy_serial
        # The org release beside the digest, computed once here: a fleet dashboard
        # sees which release each host runs.
        self.policy_attributes: dict[str, Any] = {}
        if policy_digest:
            self.policy_attributes[ATTR_POLICY_DIGEST] = policy_digest
        if policy_release:
            self.policy_attributes[ATTR_POLICY_RELEASE] = policy_release
        if policy_serial is not None:
            self.policy_attributes[ATTR_POLICY_SERIAL] = policy_serial
        self.region = region
        self.hmac_key = hmac_key
        # ``None`` means the global providers; the API's proxies follow a global
        # provider set after this client was built.
        self.tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider
        )
        self.duration, self.token_usage, self.violations = _instruments(meter_provider)
        self.base_attributes: dict[str, Any] = {
            sc.GEN_AI_PROVIDER_NAME: sc.PROVIDER_AWS_BEDROCK,
            sc.SERVER_ADDRESS: server_address,
            sc.SERVER_PORT: server_port,
            ATTR_MODE: mode,
        }
        if region:
            self.base_attributes[sc.CLOUD_REGION] = region

    def start(self, operation: str, params: Mapping[str, Any]) -> CallRecord:
        """Open the span for one call (never raises: a failure gives a no-op record)."""
        try:
            return CallRecord(self, operation, params)
        except Exception as exc:
            _log.debug("securebedrock telemetry error in start: %s", type(exc).__name__)
            return CallRecord(self, operation, {}, span=trace.INVALID_SPAN)


class _Finding:
    """A rule found broken outside the engine (same fields as an engine violation)."""

    __slots__ = ("expected", "found", "rule")

    def __init__(self, rule: str, found: str, expected: str) -> None:
        self.rule = rule
        self.found = found
        self.expected = expected


class CallRecord:
    """The audit record of one call: its span, its metrics, its audit-log line."""

    def __init__(
        self,
        telemetry: Telemetry,
        operation: str,
        params: Mapping[str, Any],
        *,
        span: trace.Span | None = None,
    ) -> None:
        self._t = telemetry
        self.operation = operation
        self._start = time.monotonic()
        self._end_token = [True]  # list.pop() is atomic: ends exactly once, even from GC
        self.gen_ai_operation = _gen_ai_operation(operation, params)
        model = _str(params.get("modelId"))
        self.model = model
        self.outcome = "allow"
        self.rules: tuple[str, ...] = ()
        self.error_type: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.first_chunk_seen = False
        self.guardrail_intervened = False
        self._completion: _digest.Digester | None = None
        self._audit_fields: dict[str, Any] = {}
        if span is None:
            attributes = dict(telemetry.base_attributes)
            attributes[sc.GEN_AI_OPERATION_NAME] = self.gen_ai_operation
            attributes[ATTR_OPERATION] = operation
            if model is not None:
                attributes[sc.GEN_AI_REQUEST_MODEL] = _bounded.model(model)
            span = telemetry.tracer.start_span(
                self._span_name(model), kind=SpanKind.CLIENT, attributes=attributes
            )
        self.span = span
        self.recording = span.is_recording()

    def _span_name(self, model: str | None) -> str:
        if operation_row(self.operation).gen_ai_operation is not None and model:
            return f"{self.gen_ai_operation} {_bounded.model(model)}"
        return f"bedrock-runtime.{self.operation}"

    # -- the decision -------------------------------------------------------------------

    @_safe
    def decided(self, decision: Any, outcome: str, params_sent: Mapping[str, Any]) -> None:
        """Record the policy decision (``allow``/``deny``/``log_only``) and what will be sent."""
        self.outcome = outcome
        violations = tuple(getattr(decision, "violations", ()) or ())
        rules = tuple(v.rule for v in violations)
        for rule in rules:
            self._count_violation(rule)
        # Rules recorded earlier in the call (a refused control-plane request) stay.
        rules = tuple(dict.fromkeys(self.rules + rules))
        self.rules = rules
        sent = _str(params_sent.get("modelId"))
        requested = _str(getattr(decision, "model_requested", None)) or self.model
        # What really goes out: in log_only the caller's own params (no profile mapping).
        model_sent = sent or _str(getattr(decision, "model_sent", None))
        if model_sent is not None and model_sent != self.model:
            self.model = model_sent
            if self.recording:
                self.span.update_name(self._span_name(model_sent))
        guardrail_id, guardrail_version = _guardrail_of(self.operation, params_sent)
        profile = _str(getattr(decision, "inference_profile", None))
        # From here on, only what may be recorded: unrecognised values become placeholders.
        requested, model_sent, profile = (
            _bounded.model(requested),
            _bounded.model(model_sent),
            _bounded.model(profile),
        )
        guardrail_id = _bounded.guardrail_id(guardrail_id)
        guardrail_version = _bounded.guardrail_version(guardrail_version)
        self._audit_fields = _audit_fields(
            self, decision, requested, model_sent, guardrail_id, guardrail_version, profile
        )
        _log_decision_record(self, rules, "engine")
        if not self.recording:
            return
        span = self.span
        attributes: dict[str, Any] = {
            ATTR_DECISION: outcome,
            ATTR_RULES: rules,
        }
        attributes.update(self._t.policy_attributes)
        if model_sent is not None:
            attributes[sc.GEN_AI_REQUEST_MODEL] = model_sent
            attributes[ATTR_MODEL_SENT] = model_sent
        if requested is not None:
            attributes[ATTR_MODEL_REQUESTED] = requested
        if profile is not None:
            attributes[ATTR_INFERENCE_PROFILE] = profile
        if guardrail_id is not None:
            attributes[sc.AWS_BEDROCK_GUARDRAIL_ID] = guardrail_id
        if guardrail_version is not None:
            attributes[ATTR_GUARDRAIL_VERSION] = guardrail_version
        changes = tuple(str(c.path) for c in getattr(decision, "changes", ()) or ())
        if changes:
            attributes[ATTR_CHANGES] = changes
        if operation_row(self.operation).stream_key is not None:
            attributes[sc.GEN_AI_REQUEST_STREAM] = True
        attributes.update(_request_parameters(self.operation, params_sent))
        key = self._t.hmac_key
        if key is not None:
            prompt = _digest.prompt_bytes(self.operation, params_sent)
            if prompt is not None:
                attributes[ATTR_PROMPT_DIGEST] = _digest.digest(key, prompt)
        span.set_attributes(attributes)
        for violation in violations:
            span.add_event(
                EVENT_VIOLATION,
                {
                    ATTR_RULE: violation.rule,
                    ATTR_DECISION: outcome,
                    ATTR_FOUND: str(violation.found),
                    ATTR_EXPECTED: str(violation.expected),
                },
            )

    @_safe
    def late(self, violations: Sequence[Any], outcome: str, stage: str) -> None:
        """Violations found after the decision (wire check, transport, before-send check).

        ``outcome`` is ``deny`` (the call is refused) or ``log_only`` (recorded, sent).
        Like :meth:`decided`: the span's decision and rule ids, one violation event per
        new rule, the violation counter, and one audit-log record (with ``stage``).
        """
        new = [v for v in violations if getattr(v, "rule", None) not in self.rules]
        new = list({v.rule: v for v in new}.values())
        if outcome == "deny":
            self.outcome = "deny"
        elif self.outcome == "allow":
            self.outcome = "log_only"
        elif not new:
            return
        self.rules = self.rules + tuple(v.rule for v in new)
        for violation in new:
            self._count_violation(violation.rule)
        _log_decision_record(self, self.rules, stage)
        if not self.recording:
            return
        self.span.set_attributes({ATTR_DECISION: self.outcome, ATTR_RULES: self.rules})
        for violation in new:
            self.span.add_event(
                EVENT_VIOLATION,
                {
                    ATTR_RULE: violation.rule,
                    ATTR_DECISION: self.outcome,
                    ATTR_FOUND: str(violation.found),
                    ATTR_EXPECTED: str(violation.expected),
                    ATTR_STAGE: stage,
                },
            )

    # -- sending ------------------------------------------------------------------------

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make the span current while the request is sent (botocore instrumentation nests)."""
        token = None
        try:
            token = otel_context.attach(trace.set_span_in_context(self.span))
        except Exception as exc:
            _log.debug("securebedrock telemetry error in active: %s", type(exc).__name__)
        try:
            yield
        finally:
            if token is not None:
                try:
                    otel_context.detach(token)
                except Exception as exc:
                    _log.debug("securebedrock telemetry error in active: %s", type(exc).__name__)

    def _count_violation(self, rule: str) -> None:
        self._t.violations.add(
            1,
            {
                ATTR_RULE: rule,
                ATTR_MODE: self._t.mode,
                ATTR_DECISION: self.outcome,
                sc.GEN_AI_OPERATION_NAME: self.gen_ai_operation,
            },
        )

    @_safe
    def attempt_started(self, number: int) -> None:
        """An attempt is about to be sent (the retrier calls this)."""
        _forget_connection()

    @_safe
    def attempt(self, number: int, error: BaseException | None, retry_delay: float | None) -> None:
        """One attempt ended (the retrier calls this): an event, and the connection it used."""
        info = _connection_info()
        self._transport_violations(info)
        if not self.recording:
            return
        attributes: dict[str, Any] = {ATTR_ATTEMPT_NUMBER: number}
        if error is not None:
            attributes[sc.ERROR_TYPE] = error_type(error)
        if retry_delay is not None:
            attributes[ATTR_RETRY_DELAY] = round(retry_delay, 6)
        self.span.add_event(EVENT_ATTEMPT, attributes)
        span_attributes: dict[str, Any] = {ATTR_ATTEMPTS: number}
        if info is not None:
            tls_version = getattr(info, "tls_version", None)
            address_class = getattr(info, "address_class", None)
            if tls_version:
                span_attributes[ATTR_TLS_VERSION] = str(tls_version)
            if address_class:
                span_attributes[ATTR_PEER_ADDRESS_CLASS] = str(address_class)
        self.span.set_attributes(span_attributes)

    def _transport_violations(self, info: Any) -> None:
        """Rules a log_only policy let a connection break (the transport records them)."""
        found = tuple(getattr(info, "violations", ()) or ()) if info is not None else ()
        new = tuple(rule for rule in found if isinstance(rule, str) and rule not in self.rules)
        if not new:
            return
        address_class = getattr(info, "address_class", "")
        tls_version = getattr(info, "tls_version", "")
        what = f"connection to a {address_class} address over {tls_version}"
        self.late(
            [_Finding(rule, what, "see the policy's transport rules") for rule in new],
            "log_only",
            "transport",
        )

    # -- outcome ------------------------------------------------------------------------

    def response(self, response: Any, stream_wrapper: Any = None) -> Any:
        """Record a successful response; wrap a stream so the span ends with it. Never raises.

        ``stream_wrapper``: the class that wraps an event stream (default
        :class:`SecuredEventStream`; ``securebedrock.aio`` passes its async one).
        """
        try:
            return self._response(response, stream_wrapper or SecuredEventStream)
        except Exception as exc:
            _log.debug("securebedrock telemetry error in response: %s", type(exc).__name__)
            self.end()
            return response

    def _response(self, response: Any, stream_wrapper: Any) -> Any:
        if not isinstance(response, dict):
            self.end()
            return response
        metadata = response.get("ResponseMetadata") or {}
        headers = metadata.get("HTTPHeaders") or {}
        if self.recording:
            request_id = metadata.get("RequestId")
            if isinstance(request_id, str) and request_id:
                self.span.set_attribute(sc.AWS_REQUEST_ID, request_id)
        stream_key = operation_row(self.operation).stream_key
        if stream_key is not None:
            inner = response.get(stream_key)
            # Only a real EventStream (or a proxy of one, as other instrumentations
            # install): a stubbed response's list is left exactly as it is.
            if isinstance(inner, EventStream):
                self._header_guardrail(headers)
                if self._t.hmac_key is not None:
                    self._completion = _digest.Digester(self._t.hmac_key)
                response[stream_key] = stream_wrapper(inner, self)
                return response
        elif self.operation == "Converse":
            self._converse_result(response)
        elif self.operation == "InvokeModel":
            self._invoke_model_result(response, headers)
        elif self.operation == "ApplyGuardrail":
            action = response.get("action")
            if isinstance(action, str) and action.upper() == "GUARDRAIL_INTERVENED":
                self._guardrail_event(action, "action")
        self.end()
        return response

    def failed(self, exc: BaseException) -> None:
        """The call failed (refused, or an error after the last attempt): end the span."""
        self.end(error=exc)

    # -- response parsing (no content is kept) ------------------------------------------

    def _usage(
        self,
        input_tokens: Any,
        output_tokens: Any,
        cache_read: Any = None,
        cache_write: Any = None,
    ) -> None:
        if isinstance(input_tokens, int) and not isinstance(input_tokens, bool):
            self.input_tokens = input_tokens
        if isinstance(output_tokens, int) and not isinstance(output_tokens, bool):
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
            if isinstance(value, int) and not isinstance(value, bool):
                attributes[name] = value
        self.span.set_attributes(attributes)

    def _finish_reason(self, reason: Any) -> None:
        if not isinstance(reason, str) or not reason:
            return
        if self.recording:
            # Bounded vocabulary set by the service; never model text.
            self.span.set_attribute(sc.GEN_AI_RESPONSE_FINISH_REASONS, (reason[:64],))
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
        self.span.set_attribute(ATTR_GUARDRAIL_ACTION, action[:64])

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
            self.span.set_attribute(ATTR_COMPLETION_DIGEST, completion)

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
        if not isinstance(body, StreamingBody) or length is None or length > _MAX_PARSE_BYTES:
            return
        # Buffer the (small) body to find the stop reason, the body's guardrail action
        # and the completion digest, then hand the caller an identical, unread body.
        data = body.read()
        response["body"] = StreamingBody(io.BytesIO(data), len(data))
        key = self._t.hmac_key
        if key is not None:
            self.span.set_attribute(ATTR_COMPLETION_DIGEST, _digest.digest(key, data))
        chunk = _json_object(data)
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
                            self.span.set_attribute(
                                sc.GEN_AI_RESPONSE_FINISH_REASONS, (reason[:64],)
                            )
                        return
        outputs = chunk.get("outputs") or chunk.get("results") or chunk.get("generations")
        if isinstance(outputs, list) and outputs and isinstance(outputs[0], Mapping):
            for key in _STOP_KEYS:
                reason = outputs[0].get(key)
                if isinstance(reason, str) and reason and self.recording:
                    self.span.set_attribute(sc.GEN_AI_RESPONSE_FINISH_REASONS, (reason[:64],))
                    return

    # -- streams --------------------------------------------------------------------------

    @_safe
    def stream_event(self, event: Any) -> None:
        """Called for each event a wrapped stream yields: usage, finish reason, digests."""
        if not self.first_chunk_seen:
            self.first_chunk_seen = True
            if self.recording:
                self.span.set_attribute(
                    sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, time.monotonic() - self._start
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
                    parsed = _json_object(bytes(data))
                    if parsed is not None:
                        self._chunk_facts(parsed)

    @_safe
    def stream_ended(self, how: str, error: BaseException | None = None) -> None:
        """A wrapped stream ended: ``exhausted``, ``closed``, ``error``, ``interrupted``
        (ended before its terminal event) or ``abandoned``."""
        if self.ended:  # only the first ending counts (close() after exhaustion, ...)
            return
        if self.recording:
            self.span.set_attribute(ATTR_STREAM_END, how)
            if self._completion is not None:
                self.span.set_attribute(ATTR_COMPLETION_DIGEST, self._completion.hexdigest())
        self.end(error=error)

    # -- ending ---------------------------------------------------------------------------

    @_safe
    def end(self, error: BaseException | None = None) -> None:
        """End the span and record the metrics; only the first call has an effect."""
        try:
            self._end_token.pop()
        except IndexError:
            return
        t = self._t
        span = self.span
        if error is not None:
            self.error_type = error_type(error)
            if self.recording:
                span.set_attribute(sc.ERROR_TYPE, self.error_type)
                if isinstance(error, ClientError):
                    # The id AWS support needs, for a failed call too.
                    metadata: Mapping[str, Any] = error.response.get("ResponseMetadata") or {}
                    request_id = metadata.get("RequestId")
                    if isinstance(request_id, str) and request_id:
                        span.set_attribute(sc.AWS_REQUEST_ID, request_id)
                # Only the type: exception messages can quote the request.
                span.add_event(EVENT_EXCEPTION, {ATTR_EXCEPTION_TYPE: _qualified(error)})
            span.set_status(Status(StatusCode.ERROR, self.error_type))
        duration = time.monotonic() - self._start
        try:
            span.end()
        except Exception as exc:
            # A span processor that raises in on_end must not cost us the metrics.
            _log.debug("securebedrock telemetry error in span.end: %s", type(exc).__name__)
        attributes: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: self.gen_ai_operation,
            sc.GEN_AI_PROVIDER_NAME: sc.PROVIDER_AWS_BEDROCK,
            sc.SERVER_ADDRESS: t.base_attributes[sc.SERVER_ADDRESS],
            sc.SERVER_PORT: t.base_attributes[sc.SERVER_PORT],
        }
        if self.model is not None:
            attributes[sc.GEN_AI_REQUEST_MODEL] = _bounded.metric_model(self.model)
        tokens = dict(attributes)
        attributes[ATTR_DECISION] = self.outcome
        if self.error_type is not None:
            attributes[sc.ERROR_TYPE] = self.error_type
        t.duration.record(duration, attributes)
        if self.input_tokens is not None:
            t.token_usage.record(
                self.input_tokens, {**tokens, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_INPUT}
            )
        if self.output_tokens is not None:
            t.token_usage.record(
                self.output_tokens, {**tokens, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT}
            )

    @property
    def ended(self) -> bool:
        """Whether the span has been ended."""
        return not self._end_token


def _qualified(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _json_object(data: bytes) -> Mapping[str, Any] | None:
    if len(data) > _MAX_PARSE_BYTES:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


# -- the stream wrapper ---------------------------------------------------------------------


if TYPE_CHECKING:
    _EventStreamBase = EventStream[Any]
else:
    _EventStreamBase = EventStream


#: What ends every complete stream, per streaming operation (docs/telemetry.md#streams).
#: ConverseStream: the ``metadata`` event (usage and metrics), sent after ``messageStop``.
#: InvokeModelWithResponseStream: the chunk whose JSON carries Bedrock's own
#: ``amazon-bedrock-invocationMetrics``, which Bedrock adds to the last chunk of a stream.
_TERMINAL_EVENTS: Final = {
    "ConverseStream": "a 'metadata' event",
    "InvokeModelWithResponseStream": "a chunk carrying 'amazon-bedrock-invocationMetrics'",
}
_INVOCATION_METRICS: Final = "amazon-bedrock-invocationMetrics"
_INVOCATION_METRICS_BYTES: Final = _INVOCATION_METRICS.encode("ascii")


def _is_terminal(operation: str, event: Any) -> bool:
    """Whether ``event`` is the one that ends every complete stream of ``operation``."""
    if type(event) is not dict and not isinstance(event, Mapping):
        return False
    if operation == "ConverseStream":
        return "metadata" in event
    chunk = event.get("chunk")
    if not isinstance(chunk, Mapping):
        return False
    data = chunk.get("bytes")
    if not isinstance(data, bytes | bytearray) or _INVOCATION_METRICS_BYTES not in data:
        return False
    # The name can occur in generated text too: it counts only as a top-level key. A
    # chunk too large, not JSON or not parsable at all is given the benefit of the doubt
    # (never a false alarm on a complete stream).
    try:
        parsed = _json_object(bytes(data))
    except Exception as exc:  # RecursionError on absurd nesting, ...
        _log.debug("securebedrock: unparsable stream chunk: %s", type(exc).__name__)
        return True
    return parsed is None or _INVOCATION_METRICS in parsed


def _event_type(event: Any) -> str | None:
    """The type of a stream event (its one key, e.g. ``contentBlockDelta``), never content."""
    if isinstance(event, Mapping) and len(event) == 1:
        key = next(iter(event))
        if isinstance(key, str) and len(key) <= 64:
            return key
    return None


def _stream_abandoned(record: CallRecord, inner: Any) -> None:
    """``weakref.finalize`` callback: the caller dropped the stream without ending it.

    Closes the HTTP stream too, so the connection is released now rather than
    whenever the socket happens to be collected.
    """
    try:
        inner.close()
    except Exception as exc:
        _log.debug("securebedrock: closing an abandoned stream failed: %s", type(exc).__name__)
    record.stream_ended("abandoned")


class SecuredEventStream(_EventStreamBase):
    """A botocore ``EventStream`` that ends the call's span when the stream ends.

    It *is* an ``EventStream`` (``isinstance`` checks keep passing) and delegates
    everything to the wrapped one: iteration, ``close()``,
    ``get_initial_response()`` and any attribute. The span ends on exhaustion,
    on ``close()``, on any error raised while iterating (``EventStreamError``,
    connection errors, anything), and when the caller drops the stream
    unfinished (``weakref.finalize``: no ``__del__``, so no resurrection and no
    cycle keeps it alive).

    A stream whose HTTP response ends without error but before its terminal event
    (:data:`_TERMINAL_EVENTS`) was cut short: iteration raises
    :class:`~securebedrock.StreamInterruptedError` and the span ends with an error,
    instead of handing the caller a partial answer that looks complete.
    """

    # Deliberately not calling EventStream.__init__: all state lives in the wrapped stream.
    def __init__(self, inner: Any, record: CallRecord) -> None:
        self._sb_inner = inner
        self._sb_record = record
        self._sb_events = 0
        self._sb_last_event: Any = None
        self._sb_complete = record.operation not in _TERMINAL_EVENTS
        self._sb_converse = record.operation == "ConverseStream"
        # The callback holds the record and the inner stream, never ``self``.
        finalizer = weakref.finalize(self, _stream_abandoned, record, inner)
        finalizer.atexit = False
        self._sb_finalizer = finalizer

    def __iter__(self) -> Iterator[Any]:
        iterator = iter(self._sb_inner)
        while True:
            try:
                event = next(iterator)
            except StopIteration:
                self._sb_stopped()
                return
            except BaseException as exc:
                self._sb_done("error", exc)
                raise
            self._sb_seen(event)
            yield event

    def _sb_seen(self, event: Any) -> None:
        """One event the wrapped stream yielded: completeness, then telemetry.

        Shared by every way of iterating (``securebedrock.aio``'s async streams too).
        """
        record = self._sb_record
        self._sb_events += 1
        if not self._sb_complete:
            # Kept (not inspected) until the stream ends: only its type is reported.
            self._sb_last_event = event
            # A ConverseStream event is a one-key dict: test it inline (hot path).
            if self._sb_converse and type(event) is dict:
                self._sb_complete = "metadata" in event
            else:
                self._sb_complete = _is_terminal(record.operation, event)
            if self._sb_complete:
                self._sb_last_event = None
        # Text deltas are nearly every event of a ConverseStream, and once the first
        # chunk is timed there is nothing to record from them unless a completion
        # digest is being computed: skipping the call saves per-event work
        # (docs/performance.md). Every other event goes through stream_event().
        if not (
            self._sb_converse
            and record._completion is None
            and record.first_chunk_seen
            and type(event) is dict
            and "contentBlockDelta" in event
        ):
            record.stream_event(event)

    def _sb_stopped(self) -> None:
        """The wrapped stream ended without error: complete, or cut short (raises
        :class:`~securebedrock.StreamInterruptedError`)."""
        if self._sb_complete:
            self._sb_done("exhausted")
            return
        operation = self._sb_record.operation
        error = StreamInterruptedError(
            operation=operation,
            events=self._sb_events,
            terminal=_TERMINAL_EVENTS[operation],
            last_event=_event_type(self._sb_last_event),
        )
        self._sb_done("interrupted", error)
        raise error

    def _sb_done(self, how: str, error: BaseException | None = None) -> None:
        self._sb_finalizer.detach()
        self._sb_record.stream_ended(how, error)

    def close(self) -> None:
        """Close the underlying HTTP stream and end the span."""
        try:
            self._sb_inner.close()
        finally:
            self._sb_done("closed")

    def get_initial_response(self) -> Any:
        """Delegated to the wrapped stream."""
        return self._sb_inner.get_initial_response()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_sb_"):
            raise AttributeError(name)
        return getattr(self._sb_inner, name)

    def __repr__(self) -> str:
        return f"<securebedrock stream wrapping {self._sb_inner!r}>"


# -- the audit log --------------------------------------------------------------------------


def _audit_fields(
    record: CallRecord,
    decision: Any,
    requested: str | None,
    model_sent: str | None,
    guardrail_id: str | None,
    guardrail_version: str | None,
    profile: str | None,
) -> dict[str, Any]:
    """The parts of a call's audit-log record fixed by its decision."""
    return {
        "changes": [str(c.path) for c in getattr(decision, "changes", ()) or ()],
        "model_requested": requested,
        "model_sent": model_sent,
        "inference_profile": profile,
        "guardrail_id": guardrail_id,
        "guardrail_version": guardrail_version,
    }


def _log_decision_record(record: CallRecord, rules: Sequence[str], stage: str) -> None:
    """One structured, JSON-serializable, content-free record per decision.

    The same fields for every stage that decides (``engine``, ``wire``,
    ``before-send``, ``transport``, ``control-plane``); a refusal after the
    engine's decision gets a record of its own, with the call's model and guardrail.
    """
    # A violation is worth a WARNING (enforced or only logged); an allowed call is INFO.
    level = logging.WARNING if rules else logging.INFO
    if not _audit_log.isEnabledFor(level):
        return
    span_context = record.span.get_span_context()
    decided = record._audit_fields
    fields: dict[str, Any] = {
        "operation": record.operation,
        "decision": record.outcome,
        "mode": record._t.mode,
        "stage": stage,
        "rules": list(rules),
        "changes": decided.get("changes", []),
        "model_requested": decided.get("model_requested", _bounded.model(record.model)),
        "model_sent": decided.get("model_sent"),
        "inference_profile": decided.get("inference_profile"),
        "guardrail_id": decided.get("guardrail_id"),
        "guardrail_version": decided.get("guardrail_version"),
        "region": record._t.region,
        "policy_digest": record._t.policy_digest,
        "policy_release": record._t.policy_release,
        "policy_serial": record._t.policy_serial,
    }
    if span_context.is_valid:
        fields["trace_id"] = format(span_context.trace_id, "032x")
        fields["span_id"] = format(span_context.span_id, "016x")
    _audit_log.log(
        level,
        "securebedrock decision: %s %s rules=%s",
        record.outcome,
        record.operation,
        ",".join(rules) or "-",
        extra={"securebedrock": fields},
    )
