"""``securebedrock demo``: a short tour on an embedded endpoint, offline, in a few seconds.

No AWS account and no network beyond loopback: the embedded Bedrock endpoint
(``securebedrock.testing``) plays Bedrock, a temporary org policy file plays
the platform team's, and the audit spans are collected in memory (when the
OpenTelemetry SDK is installed) and printed at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._constants import AUDIT_LOGGER_NAME, ENV_MODE, ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY
from ._errors import PolicyViolation

__all__ = ["run_demo"]

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
CROSS_REGION_MODEL_ID = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
GUARDRAIL_ID = "demo0guard01"
BLOCKED_WORD = "password"

_POLICY = """\
version = 1
mode = "{mode}"

[tls]
minimum_version = "1.3"

[network]
require_private_endpoint = true
allowed_cidrs = ["127.0.0.0/8"]          # loopback stands in for your VPC endpoint
endpoint_url = "{endpoint_url}"

[guardrail]                              # attached to every inference call
identifier = "{guardrail}"
version = "1"

[regions]
allowed = ["us-east-1"]
cross_region = false                     # us./eu./global. profiles are refused
"""

_SPAN_ATTRIBUTES = (
    ("decision", "securebedrock.decision"),
    ("rules", "securebedrock.rules"),
    ("guardrail", "aws.bedrock.guardrail.id"),
    ("tls", "securebedrock.tls.version"),
    ("peer", "securebedrock.peer.address_class"),
    ("finish", "gen_ai.response.finish_reasons"),
    ("tokens in/out", ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")),
    ("error", "error.type"),
)


class _Printer:
    def __init__(self, out: TextIO, colour: bool) -> None:
        self.out = out
        self.colour = colour

    def _style(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def heading(self, number: int, text: str) -> None:
        self.out.write("\n" + self._style("1", f"{number}. {text}") + "\n")

    def line(self, text: str = "", indent: int = 3) -> None:
        self.out.write(f"{' ' * indent}{text}\n" if text else "\n")

    def ok(self, text: str) -> None:
        self.line(self._style("32", "✓ ") + text)

    def refused(self, text: str) -> None:
        self.line(self._style("31", "✗ ") + text)

    def block(self, text: str, indent: int = 6) -> None:
        for row in text.rstrip("\n").splitlines():
            self.line(self._style("2", row), indent)


@contextlib.contextmanager
def _org_policy(path: Path) -> Iterator[None]:
    """Make ``path`` this process's org policy file for the demo, then restore the environment."""
    names = (ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY, ENV_MODE, "NO_PROXY", "no_proxy")
    saved = {name: os.environ.get(name) for name in names}
    try:
        os.environ[ENV_POLICY_FILE] = str(path)
        # The demo's policy forbids proxies; its endpoint is loopback, so bypass any.
        for name in ("NO_PROXY", "no_proxy"):
            current = saved[name]
            os.environ[name] = f"{current},127.0.0.1" if current else "127.0.0.1"
        # The demo's file is unsigned and its mode is the point of the tour.
        os.environ.pop(ENV_POLICY_PUBLIC_KEY, None)
        os.environ.pop(ENV_MODE, None)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _SpanCollector:
    """In-memory spans via the OpenTelemetry SDK, when it is installed."""

    def __init__(self) -> None:
        self.exporter: Any = None
        self.provider: Any = None
        self.missing: str | None = None
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )
        except ImportError:
            self.missing = "opentelemetry-sdk is not installed"
            return
        self.exporter = InMemorySpanExporter()
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            # The host application (or a test) already has an SDK provider: add to it.
            current.add_span_processor(SimpleSpanProcessor(self.exporter))
        else:
            self.provider = TracerProvider()
            self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
            trace.set_tracer_provider(self.provider)
            if trace.get_tracer_provider() is not self.provider:
                self.missing = "another OpenTelemetry tracer provider is already installed"

    def spans(self) -> Sequence[Any]:
        return tuple(self.exporter.get_finished_spans()) if self.exporter is not None else ()


def _ask(client: Any, model_id: str, text: str) -> Mapping[str, Any]:
    response: Mapping[str, Any] = client.converse(
        modelId=model_id,
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig={"maxTokens": 128},
    )
    return response


def _answer_text(response: Mapping[str, Any]) -> str:
    content = response["output"]["message"]["content"]
    return " ".join(str(block.get("text", "")) for block in content).strip()


def _format_attribute(attributes: Mapping[str, Any], key: str | tuple[str, ...]) -> str | None:
    if isinstance(key, tuple):
        values = [attributes.get(part) for part in key]
        return "/".join(str(v) for v in values) if all(v is not None for v in values) else None
    value = attributes.get(key)
    if value is None:
        return None
    if isinstance(value, tuple | list):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)


def _print_spans(printer: _Printer, spans: Sequence[Any]) -> None:
    for span in spans:
        attributes = dict(span.attributes or {})
        duration_ms = (span.end_time - span.start_time) / 1e6 if span.end_time else 0.0
        printer.line(f"• {span.name}  ({duration_ms:.0f} ms)")
        facts = []
        for label, key in _SPAN_ATTRIBUTES:
            shown = _format_attribute(attributes, key)
            if shown is not None:
                facts.append(f"{label}={shown}")
        printer.line("  " + "  ".join(facts), indent=5)


def run_demo(out: TextIO, *, colour: bool = False) -> int:
    """Run the tour, writing to ``out``: 0, or 1 when a step did not behave as shown."""

    printer = _Printer(out, colour)
    collector = _SpanCollector()
    # The audit log's records are collected (shown when there are no spans), not printed.
    audit = logging.getLogger(AUDIT_LOGGER_NAME)
    records = _AuditRecords()
    level = audit.level
    audit.addHandler(records)
    audit.setLevel(logging.INFO)
    try:
        return _tour(printer, collector, records)
    finally:
        audit.removeHandler(records)
        audit.setLevel(level)
        if collector.provider is not None:
            collector.provider.shutdown()


class _AuditRecords(logging.Handler):
    """The structured ``securebedrock.audit`` records (content-free) of the tour."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.fields: list[Mapping[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "securebedrock", None)
        if isinstance(fields, Mapping):
            self.fields.append(fields)


def _print_records(printer: _Printer, records: _AuditRecords) -> None:
    for fields in records.fields:
        rules = ", ".join(fields.get("rules") or ()) or "-"
        printer.line(f"• {fields.get('operation')} {fields.get('model_requested')}")
        printer.line(
            f"  decision={fields.get('decision')}  rules={rules}  "
            f"guardrail={fields.get('guardrail_id') or '-'}",
            indent=5,
        )


def _tour(printer: _Printer, collector: _SpanCollector, records: _AuditRecords) -> int:
    from . import client as secured_client
    from .testing import EmbeddedBedrock, GuardrailSpec

    unexpected: list[str] = []
    guardrail = GuardrailSpec(identifier=GUARDRAIL_ID, version="1", blocked_words=(BLOCKED_WORD,))
    with EmbeddedBedrock(guardrails=[guardrail]) as server, tempfile.TemporaryDirectory() as tmp:
        printer.line(
            "securebedrock demo: an embedded Bedrock endpoint on " + server.endpoint_url, 0
        )
        printer.line("(real HTTPS on loopback with a throwaway CA; no AWS account, no network)", 0)

        enforce_file = Path(tmp) / "policy.toml"
        policy_text = _POLICY.format(
            mode="enforce", endpoint_url=server.endpoint_url, guardrail=GUARDRAIL_ID
        )
        enforce_file.write_text(policy_text)
        log_only_file = Path(tmp) / "policy-log-only.toml"
        log_only_file.write_text(
            _POLICY.format(
                mode="log_only", endpoint_url=server.endpoint_url, guardrail=GUARDRAIL_ID
            )
        )

        printer.heading(1, "The org policy (what a platform team ships to every host)")
        printer.block(policy_text)

        with _org_policy(enforce_file):
            # The application's code: nothing about guardrails, regions or TLS in it.
            client: Any = secured_client(**server.client_kwargs())

            printer.heading(2, "A compliant Converse call")
            response = _ask(client, MODEL_ID, "What is the capital of France?")
            printer.ok(f"answer: {_answer_text(response)!r}")
            sent = server.requests[-1]
            config = sent.json.get("guardrailConfig") or {}
            if config.get("guardrailIdentifier") != GUARDRAIL_ID:
                unexpected.append("the mandated guardrail was not attached")
            printer.ok(
                f"the server received guardrail {config.get('guardrailIdentifier')} version "
                f"{config.get('guardrailVersion')} over {sent.tls_version}: securebedrock "
                "attached it (the code did not)"
            )

            printer.heading(3, f"The guardrail intervenes on a blocked word ({BLOCKED_WORD!r})")
            response = _ask(client, MODEL_ID, f"Tell me the admin {BLOCKED_WORD}.")
            printer.ok(f"stopReason={response['stopReason']}: {_answer_text(response)!r}")

            printer.heading(4, "A streamed call (ConverseStream)")
            stream = client.converse_stream(
                modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "Hello!"}]}]
            )
            pieces = []
            for event in stream["stream"]:
                delta = event.get("contentBlockDelta", {}).get("delta", {})
                if "text" in delta:
                    pieces.append(delta["text"])
            printer.ok(f"{len(pieces)} text deltas: {''.join(pieces)!r}")

            printer.heading(5, f"A cross-region profile is refused ({CROSS_REGION_MODEL_ID})")
            before = len(server.requests)
            try:
                _ask(client, CROSS_REGION_MODEL_ID, "Hello from another region?")
            except PolicyViolation as refused:
                printer.refused(f"PolicyViolation, rule {refused.rule}:")
                printer.block(refused.diagnostics())
            else:
                unexpected.append("the cross-region call was not refused")
            if len(server.requests) == before:
                printer.ok("the server received nothing: refused before a byte was sent")
            else:
                printer.refused("the server received the call (unexpected)")
                unexpected.append("the server received a refused call")

        with _org_policy(log_only_file):
            printer.heading(6, 'The same call in log-only mode (mode = "log_only")')
            rollout_client = secured_client(**server.client_kwargs())
            response = _ask(rollout_client, CROSS_REGION_MODEL_ID, "Hello from another region?")
            printer.ok(
                f"sent anyway (stopReason={response['stopReason']}); the violation is "
                "recorded on the audit span below"
            )

        printer.heading(7, "The audit spans (one per call; never any prompt or completion)")
        if collector.missing is not None:
            printer.line(f"({collector.missing}: pip install 'securebedrock[otel]' to see")
            printer.line(" the spans; meanwhile, here are the audit log's records)")
            _print_records(printer, records)
        else:
            _print_spans(printer, collector.spans())

        printer.line()
        printer.line(
            "Next: securebedrock doctor (check this host), securebedrock policy export "
            "--format scp (the server-side twin). Docs: docs/quickstart.md",
            0,
        )
    if unexpected:
        # The tour doubles as a self-check of an installation: say what went wrong.
        printer.line()
        printer.line("The tour did not go as expected: " + "; ".join(unexpected), 0)
        return 1
    return 0
