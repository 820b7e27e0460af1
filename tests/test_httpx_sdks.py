"""The OpenAI and Anthropic SDKs through securebedrock's httpx transports.

Each SDK as its users run it against Bedrock, with a mandated guardrail and a denied
model: the guardrail is on every request the embedded endpoint received, the denied
model never reached it, and the audit span says so. The installed ``openai`` and
``anthropic`` releases are built on httpx2; ``openai`` also takes ``httpx`` clients.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from _telemetry_helpers import Otel, make_otel
from conftest import GUARDRAIL
from test_httpx_transport import DENIED, MODEL, POLICY_TOML, make_transport

import securebedrock
from securebedrock import Policy, PolicyViolation, StreamInterruptedError
from securebedrock.testing import EmbeddedBedrock

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
httpx2 = pytest.importorskip("httpx2")

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def otel() -> Otel:
    return make_otel()


def assert_guardrail_on_everything(server: EmbeddedBedrock, operation: str, count: int) -> None:
    received = server.requests
    assert len(received) == count
    for request in received:
        assert request.operation == operation
        assert request.model_id != DENIED and DENIED not in request.path
        assert request.headers["x-amzn-bedrock-guardrailidentifier"] == GUARDRAIL.identifier
        assert request.headers["x-amzn-bedrock-guardrailversion"] == GUARDRAIL.version
        assert request.auth == "sigv4"


def decisions(otel: Otel) -> list[tuple[str, tuple[str, ...]]]:
    return sorted(
        (
            str((s.attributes or {})["securebedrock.decision"]),
            tuple((s.attributes or {}).get("securebedrock.rules", ())),  # type: ignore[arg-type]
        )
        for s in otel.spans()
    )


def openai_client(server: EmbeddedBedrock, otel: Otel, http_client: Any) -> Any:
    return openai.OpenAI(
        base_url=f"{server.endpoint_url}/openai/v1",
        api_key="unused",  # never sent: auth.allow_api_keys = false signs with SigV4
        http_client=http_client,
        max_retries=0,
    )


@pytest.mark.parametrize("flavour", ["httpx", "httpx2"])
def test_openai_sync_and_streaming(bedrock: EmbeddedBedrock, otel: Otel, flavour: str) -> None:
    module: Any = httpx if flavour == "httpx" else httpx2
    transport = make_transport(securebedrock.HTTPTransport, bedrock, otel=otel)
    client = openai_client(bedrock, otel, module.Client(transport=transport))

    answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert answer.choices[0].message.content == bedrock.answer
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == bedrock.answer
    # With the installed openai the refusal reaches the caller as it is; older releases
    # wrapped it in APIConnectionError, with the PolicyViolation as __cause__.
    with pytest.raises((PolicyViolation, openai.APIConnectionError)) as caught:
        client.chat.completions.create(model=DENIED, messages=MESSAGES)
    refusal = caught.value if isinstance(caught.value, PolicyViolation) else caught.value.__cause__
    assert isinstance(refusal, PolicyViolation) and refusal.rule == "model.not_allowed"

    assert_guardrail_on_everything(bedrock, "ChatCompletions", 2)
    assert decisions(otel) == [("allow", ()), ("allow", ()), ("deny", ("model.not_allowed",))]


def test_openai_async_and_streaming(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    async def main() -> None:
        transport = make_transport(securebedrock.AsyncHTTPTransport, bedrock, otel=otel)
        client = openai.AsyncOpenAI(
            base_url=f"{bedrock.endpoint_url}/openai/v1",
            api_key="unused",
            http_client=httpx.AsyncClient(transport=transport),
            max_retries=0,
        )
        answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert answer.choices[0].message.content == bedrock.answer
        stream = await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(parts) == bedrock.answer
        with pytest.raises((PolicyViolation, openai.APIConnectionError)):
            await client.chat.completions.create(model=DENIED, messages=MESSAGES)
        await client.close()

    asyncio.run(main())
    assert_guardrail_on_everything(bedrock, "ChatCompletions", 2)
    assert decisions(otel) == [("allow", ()), ("allow", ()), ("deny", ("model.not_allowed",))]


def test_openai_sees_a_cut_stream_as_an_error(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    transport = make_transport(securebedrock.HTTPTransport, bedrock, otel=otel)
    client = openai_client(bedrock, otel, httpx.Client(transport=transport))
    cut = [{"role": "user", "content": "hello [[truncate]]"}]
    stream = client.chat.completions.create(model=MODEL, messages=cut, stream=True)
    with pytest.raises(StreamInterruptedError):
        for _ in stream:
            pass
    [span] = otel.spans()
    assert (span.attributes or {})["securebedrock.stream.end"] == "interrupted"


def anthropic_bedrock(server: EmbeddedBedrock, http_client: Any, cls: Any = None) -> Any:
    return (cls or anthropic.AnthropicBedrock)(
        aws_region=server.region,
        aws_access_key=server.access_key,
        aws_secret_key=server.secret_key,
        base_url=server.endpoint_url,
        http_client=http_client,
        max_retries=0,
    )


def test_anthropic_bedrock_sync_and_streaming(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    # AnthropicBedrock calls InvokeModel (/model/{id}/invoke[-with-response-stream]): the
    # transport attaches the guardrail headers and signs again after its changes.
    transport = make_transport(securebedrock.HTTPTransport, bedrock, otel=otel)
    client = anthropic_bedrock(bedrock, httpx2.Client(transport=transport))
    message = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert message.content[0].text == bedrock.answer
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == bedrock.answer
    with pytest.raises((PolicyViolation, anthropic.APIConnectionError)):
        client.messages.create(model=DENIED, max_tokens=64, messages=MESSAGES)

    received = bedrock.requests
    assert [r.operation for r in received] == ["InvokeModel", "InvokeModelWithResponseStream"]
    assert_guardrail_on_everything_invoke(bedrock)
    assert decisions(otel) == [("allow", ()), ("allow", ()), ("deny", ("model.not_allowed",))]


def assert_guardrail_on_everything_invoke(server: EmbeddedBedrock) -> None:
    for request in server.requests:
        assert request.model_id == MODEL
        assert request.headers["x-amzn-bedrock-guardrailidentifier"] == GUARDRAIL.identifier
        assert request.auth == "sigv4" and request.status == 200


def test_anthropic_bedrock_async(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    async def main() -> None:
        transport = make_transport(securebedrock.AsyncHTTPTransport, bedrock, otel=otel)
        client = anthropic.AsyncAnthropicBedrock(
            aws_region=bedrock.region,
            aws_access_key=bedrock.access_key,
            aws_secret_key=bedrock.secret_key,
            base_url=bedrock.endpoint_url,
            http_client=httpx2.AsyncClient(transport=transport),
            max_retries=0,
        )
        message = await client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        assert message.content[0].text == bedrock.answer
        with pytest.raises((PolicyViolation, anthropic.APIConnectionError)):
            await client.messages.create(model=DENIED, max_tokens=64, messages=MESSAGES)

    asyncio.run(main())
    assert [r.operation for r in bedrock.requests] == ["InvokeModel"]
    assert_guardrail_on_everything_invoke(bedrock)
    assert decisions(otel) == [("allow", ()), ("deny", ("model.not_allowed",))]


def test_anthropic_bedrock_mantle_is_refused_under_a_mandated_guardrail(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    transport = make_transport(securebedrock.HTTPTransport, bedrock, otel=otel)
    client = anthropic.AnthropicBedrockMantle(
        aws_region=bedrock.region,
        base_url=f"{bedrock.endpoint_url}/anthropic",
        api_key="unused",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )
    with pytest.raises((PolicyViolation, anthropic.APIConnectionError)) as caught:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    refusal = caught.value if isinstance(caught.value, PolicyViolation) else caught.value.__cause__
    assert isinstance(refusal, PolicyViolation)
    assert refusal.rule == "guardrail.unsupported_operation"
    assert bedrock.requests == []


def test_anthropic_bedrock_mantle_without_a_guardrail(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    policy = Policy.from_toml(POLICY_TOML.split("[guardrail]")[0] + '[models]\ndeny = ["meta.*"]\n')
    transport = make_transport(securebedrock.HTTPTransport, bedrock, policy, otel)
    client = anthropic.AnthropicBedrockMantle(
        aws_region=bedrock.region,
        base_url=f"{bedrock.endpoint_url}/anthropic",
        api_key="unused",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )
    message = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert message.content[0].text == bedrock.answer
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == bedrock.answer
    with pytest.raises((PolicyViolation, anthropic.APIConnectionError)):
        client.messages.create(model=DENIED, max_tokens=64, messages=MESSAGES)
    assert [r.operation for r in bedrock.requests] == ["MantleMessages", "MantleMessages"]
    # The SDK's api_key became a SigV4 signature for bedrock-mantle (the server checks it).
    assert all(r.auth == "sigv4" and r.status == 200 for r in bedrock.requests)
    assert all("unused" not in r.headers.get("x-api-key", "") for r in bedrock.requests)
