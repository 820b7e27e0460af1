"""strands-agents (``BedrockModel``) against the embedded endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _framework_helpers import (
    ALLOWED_MODEL,
    DENIED_MODEL,
    assert_denied_span,
    assert_guarded,
    assert_unguarded,
    mandating,
    no_warnings,
    use_environment,
    write_org_policy,
)
from _telemetry_helpers import FAST_RETRY, Otel, make_otel

import securebedrock
from securebedrock import _adapter
from securebedrock.testing import EmbeddedBedrock

strands = pytest.importorskip("strands")
from strands.agent.agent import ModelRetryStrategy  # noqa: E402
from strands.models import BedrockModel  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _undo_strands_threading_instrumentation() -> Iterator[None]:
    """A strands ``Agent`` instruments ``threading`` process-wide (OpenTelemetry's
    ``ThreadingInstrumentor``); undo it for the other test modules this worker runs."""
    yield
    from opentelemetry.instrumentation.threading import ThreadingInstrumentor

    ThreadingInstrumentor().uninstrument()


@pytest.fixture(autouse=True)
def _environment(bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_environment(bedrock, monkeypatch, tmp_path)


@pytest.fixture
def otel() -> Otel:
    return make_otel()


def _agent(model: BedrockModel, **kwargs: object) -> strands.Agent:
    return strands.Agent(model=model, callback_handler=None, **kwargs)  # type: ignore[arg-type]


def test_a_secured_session_handed_to_strands(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    session = securebedrock.Session(region_name=bedrock.region, retry=FAST_RETRY, **otel.kwargs())
    assert str(_agent(BedrockModel(model_id=ALLOWED_MODEL, boto_session=session))("hello"))
    with pytest.raises(securebedrock.PolicyViolation):
        _agent(BedrockModel(model_id=DENIED_MODEL, boto_session=session))("hello")
    assert_guarded(bedrock, inference_requests=1)
    assert_denied_span(otel)


def test_strands_building_its_own_client_is_secured_after_install(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    with no_warnings():
        model = BedrockModel(model_id=ALLOWED_MODEL)
        assert _adapter.installed_policy(model.client) is not None
        assert str(_agent(model)("hello"))
        with pytest.raises(securebedrock.PolicyViolation):
            _agent(BedrockModel(model_id=DENIED_MODEL))("hello")
    assert_guarded(bedrock, inference_requests=1)
    assert_denied_span(otel)


def test_strands_building_its_own_client_without_install_is_unsecured_and_warned(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_org_policy(tmp_path, mandating(bedrock), monkeypatch)
    model = BedrockModel(model_id=DENIED_MODEL)
    with pytest.warns(securebedrock.UnsecuredClientWarning):
        _agent(model)("hello")
    assert_unguarded(bedrock)


def test_strands_does_not_retry_a_refusal(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    retrying = ModelRetryStrategy(max_attempts=3, initial_delay=0, max_delay=0)
    with pytest.raises(securebedrock.PolicyViolation):
        _agent(BedrockModel(model_id=DENIED_MODEL), retry_strategy=retrying)("hello")
    assert len(otel.spans()) == 1
    assert bedrock.requests == []


@pytest.mark.parametrize(
    ("strategy", "expected_requests"),
    [
        (None, 4),  # retries off in strands: ours alone, 4 attempts
        (ModelRetryStrategy(max_attempts=2, initial_delay=0, max_delay=0), 2 * 4),
    ],
    ids=["strands retries off", "strands 2 attempts x ours 4"],
)
def test_throttling_requests_multiply_across_retry_layers_as_documented(
    strategy: ModelRetryStrategy | None, expected_requests: int, bedrock: EmbeddedBedrock
) -> None:
    securebedrock.install(retry=FAST_RETRY)
    bedrock.faults.throttle(100)
    with pytest.raises(Exception, match="(?i)throttl"):
        _agent(BedrockModel(model_id=ALLOWED_MODEL), retry_strategy=strategy)("hello")
    assert len(bedrock.requests) == expected_requests
