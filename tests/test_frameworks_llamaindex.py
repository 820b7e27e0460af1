"""llama-index (``llama-index-llms-bedrock-converse``) against the embedded endpoint.

Sync methods use the boto3 client (``client=`` or one it builds). Async methods use
the sync client in a worker thread, unless aioboto3 is installed: then they use
``async_client=``, or an aioboto3 client of their own, which ``install()`` secures
through its aiobotocore hook (docs/frameworks.md). ``nox -s llamaindex`` installs
aioboto3 and sets ``SECUREBEDROCK_REQUIRE_AIOBOTO3=1``, so those tests cannot skip there.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

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


def _aioboto3() -> Any:
    """aioboto3, or a skip (a failure where the llamaindex nox session requires it)."""
    if os.environ.get("SECUREBEDROCK_REQUIRE_AIOBOTO3") == "1":
        import aioboto3

        import securebedrock.aio  # noqa: F401 - the hook that warns about unsecured clients

        return aioboto3
    module = pytest.importorskip("aioboto3")
    pytest.importorskip("securebedrock.aio")
    return module


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


# --- async methods -------------------------------------------------------------------------


async def _exercise_async(llm: Any, denied: Any) -> None:
    assert str(await llm.achat(HELLO))
    assert (await llm.acomplete("hello")).text
    assert [r.delta async for r in await llm.astream_chat(HELLO)]
    with pytest.raises(securebedrock.PolicyViolation):
        await denied.achat(HELLO)


def _uses_aioboto3(llm: Any) -> bool:
    return bool(bedrock_converse.utils.HAS_AIOBOTO3) and llm._asession is not None


def test_async_methods_with_aioboto3_are_secured_after_install(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    _aioboto3()
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    allowed = BedrockConverse(model=ALLOWED_MODEL, region_name=bedrock.region, max_retries=1)
    denied = BedrockConverse(model=DENIED_MODEL, region_name=bedrock.region, max_retries=1)
    assert _uses_aioboto3(allowed)
    with no_warnings():
        asyncio.run(_exercise_async(allowed, denied))
    assert_guarded(bedrock, inference_requests=3)
    assert_denied_span(otel)


def test_async_methods_with_aioboto3_and_a_secured_async_client(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    _aioboto3()
    import securebedrock.aio

    async def main() -> None:
        kwargs = {**bedrock.client_kwargs(), "retry": FAST_RETRY, **otel.kwargs()}
        async with securebedrock.aio.client(**kwargs) as async_client:
            sync_client = securebedrock.client(**kwargs)
            allowed = BedrockConverse(
                model=ALLOWED_MODEL, client=sync_client, async_client=async_client, max_retries=1
            )
            denied = BedrockConverse(
                model=DENIED_MODEL, client=sync_client, async_client=async_client, max_retries=1
            )
            assert _uses_aioboto3(allowed)
            await _exercise_async(allowed, denied)

    asyncio.run(main())
    assert_guarded(bedrock, inference_requests=3)
    assert_denied_span(otel)


def test_async_methods_with_aioboto3_without_install_are_unsecured_and_warned(
    bedrock: EmbeddedBedrock,
) -> None:
    _aioboto3()
    llm = BedrockConverse(model=DENIED_MODEL, region_name=bedrock.region, max_retries=1)
    assert _uses_aioboto3(llm)
    with pytest.warns(securebedrock.UnsecuredClientWarning):
        asyncio.run(llm.achat(HELLO))
    assert_unguarded(bedrock)


def test_async_methods_without_aioboto3_use_the_secured_sync_client(
    bedrock: EmbeddedBedrock, otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without aioboto3 llama-index runs the sync client in a worker thread.
    monkeypatch.setattr(bedrock_converse.utils, "HAS_AIOBOTO3", False)
    monkeypatch.setattr(bedrock_converse.base, "HAS_AIOBOTO3", False)
    client = securebedrock.client(**bedrock.client_kwargs(), retry=FAST_RETRY, **otel.kwargs())
    allowed = BedrockConverse(model=ALLOWED_MODEL, client=client, max_retries=1)
    denied = BedrockConverse(model=DENIED_MODEL, client=client, max_retries=1)
    asyncio.run(_exercise_async(allowed, denied))
    assert_guarded(bedrock, inference_requests=3)
    assert_denied_span(otel)
