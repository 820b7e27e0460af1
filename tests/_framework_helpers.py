"""Shared set-up for the framework tests: the environment a framework-built client
reads, the mandating policy, and what the server and the spans must show.

Frameworks that build their own client find the embedded endpoint the way they would
find a real one: through the standard AWS environment variables (endpoint, CA bundle,
credentials, region). Nothing reaches beyond loopback.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from _telemetry_helpers import Otel
from conftest import GUARDRAIL, MODEL_ID

from securebedrock import _telemetry as T
from securebedrock._policy import GuardrailPolicy, ModelsPolicy, Policy
from securebedrock.testing import EmbeddedBedrock, RecordedRequest

#: A model the mandating policy denies (the embedded endpoint would answer it).
DENIED_MODEL = "amazon.titan-text-express-v1"
ALLOWED_MODEL = MODEL_ID
GUARDED = GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version)


def mandating(server: EmbeddedBedrock) -> Policy:
    """A mandated guardrail and a denied model, pinned to ``server``."""
    return server.pin(Policy(guardrail=GUARDED, models=ModelsPolicy(deny=(DENIED_MODEL,))))


def use_environment(
    server: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Point clients that frameworks build themselves at ``server``, under an org policy
    file that pins ``server`` and mandates the guardrail and the model deny-list (only the
    org layer may pin a loopback endpoint)."""
    write_org_policy(tmp_path, mandating(server), monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.endpoint_url)
    monkeypatch.setenv("AWS_CA_BUNDLE", server.ca_bundle)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", server.region)
    monkeypatch.setenv("AWS_REGION", server.region)


def write_org_policy(tmp_path: Path, policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "org-policy.toml"
    path.write_text(policy.to_toml())
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))


def guardrail_of(request: RecordedRequest) -> str | None:
    config = (request.json or {}).get("guardrailConfig") or {}
    value = config.get("guardrailIdentifier")
    return str(value) if value is not None else None


def assert_guarded(server: EmbeddedBedrock, *, inference_requests: int | None = None) -> None:
    """Every inference request the server received carried the mandated guardrail,
    and none was for the denied model."""
    inference = [r for r in server.requests if r.operation.startswith("Converse")]
    assert inference, "the framework sent no inference request"
    if inference_requests is not None:
        assert len(inference) == inference_requests
    for request in inference:
        assert guardrail_of(request) == GUARDRAIL.identifier, request.operation
        assert request.model_id != DENIED_MODEL


def assert_denied_span(otel: Otel) -> None:
    """The span of the refused call says deny, with the model rule."""
    denied = [s for s in otel.spans() if (s.attributes or {}).get(T.ATTR_DECISION) == "deny"]
    assert len(denied) == 1
    attributes = denied[0].attributes or {}
    assert "model.not_allowed" in tuple(attributes[T.ATTR_RULES])  # type: ignore[arg-type]
    allowed = [s for s in otel.spans() if (s.attributes or {}).get(T.ATTR_DECISION) == "allow"]
    assert allowed, "no span for the allowed call"


def assert_unguarded(server: EmbeddedBedrock) -> None:
    """The server answered the denied model, without a guardrail: unsecured."""
    inference = [r for r in server.requests if r.operation.startswith("Converse")]
    assert inference and all(guardrail_of(r) is None for r in inference)
    assert any(r.model_id == DENIED_MODEL for r in inference)


@contextmanager
def no_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Frameworks' own deprecation noise is not what these tests are about.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        yield


def kwargs_of(otel: Otel, **extra: Any) -> dict[str, Any]:
    return {**otel.kwargs(), **extra}
