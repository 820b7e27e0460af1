"""When nothing records (no-op tracer and meter, audit log above INFO), a call does no
record work, and every refusal is still audited exactly as a recording client audits it.

The work is observed with counting hooks on the functions that build a record's facts,
never with timings.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _telemetry_helpers import FAST_RETRY, make_otel
from botocore.client import BaseClient
from conftest import GUARDRAIL, MODEL_ID
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

import securebedrock
from securebedrock import PolicyViolation
from securebedrock import _telemetry as T
from securebedrock._constants import AUDIT_LOGGER_NAME
from securebedrock._policy import AuthPolicy, GuardrailPolicy, RegionsPolicy
from securebedrock._telemetry import spans
from securebedrock.testing import EmbeddedBedrock

Make = Callable[..., BaseClient]
MESSAGES = [{"role": "user", "content": [{"text": "hello there"}]}]
GUARDED = GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version)
NO_KEYS = dataclasses.replace(
    securebedrock.Policy.default(), guardrail=GUARDED, auth=AuthPolicy(allow_api_keys=False)
)
EU_ONLY = dataclasses.replace(
    securebedrock.Policy.default(), regions=RegionsPolicy(allowed=("eu-west-1",))
)
NOOP = {
    "tracer_provider": trace.NoOpTracerProvider(),
    "meter_provider": metrics.NoOpMeterProvider(),
}


class _Counter:
    """Counts calls to the functions that build a call record's span and audit facts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = {}
        for name in ("request_parameters", "audit_fields", "guardrail_of"):
            self._count(monkeypatch, name)

    def _count(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        original = getattr(spans, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(spans, name, counting)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> _Counter:
    return _Counter(monkeypatch)


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[logging.LogRecord]]]:
    # The default: the audit log keeps WARNING records (refusals), drops INFO ones.
    caplog.set_level(logging.WARNING, logger=AUDIT_LOGGER_NAME)
    yield lambda: [r for r in caplog.records if r.name == AUDIT_LOGGER_NAME]


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(record.securebedrock)  # type: ignore[attr-defined]
    fields.pop("trace_id", None)
    fields.pop("span_id", None)
    return fields


def test_a_clean_call_with_nothing_recording_does_no_record_work(
    secured_client: Make,
    bedrock: EmbeddedBedrock,
    counter: _Counter,
    audit: Callable[[], list[logging.LogRecord]],
) -> None:
    client = secured_client(**NOOP)
    response = client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert response["output"]["message"]["role"] == "assistant"
    assert len(bedrock.requests) == 1
    assert counter.total == 0, counter.calls
    assert audit() == []


def test_the_same_call_does_the_work_once_anything_records(
    secured_client: Make,
    counter: _Counter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = secured_client(**NOOP)
    # The audit log at INFO keeps allowed calls too: read per call, not at construction.
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert counter.calls.get("audit_fields") == 1
    (record,) = [r for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    assert record.levelno == logging.INFO and _fields(record)["decision"] == "allow"
    # A recording tracer: the span's parameters are built again.
    otel = make_otel()
    secured_client(**otel.kwargs()).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert counter.calls.get("request_parameters") == 1
    assert otel.only_span().attributes[T.ATTR_DECISION] == "allow"


def test_the_record_kind_follows_what_records() -> None:
    kwargs: dict[str, Any] = {
        "mode": "enforce",
        "policy_digest": None,
        "region": "us-east-1",
        "server_address": "h",
        "server_port": 443,
    }
    logging.getLogger(AUDIT_LOGGER_NAME).setLevel(logging.WARNING)
    try:
        quiet = T.Telemetry(**kwargs, **NOOP).start("Converse", {"modelId": MODEL_ID})
        assert isinstance(quiet, T.QuietRecord)
        otel = make_otel()
        traced = T.Telemetry(**kwargs, tracer_provider=otel.tracer_provider, **_noop_meter())
        assert not isinstance(traced.start("Converse", {}), T.QuietRecord)
        metered = T.Telemetry(**kwargs, meter_provider=otel.meter_provider, **_noop_tracer())
        assert not isinstance(metered.start("Converse", {}), T.QuietRecord)
    finally:
        logging.getLogger(AUDIT_LOGGER_NAME).setLevel(logging.NOTSET)


def _noop_meter() -> dict[str, Any]:
    return {"meter_provider": metrics.NoOpMeterProvider()}


def _noop_tracer() -> dict[str, Any]:
    return {"tracer_provider": trace.NoOpTracerProvider()}


def test_a_refused_decision_is_audited_as_a_recording_client_audits_it(
    secured_client: Make,
    bedrock: EmbeddedBedrock,
    audit: Callable[[], list[logging.LogRecord]],
) -> None:
    otel = make_otel()
    for kwargs in (NOOP, otel.kwargs()):
        with pytest.raises(PolicyViolation, match="region"):
            secured_client(EU_ONLY, **kwargs).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests == []
    quiet, full = audit()
    assert quiet.levelno == full.levelno == logging.WARNING
    assert _fields(quiet) == _fields(full)
    assert _fields(quiet)["rules"] == ["region.not_allowed"]


def test_a_refusal_after_a_clean_decision_carries_the_decision_facts(
    secured_client: Make,
    bedrock: EmbeddedBedrock,
    audit: Callable[[], list[logging.LogRecord]],
) -> None:
    """A bearer header added after the decision is refused by the before-send check:
    the quiet record replays the clean decision, so its audit record names the model
    and the guardrail the decision attached, like a recording client's."""

    def add_bearer(request: Any, **_: Any) -> None:
        request.headers["Authorization"] = "Bearer key"

    otel = make_otel()
    for kwargs in (NOOP, otel.kwargs()):
        client = secured_client(NO_KEYS, retry=FAST_RETRY, **kwargs)
        client.meta.events.register_last("before-send.bedrock-runtime", add_bearer)
        with pytest.raises(PolicyViolation) as raised:
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
        assert raised.value.rule == "auth.api_key"
    assert bedrock.requests == []
    quiet, full = audit()
    assert _fields(quiet) == _fields(full)
    assert _fields(quiet)["stage"] in ("before-send", "wire")
    assert _fields(quiet)["guardrail_id"] == GUARDRAIL.identifier
    assert _fields(quiet)["model_requested"] == MODEL_ID


def test_a_quiet_stream_is_still_wrapped_and_ends(secured_client: Make) -> None:
    client = secured_client(**NOOP)
    response = client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)
    stream = response["stream"]
    assert isinstance(stream, T.SecuredEventStream)
    events = list(stream)
    assert "metadata" in events[-1]


class _StartAttributes(SpanProcessor):
    """What a span carries when it starts (what samplers and ``on_start`` see)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.seen.append(dict(span.attributes or {}))

    def on_end(self, span: ReadableSpan) -> None:
        pass


def test_client_constant_attributes_are_passed_at_span_start(
    secured_client: Make, bedrock: EmbeddedBedrock
) -> None:
    otel = make_otel()
    starts = _StartAttributes()
    otel.tracer_provider.add_span_processor(starts)
    client = secured_client(**otel.kwargs())
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    (started,) = starts.seen
    digest = securebedrock.Policy.default().digest
    assert started[T.ATTR_POLICY_DIGEST] == otel.only_span().attributes[T.ATTR_POLICY_DIGEST]
    assert isinstance(digest, str)
    assert started["server.port"] == bedrock.port
    assert started[T.ATTR_OPERATION] == "Converse"
    # The response facts are set once, at the end, and all of them arrive.
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes[T.ATTR_ATTEMPTS] == 1
    assert attributes[T.ATTR_TLS_VERSION] in ("TLSv1.2", "TLSv1.3")


_GLOBAL_PROVIDERS_SCRIPT = """
import logging
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from securebedrock import _telemetry as T

logging.getLogger("securebedrock.audit").setLevel(logging.WARNING)
kwargs = dict(mode="enforce", policy_digest=None, region="r", server_address="h", server_port=1)
telemetry = T.Telemetry(**kwargs)  # the API's global proxies: no SDK yet
assert isinstance(telemetry.start("Converse", {}), T.QuietRecord)

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
record = telemetry.start("Converse", {})
assert not isinstance(record, T.QuietRecord), "a global meter provider set later records"
record.end()
assert reader.get_metrics_data() is not None

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
record = telemetry.start("Converse", {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"})
assert not isinstance(record, T.QuietRecord)
record.end()
assert [s.name for s in exporter.get_finished_spans()] == [
    "chat anthropic.claude-3-haiku-20240307-v1:0"
]
print("ok")
"""


def test_global_providers_installed_later_are_recorded_at_once() -> None:
    """The API's global proxies record nothing until an SDK provider is installed; a
    client built before that must start recording as soon as it is (own process: the
    global providers can be set only once)."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _GLOBAL_PROVIDERS_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
