"""The span lifecycle: one :class:`CallRecord` per call (its span, metrics, audit log).

Every method a caller uses *fails open*: an exception inside telemetry is
logged at DEBUG (its type only; the message could quote data) and swallowed,
so a broken exporter, processor or meter never breaks a Bedrock call. The hot
methods catch inline rather than through a wrapper: one call frame less each.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from botocore.eventstream import EventStream
from botocore.exceptions import ClientError
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import _bounded, _digest
from .. import _telemetry_semconv as sc
from .._operations import operation as operation_row
from .audit_log import audit_fields, log_decision_record
from .bodies import ResponseFacts, gen_ai_operation, guardrail_of, request_parameters, text
from .failopen import error_type, log, qualified, safe
from .names import (
    ATTR_ATTEMPT_NUMBER,
    ATTR_ATTEMPTS,
    ATTR_CHANGES,
    ATTR_COMPLETION_DIGEST,
    ATTR_DECISION,
    ATTR_EXCEPTION_TYPE,
    ATTR_EXPECTED,
    ATTR_FOUND,
    ATTR_GUARDRAIL_VERSION,
    ATTR_INFERENCE_PROFILE,
    ATTR_MODE,
    ATTR_MODEL_REQUESTED,
    ATTR_MODEL_SENT,
    ATTR_OPERATION,
    ATTR_PEER_ADDRESS_CLASS,
    ATTR_PROMPT_DIGEST,
    ATTR_RETRY_DELAY,
    ATTR_RULE,
    ATTR_RULES,
    ATTR_STAGE,
    ATTR_STREAM_END,
    ATTR_TLS_VERSION,
    EVENT_ATTEMPT,
    EVENT_EXCEPTION,
    EVENT_VIOLATION,
)
from .streams import SecuredEventStream

if TYPE_CHECKING:
    from .client import Telemetry

__all__ = ["CallRecord"]


class _Active:
    """The call's span made current while the call runs (a context manager).

    A small class rather than ``contextlib.contextmanager``: no generator per call.
    """

    __slots__ = ("_span", "_token")

    def __init__(self, span: trace.Span) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> None:
        try:
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        except Exception as exc:
            log.debug("securebedrock telemetry error in active: %s", type(exc).__name__)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            try:
                otel_context.detach(token)  # type: ignore[arg-type]
            except Exception as error:
                log.debug("securebedrock telemetry error in active: %s", type(error).__name__)


class _Finding:
    """A rule found broken outside the engine (same fields as an engine violation)."""

    __slots__ = ("expected", "found", "rule")

    def __init__(self, rule: str, found: str, expected: str) -> None:
        self.rule = rule
        self.found = found
        self.expected = expected


class CallRecord(ResponseFacts):
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
        self.gen_ai_operation = gen_ai_operation(operation, params)
        model = text(params.get("modelId"))
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
        self.pending_attributes = {}
        if span is None:
            # Everything fixed for the client (provider, endpoint, region, mode, policy)
            # was computed once; only the call's own facts are added here.
            attributes = dict(telemetry.start_attributes)
            attributes[sc.GEN_AI_OPERATION_NAME] = self.gen_ai_operation
            attributes[ATTR_OPERATION] = operation
            if model is not None:
                shown = telemetry.shown_model(model)
                attributes[sc.GEN_AI_REQUEST_MODEL] = shown
                if operation_row(operation).gen_ai_operation is not None:
                    name = f"{self.gen_ai_operation} {shown}"
                else:
                    name = f"bedrock-runtime.{operation}"
            else:
                name = f"bedrock-runtime.{operation}"
            span = telemetry.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        self.span = span
        self.recording = span.is_recording()

    def _span_name(self, model: str | None) -> str:
        if operation_row(self.operation).gen_ai_operation is not None and model:
            return f"{self.gen_ai_operation} {self._t.shown_model(model)}"
        return f"bedrock-runtime.{self.operation}"

    # -- the decision -------------------------------------------------------------------

    def decided(self, decision: Any, outcome: str, params_sent: Mapping[str, Any]) -> None:
        """Record the policy decision (``allow``/``deny``/``log_only``) and what will be sent."""
        try:
            self._decided(decision, outcome, params_sent)
        except Exception as exc:
            log.debug("securebedrock telemetry error in decided: %s", type(exc).__name__)

    def _decided(self, decision: Any, outcome: str, params_sent: Mapping[str, Any]) -> None:
        self.outcome = outcome
        violations = tuple(getattr(decision, "violations", ()) or ())
        rules = tuple(v.rule for v in violations)
        for rule in rules:
            self._count_violation(rule)
        # Rules recorded earlier in the call (a refused control-plane request) stay.
        rules = tuple(dict.fromkeys(self.rules + rules))
        self.rules = rules
        sent = text(params_sent.get("modelId"))
        requested = text(getattr(decision, "model_requested", None)) or self.model
        # What really goes out: in log_only the caller's own params (no profile mapping).
        model_sent = sent or text(getattr(decision, "model_sent", None))
        if model_sent is not None and model_sent != self.model:
            self.model = model_sent
            if self.recording:
                self.span.update_name(self._span_name(model_sent))
        guardrail_id, guardrail_version = guardrail_of(self.operation, params_sent)
        profile = text(getattr(decision, "inference_profile", None))
        # From here on, only what may be recorded: unrecognised values become placeholders.
        requested, model_sent, profile = (
            self._t.shown_model(requested),
            self._t.shown_model(model_sent),
            self._t.shown_model(profile),
        )
        guardrail_id = _bounded.guardrail_id(guardrail_id)
        guardrail_version = _bounded.guardrail_version(guardrail_version)
        self._audit_fields = audit_fields(
            decision, requested, model_sent, guardrail_id, guardrail_version, profile
        )
        log_decision_record(self, rules, "engine")
        if not self.recording:
            return
        span = self.span
        # The policy digest, release and serial were passed at span start.
        attributes: dict[str, Any] = {
            ATTR_DECISION: outcome,
            ATTR_RULES: rules,
        }
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
        attributes.update(request_parameters(self.operation, params_sent))
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

    @safe
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
        log_decision_record(self, self.rules, stage)
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

    def active(self) -> AbstractContextManager[None]:
        """Make the span current while the request is sent (botocore instrumentation nests)."""
        return _Active(self.span)

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

    def attempt_started(self, number: int) -> None:
        """An attempt is about to be sent (the retrier calls this)."""
        connection = self._t.connection
        if connection is not None:
            try:
                connection.forget()
            except Exception as exc:
                log.debug("securebedrock telemetry error in attempt: %s", type(exc).__name__)

    def attempt(self, number: int, error: BaseException | None, retry_delay: float | None) -> None:
        """One attempt ended (the retrier calls this): an event, and the connection it used."""
        try:
            self._attempt(number, error, retry_delay)
        except Exception as exc:
            log.debug("securebedrock telemetry error in attempt: %s", type(exc).__name__)

    def _attempt(self, number: int, error: BaseException | None, retry_delay: float | None) -> None:
        connection = self._t.connection
        info = connection.last() if connection is not None else None
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
        self.pending_attributes.update(span_attributes)

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
            log.debug("securebedrock telemetry error in response: %s", type(exc).__name__)
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
                self.pending_attributes[sc.AWS_REQUEST_ID] = request_id
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

    @safe
    def stream_ended(self, how: str, error: BaseException | None = None) -> None:
        """A wrapped stream ended: ``exhausted``, ``closed``, ``error``, ``interrupted``
        (ended before its terminal event) or ``abandoned``."""
        if self.ended:  # only the first ending counts (close() after exhaustion, ...)
            return
        if self.recording:
            self.pending_attributes[ATTR_STREAM_END] = how
            if self._completion is not None:
                self.pending_attributes[ATTR_COMPLETION_DIGEST] = self._completion.hexdigest()
        self.end(error=error)

    # -- ending ---------------------------------------------------------------------------

    def end(self, error: BaseException | None = None) -> None:
        """End the span and record the metrics; only the first call has an effect."""
        try:
            self._end_token.pop()
        except IndexError:
            return
        try:
            self._ended(error)
        except Exception as exc:
            log.debug("securebedrock telemetry error in end: %s", type(exc).__name__)

    def _ended(self, error: BaseException | None) -> None:
        t = self._t
        span = self.span
        pending = self.pending_attributes
        if error is not None:
            self.error_type = error_type(error)
            if self.recording:
                pending[sc.ERROR_TYPE] = self.error_type
                if isinstance(error, ClientError):
                    # The id AWS support needs, for a failed call too.
                    metadata: Mapping[str, Any] = error.response.get("ResponseMetadata") or {}
                    request_id = metadata.get("RequestId")
                    if isinstance(request_id, str) and request_id:
                        pending[sc.AWS_REQUEST_ID] = request_id
                # Only the type: exception messages can quote the request.
                span.add_event(EVENT_EXCEPTION, {ATTR_EXCEPTION_TYPE: qualified(error)})
            span.set_status(Status(StatusCode.ERROR, self.error_type))
        if pending and self.recording:
            try:
                span.set_attributes(pending)
            except Exception as exc:
                log.debug("securebedrock telemetry error in end: %s", type(exc).__name__)
        duration = time.monotonic() - self._start
        try:
            span.end()
        except Exception as exc:
            # A span processor that raises in on_end must not cost us the metrics.
            log.debug("securebedrock telemetry error in span.end: %s", type(exc).__name__)
        if not t.metrics_enabled:
            return
        attributes = dict(t.metric_attributes)
        attributes[sc.GEN_AI_OPERATION_NAME] = self.gen_ai_operation
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
