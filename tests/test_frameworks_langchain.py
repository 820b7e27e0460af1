"""LangChain (``langchain-aws`` ``ChatBedrockConverse``) against the embedded endpoint.

Its async methods (``ainvoke``, ``astream``) run the sync boto3 client in an executor,
so the secured sync client covers them too.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import boto3.session
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

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("langchain_aws") is None, reason="langchain-aws is not installed"
)


@pytest.fixture(scope="module")
def chat_model() -> Iterator[Any]:
    """``ChatBedrockConverse``. Importing langchain-aws replaces ``boto3.client`` and
    ``boto3.Session.client`` (to add its user agent): import it here, not at collection,
    and put boto3 back for the other test modules this worker runs."""
    saved = boto3.client, boto3.session.Session.client
    module = importlib.import_module("langchain_aws")
    yield module.ChatBedrockConverse
    boto3.client, boto3.session.Session.client = saved  # type: ignore[method-assign]


def retry_unless_refused(exc: BaseException) -> bool:
    """The predicate docs/frameworks.md shows: retry anything but a refusal."""
    return not isinstance(exc, securebedrock.NON_RETRYABLE_ERRORS)


@pytest.fixture(autouse=True)
def _environment(bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_environment(bedrock, monkeypatch, tmp_path)


@pytest.fixture
def otel() -> Otel:
    return make_otel()


def _exercise(make: Callable[[str], Any]) -> None:
    """Sync and async, plain and streamed, then a denied model."""
    model = make(ALLOWED_MODEL)
    assert model.invoke("hello").content
    assert any(chunk.content for chunk in model.stream("hello"))

    async def run_async() -> None:
        assert (await model.ainvoke("hello")).content
        assert any([chunk.content async for chunk in model.astream("hello")])

    asyncio.run(run_async())
    with pytest.raises(securebedrock.PolicyViolation) as refused:
        make(DENIED_MODEL).invoke("hello")
    assert refused.value.rule == "model.not_allowed"


def test_a_secured_client_handed_to_langchain(
    chat_model: Any, bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    client = securebedrock.client(**bedrock.client_kwargs(), retry=FAST_RETRY, **otel.kwargs())
    _exercise(lambda model: chat_model(model=model, client=client, region_name="us-east-1"))
    assert_guarded(bedrock, inference_requests=4)
    assert_denied_span(otel)


def test_langchain_building_its_own_client_is_secured_after_install(
    chat_model: Any, bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    with no_warnings():
        _exercise(lambda model: chat_model(model=model, region_name=bedrock.region))
    assert_guarded(bedrock, inference_requests=4)
    assert_denied_span(otel)


def test_async_ainvoke_and_astream_of_a_denied_model_are_refused_before_sending(
    chat_model: Any, bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    model = chat_model(model=DENIED_MODEL, region_name=bedrock.region)

    async def run_async() -> None:
        with pytest.raises(securebedrock.PolicyViolation):
            await model.ainvoke("hello")
        with pytest.raises(securebedrock.PolicyViolation):
            [chunk async for chunk in model.astream("hello")]

    asyncio.run(run_async())
    assert bedrock.requests == []
    denied = [s for s in otel.spans() if (s.attributes or {}).get("securebedrock.decision")]
    assert [(s.attributes or {})["securebedrock.decision"] for s in denied] == ["deny", "deny"]


def test_langchain_building_its_own_client_without_install_is_unsecured_and_warned(
    chat_model: Any, bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_org_policy(tmp_path, mandating(bedrock), monkeypatch)
    model = chat_model(model=DENIED_MODEL, region_name=bedrock.region)
    assert _adapter.installed_policy(model.client) is None
    with pytest.warns(securebedrock.UnsecuredClientWarning):
        model.invoke("hello")
    assert_unguarded(bedrock)


def test_with_retry_as_documented_never_retries_a_refusal(
    chat_model: Any, bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    securebedrock.install(retry=FAST_RETRY, **otel.kwargs())
    model = chat_model(model=DENIED_MODEL, region_name=bedrock.region)
    documented = model.with_retry(
        retry_if_exception_type=retry_unless_refused,
        stop_after_attempt=3,
        wait_exponential_jitter=False,
    )
    with pytest.raises(securebedrock.PolicyViolation):
        documented.invoke("hello")
    assert len(otel.spans()) == 1  # refused once, not retried
    # LangChain's default (retry on any Exception) would have asked three times.
    with pytest.raises(securebedrock.PolicyViolation):
        model.with_retry(stop_after_attempt=3, wait_exponential_jitter=False).invoke("hello")
    assert len(otel.spans()) == 1 + 3
    assert bedrock.requests == []


def test_throttling_requests_multiply_across_retry_layers_as_documented(
    chat_model: Any,
    bedrock: EmbeddedBedrock,
) -> None:
    securebedrock.install(retry=FAST_RETRY)  # 4 attempts of ours
    model = chat_model(model=ALLOWED_MODEL, region_name=bedrock.region)
    bedrock.faults.throttle(100)
    # Ours alone (no with_retry): 4 requests.
    with pytest.raises(Exception, match="Throttling"):
        model.invoke("hello")
    assert len(bedrock.requests) == 4
    # with_retry(stop_after_attempt=2) over ours: 2 x 4 = 8 more.
    layered = model.with_retry(
        retry_if_exception_type=retry_unless_refused,
        stop_after_attempt=2,
        wait_exponential_jitter=False,
    )
    with pytest.raises(Exception, match="Throttling"):
        layered.invoke("hello")
    assert len(bedrock.requests) == 4 + 8
