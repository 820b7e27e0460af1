"""llama-index (``llama-index-llms-bedrock-converse``, sync methods) against the embedded endpoint.

Its async methods switch to an aioboto3 client of their own when aioboto3 is installed:
that path is not covered by the sync client or by ``install()`` (docs/frameworks.md).
"""

from __future__ import annotations

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

bedrock_converse = pytest.importorskip("llama_index.llms.bedrock_converse")
from llama_index.core.llms import ChatMessage  # noqa: E402

BedrockConverse = bedrock_converse.BedrockConverse
HELLO = [ChatMessage(role="user", content="hello")]


@pytest.fixture(autouse=True)
def _environment(bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_environment(bedrock, monkeypatch, tmp_path)


@pytest.fixture
def otel() -> Otel:
    return make_otel()


def _exercise(llm: object, denied: object) -> None:
    assert str(llm.chat(HELLO))  # type: ignore[attr-defined]
    assert llm.complete("hello").text  # type: ignore[attr-defined]
    assert [r.delta for r in llm.stream_chat(HELLO)]  # type: ignore[attr-defined]
    with pytest.raises(securebedrock.PolicyViolation):
        denied.chat(HELLO)  # type: ignore[attr-defined]


def test_a_secured_client_handed_to_llama_index(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    client = securebedrock.client(**bedrock.client_kwargs(), retry=FAST_RETRY, **otel.kwargs())
    _exercise(
        BedrockConverse(model=ALLOWED_MODEL, client=client, max_retries=1),
        BedrockConverse(model=DENIED_MODEL, client=client, max_retries=1),
    )
    assert_guarded(bedrock, inference_requests=3)
    assert_denied_span(otel)


def test_llama_index_building_its_own_client_is_secured_after_install(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    with no_warnings():
        _exercise(
            BedrockConverse(model=ALLOWED_MODEL, region_name=bedrock.region),
            BedrockConverse(model=DENIED_MODEL, region_name=bedrock.region),
        )
    assert_guarded(bedrock, inference_requests=3)
    assert_denied_span(otel)


def test_llama_index_building_its_own_client_without_install_is_unsecured_and_warned(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_org_policy(tmp_path, mandating(bedrock), monkeypatch)
    llm = BedrockConverse(model=DENIED_MODEL, region_name=bedrock.region)
    with pytest.warns(securebedrock.UnsecuredClientWarning):
        llm.chat(HELLO)
    assert_unguarded(bedrock)


def test_llama_index_does_not_retry_a_refusal(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    with pytest.raises(securebedrock.PolicyViolation):
        BedrockConverse(model=DENIED_MODEL, region_name=bedrock.region, max_retries=5).chat(HELLO)
    assert len(otel.spans()) == 1
    assert bedrock.requests == []


def test_throttling_with_max_retries_1_is_our_layer_alone(bedrock: EmbeddedBedrock) -> None:
    # max_retries=1: llama-index's own tenacity loop makes one attempt, and the client's
    # Config(retries={"max_attempts": 1}) would give ours 2; install(retry=...) wins: 4.
    securebedrock.install(retry=FAST_RETRY)
    bedrock.faults.throttle(100)
    llm = BedrockConverse(model=ALLOWED_MODEL, region_name=bedrock.region, max_retries=1)
    with pytest.raises(Exception, match="Throttling"):
        llm.chat(HELLO)
    assert len(bedrock.requests) == 4


def test_throttling_with_max_retries_1_and_no_retry_given(bedrock: EmbeddedBedrock) -> None:
    # Without install(retry=...), the client's own Config bounds ours: llama-index turns
    # max_retries=1 into botocore's max_attempts=1, i.e. 2 attempts.
    securebedrock.install()
    bedrock.faults.throttle(100)
    llm = BedrockConverse(model=ALLOWED_MODEL, region_name=bedrock.region, max_retries=1)
    with pytest.raises(Exception, match="Throttling"):
        llm.chat(HELLO)
    assert len(bedrock.requests) == 2
