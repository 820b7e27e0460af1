"""litellm through securebedrock's httpx transport (its OpenAI-compatible provider).

litellm sends OpenAI-compatible calls with the ``httpx.Client`` set as
``litellm.client_session`` (``litellm.aclient_session`` for async), its documented way
to supply an httpx client. litellm is large, so this module runs in its own nox
session (``nox -s litellm``, which CI runs); elsewhere it is skipped unless
``SECUREBEDROCK_REQUIRE_LITELLM=1`` makes a missing litellm a failure.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _telemetry_helpers import Otel, make_otel
from test_httpx_sdks import assert_guardrail_on_everything, decisions
from test_httpx_transport import DENIED, MODEL, make_transport

import securebedrock
from securebedrock import PolicyViolation
from securebedrock.testing import EmbeddedBedrock

# litellm fetches a model price list from the internet on import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
if os.environ.get("SECUREBEDROCK_REQUIRE_LITELLM") == "1":
    import litellm
else:
    litellm = pytest.importorskip("litellm")

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def otel() -> Otel:
    return make_otel()


@pytest.fixture
def sessions() -> Iterator[None]:
    yield
    litellm.client_session = None
    litellm.aclient_session = None


def refusal_in(error: BaseException) -> PolicyViolation | None:
    """The PolicyViolation behind an error litellm raised (it chains, as __context__)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, PolicyViolation):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def call(server: EmbeddedBedrock, model: str, **extra: Any) -> Any:
    return litellm.completion(
        model=f"openai/{model}",
        api_base=f"{server.endpoint_url}/openai/v1",
        api_key="unused",
        messages=MESSAGES,
        max_retries=0,
        num_retries=0,
        **extra,
    )


def test_litellm_sync_and_streaming(bedrock: EmbeddedBedrock, otel: Otel, sessions: None) -> None:
    transport = make_transport(securebedrock.HTTPTransport, bedrock, otel=otel)
    litellm.client_session = httpx.Client(transport=transport)
    assert call(bedrock, MODEL).choices[0].message.content == bedrock.answer
    chunks = call(bedrock, MODEL, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == bedrock.answer
    with pytest.raises(Exception) as caught:  # litellm wraps it (InternalServerError)
        call(bedrock, DENIED)
    refusal = refusal_in(caught.value)
    assert refusal is not None and refusal.rule == "model.not_allowed"
    assert_guardrail_on_everything(bedrock, "ChatCompletions", 2)
    assert decisions(otel) == [("allow", ()), ("allow", ()), ("deny", ("model.not_allowed",))]


def test_litellm_async(bedrock: EmbeddedBedrock, otel: Otel, sessions: None) -> None:
    async def main() -> None:
        transport = make_transport(securebedrock.AsyncHTTPTransport, bedrock, otel=otel)
        litellm.aclient_session = httpx.AsyncClient(transport=transport)
        answer = await litellm.acompletion(
            model=f"openai/{MODEL}",
            api_base=f"{bedrock.endpoint_url}/openai/v1",
            api_key="unused",
            messages=MESSAGES,
            max_retries=0,
            num_retries=0,
        )
        assert answer.choices[0].message.content == bedrock.answer
        with pytest.raises(Exception) as caught:
            await litellm.acompletion(
                model=f"openai/{DENIED}",
                api_base=f"{bedrock.endpoint_url}/openai/v1",
                api_key="unused",
                messages=MESSAGES,
                max_retries=0,
                num_retries=0,
            )
        assert refusal_in(caught.value) is not None

    asyncio.run(main())
    assert_guardrail_on_everything(bedrock, "ChatCompletions", 1)
    assert decisions(otel) == [("allow", ()), ("deny", ("model.not_allowed",))]
