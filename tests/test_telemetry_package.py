"""The telemetry package's shape: its rooms stay small, it imports nothing above it,
and connection facts reach the span through the provider its builder passes in."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _telemetry_helpers import make_otel
from botocore.client import BaseClient
from conftest import MODEL_ID

from securebedrock import _telemetry as T

PACKAGE = Path(T.__file__).resolve().parent

#: Modules above telemetry, and the package root (which imports everything).
_UPWARD = {
    "securebedrock",
    "securebedrock.__version__",
    "securebedrock._transport",
    "securebedrock._transport_session",
    "securebedrock._adapter",
    "securebedrock._client",
    "securebedrock._wire",
    "securebedrock._httpx",
    "securebedrock._httpx_core",
    "securebedrock.aio",
}


def _imports(path: Path) -> set[str]:
    """Absolute names of what ``path`` imports, function-level imports included
    (``from .. import _digest`` is ``securebedrock._digest``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = "securebedrock._telemetry".split(".")[: 3 - node.level]
                module = ".".join([*parts, node.module] if node.module else parts)
            else:
                module = node.module or ""
            if module != "securebedrock":
                found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_telemetry_imports_nothing_above_it(path: Path) -> None:
    imported = _imports(path)
    assert "securebedrock._operations" in _imports(PACKAGE / "spans.py")  # the parser works
    upward = sorted(name for name in imported if name in _UPWARD)
    assert not upward, f"{path.name} imports {upward}"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_telemetry_modules_stay_small(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= 520, f"{path.name} has {lines} lines"


class _Facts:
    """A connection-facts provider that counts how telemetry uses it."""

    def __init__(self, info: Any) -> None:
        self.info = info
        self.reads = 0
        self.forgets = 0

    def last(self) -> Any:
        self.reads += 1
        return self.info

    def forget(self) -> None:
        self.forgets += 1


class _Info:
    tls_version = "TLSv1.3"
    address_class = "private"
    violations = ("network.private_endpoint",)


def test_connection_facts_come_from_the_provider_passed_in() -> None:
    otel = make_otel()
    facts = _Facts(_Info())
    telemetry = T.Telemetry(
        mode="log_only",
        policy_digest=None,
        region="us-east-1",
        server_address="bedrock-runtime.us-east-1.amazonaws.com",
        server_port=443,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        connection=T.ConnectionFacts(last=facts.last, forget=facts.forget),
    )
    record = telemetry.start("Converse", {"modelId": MODEL_ID})
    record.attempt_started(1)
    record.attempt(1, None, None)
    record.end()
    assert (facts.forgets, facts.reads) == (1, 1)
    span = otel.only_span()
    attributes = dict(span.attributes or {})
    assert attributes[T.ATTR_TLS_VERSION] == "TLSv1.3"
    assert attributes[T.ATTR_PEER_ADDRESS_CLASS] == "private"
    # A rule the provider says the connection broke (log_only) is audited on the span.
    assert attributes[T.ATTR_RULES] == ("network.private_endpoint",)
    assert [e.attributes[T.ATTR_STAGE] for e in span.events if e.name == T.EVENT_VIOLATION] == [
        "transport"
    ]


def test_without_a_provider_attempts_report_no_connection() -> None:
    otel = make_otel()
    telemetry = T.Telemetry(
        mode="enforce",
        policy_digest=None,
        region="us-east-1",
        server_address="h",
        server_port=443,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
    )
    record = telemetry.start("Converse", {"modelId": MODEL_ID})
    record.attempt_started(1)
    record.attempt(1, None, None)
    record.end()
    attributes = dict(otel.only_span().attributes or {})
    assert attributes[T.ATTR_ATTEMPTS] == 1
    assert T.ATTR_TLS_VERSION not in attributes


def test_a_secured_client_reports_the_connection_it_used(
    secured_client: Callable[..., BaseClient],
) -> None:
    otel = make_otel()
    client = secured_client(**otel.kwargs())
    client.converse(modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    attributes = dict(otel.only_span().attributes or {})
    assert attributes[T.ATTR_TLS_VERSION] in ("TLSv1.2", "TLSv1.3")
    assert attributes[T.ATTR_PEER_ADDRESS_CLASS] == "loopback"
