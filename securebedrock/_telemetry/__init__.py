"""Audit telemetry: one OpenTelemetry span per call, GenAI metrics, the audit log.

With only ``opentelemetry-api`` installed the tracer and meter are no-ops and the
per-call cost is a few attribute look-ups: attributes are built only when the
span is recording.

Content never leaves: no prompt, completion, tool input or credential is put
in a span, event, metric or log record. Exception messages are not recorded
either (Bedrock's validation messages can quote the request); only the error
type is. With ``audit.content = "digest"`` the keyed digests of
:mod:`securebedrock._digest` are recorded instead.

The rooms: ``names`` (our attribute, event and metric names; the shared
OpenTelemetry names are vendored in :mod:`securebedrock._telemetry_semconv`),
``instruments`` (the metric instruments), ``client`` (:class:`Telemetry`: what a
client builds once), ``spans`` (:class:`CallRecord`: the span lifecycle), ``quiet``
(:class:`QuietRecord`: the record when nothing would keep spans or metrics),
``bodies`` (per-model request and response facts), ``streams``
(:class:`SecuredEventStream`), ``audit_log`` (the structured decision records)
and ``failopen`` (never raise into a call).

The reference of every attribute, event and metric is docs/telemetry.md.
"""

from __future__ import annotations

from .bodies import MAX_PARSE_BYTES as _MAX_PARSE_BYTES
from .bodies import gen_ai_operation as _gen_ai_operation
from .bodies import json_object as _json_object
from .bodies import request_parameters as _request_parameters
from .client import ConnectionFacts, Telemetry
from .failopen import error_type
from .names import (
    ATTR_ATTEMPT_NUMBER,
    ATTR_ATTEMPTS,
    ATTR_CHANGES,
    ATTR_COMPLETION_DIGEST,
    ATTR_DECISION,
    ATTR_EXCEPTION_TYPE,
    ATTR_EXPECTED,
    ATTR_FOUND,
    ATTR_GUARDRAIL_ACTION,
    ATTR_GUARDRAIL_SOURCE,
    ATTR_GUARDRAIL_VERSION,
    ATTR_INFERENCE_PROFILE,
    ATTR_MODE,
    ATTR_MODEL_REQUESTED,
    ATTR_MODEL_SENT,
    ATTR_OPERATION,
    ATTR_PEER_ADDRESS_CLASS,
    ATTR_POLICY_DIGEST,
    ATTR_POLICY_RELEASE,
    ATTR_POLICY_SERIAL,
    ATTR_PROMPT_DIGEST,
    ATTR_RETRY_DELAY,
    ATTR_RULE,
    ATTR_RULES,
    ATTR_STAGE,
    ATTR_STREAM_END,
    ATTR_TLS_VERSION,
    EVENT_ATTEMPT,
    EVENT_EXCEPTION,
    EVENT_GUARDRAIL,
    EVENT_VIOLATION,
    METRIC_VIOLATIONS,
)
from .quiet import QuietRecord
from .spans import CallRecord
from .streams import SecuredEventStream

__all__ = [
    "ATTR_ATTEMPTS",
    "ATTR_ATTEMPT_NUMBER",
    "ATTR_CHANGES",
    "ATTR_COMPLETION_DIGEST",
    "ATTR_DECISION",
    "ATTR_EXCEPTION_TYPE",
    "ATTR_EXPECTED",
    "ATTR_FOUND",
    "ATTR_GUARDRAIL_ACTION",
    "ATTR_GUARDRAIL_SOURCE",
    "ATTR_GUARDRAIL_VERSION",
    "ATTR_INFERENCE_PROFILE",
    "ATTR_MODE",
    "ATTR_MODEL_REQUESTED",
    "ATTR_MODEL_SENT",
    "ATTR_OPERATION",
    "ATTR_PEER_ADDRESS_CLASS",
    "ATTR_POLICY_DIGEST",
    "ATTR_POLICY_RELEASE",
    "ATTR_POLICY_SERIAL",
    "ATTR_PROMPT_DIGEST",
    "ATTR_RETRY_DELAY",
    "ATTR_RULE",
    "ATTR_RULES",
    "ATTR_STAGE",
    "ATTR_STREAM_END",
    "ATTR_TLS_VERSION",
    "EVENT_ATTEMPT",
    "EVENT_EXCEPTION",
    "EVENT_GUARDRAIL",
    "EVENT_VIOLATION",
    "METRIC_VIOLATIONS",
    "CallRecord",
    "ConnectionFacts",
    "QuietRecord",
    "SecuredEventStream",
    "Telemetry",
    "_MAX_PARSE_BYTES",
    "_gen_ai_operation",
    "_json_object",
    "_request_parameters",
    "error_type",
]
