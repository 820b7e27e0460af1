"""pydantic-ai (``BedrockConverseModel``) against the embedded endpoint."""

from __future__ import annotations

import asyncio
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
from securebedrock.testing import EmbeddedBedrock

pydantic_ai = pytest.importorskip("pydantic_ai")
from pydantic_ai.exceptions import ModelAPIError  # noqa: E402
from pydantic_ai.models.bedrock import BedrockConverseModel  # noqa: E402
from pydantic_ai.models.fallback import FallbackModel  # noqa: E402
from pydantic_ai.providers.bedrock import BedrockProvider  # noqa: E402


@pytest.fixture(autouse=True)
def _environment(bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_environment(bedrock, monkeypatch, tmp_path)


@pytest.fixture
def otel() -> Otel:
    return make_otel()


def _run(agent: pydantic_ai.Agent[None, str]) -> str:
    """``agent.run`` under ``asyncio.run`` (``run_sync`` leaves its event loop open)."""
    return asyncio.run(agent.run("hello")).output


def _exercise(model: BedrockConverseModel, denied: BedrockConverseModel) -> None:
    assert _run(pydantic_ai.Agent(model))

    async def streamed() -> str:
        async with pydantic_ai.Agent(model).run_stream("hello") as run:
            return await run.get_output()

    assert asyncio.run(streamed())
    with pytest.raises(securebedrock.PolicyViolation):
        _run(pydantic_ai.Agent(denied))


def test_a_secured_client_handed_to_pydantic_ai(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    client = securebedrock.client(**bedrock.client_kwargs(), retry=FAST_RETRY, **otel.kwargs())
    provider = BedrockProvider(bedrock_client=client)
    _exercise(
        BedrockConverseModel(ALLOWED_MODEL, provider=provider),
        BedrockConverseModel(DENIED_MODEL, provider=provider),
    )
    assert_guarded(bedrock, inference_requests=2)
    assert_denied_span(otel)


def test_pydantic_ai_building_its_own_client_is_secured_after_install(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    with no_warnings():
        _exercise(BedrockConverseModel(ALLOWED_MODEL), BedrockConverseModel(DENIED_MODEL))
    assert_guarded(bedrock, inference_requests=2)
    assert_denied_span(otel)


def test_pydantic_ai_building_its_own_client_without_install_is_unsecured_and_warned(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_org_policy(tmp_path, mandating(bedrock), monkeypatch)
    with pytest.warns(securebedrock.UnsecuredClientWarning):
        _run(pydantic_ai.Agent(BedrockConverseModel(DENIED_MODEL)))
    assert_unguarded(bedrock)


def test_fallback_model_does_not_fall_back_on_a_refusal_by_default(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    fallback = FallbackModel(
        BedrockConverseModel(DENIED_MODEL), BedrockConverseModel(ALLOWED_MODEL)
    )
    with pytest.raises(securebedrock.PolicyViolation):
        _run(pydantic_ai.Agent(fallback))
    assert bedrock.requests == []
    assert len(otel.spans()) == 1


def test_fallback_on_a_refusal_when_asked_and_the_fallback_is_still_guarded(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    fallback = FallbackModel(
        BedrockConverseModel(DENIED_MODEL),
        BedrockConverseModel(ALLOWED_MODEL),
        fallback_on=(ModelAPIError, securebedrock.PolicyViolation),
    )
    assert _run(pydantic_ai.Agent(fallback))
    assert_guarded(bedrock, inference_requests=1)
    assert_denied_span(otel)


def test_throttling_is_retried_by_our_layer_alone(bedrock: EmbeddedBedrock) -> None:
    # pydantic-ai has no retry loop of its own for model errors: ours, 4 attempts.
    securebedrock.install(retry=FAST_RETRY)
    bedrock.faults.throttle(100)
    with pytest.raises(ModelAPIError):
        _run(pydantic_ai.Agent(BedrockConverseModel(ALLOWED_MODEL)))
    assert len(bedrock.requests) == 4
