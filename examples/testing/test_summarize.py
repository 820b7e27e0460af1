"""How an application tests its Bedrock code offline with ``securebedrock.testing``.

Run: ``pytest examples/testing`` (no AWS account, no network: loopback only).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from summarize import summarize, summarize_streaming

import securebedrock
from securebedrock.testing import DEFAULT_ANSWER, EmbeddedBedrock, GuardrailSpec

# --8<-- [start:fixtures]
ORG_POLICY = """
version = 1
[guardrail]
identifier = "gr0app000001"
version = "2"
"""


@pytest.fixture
def bedrock() -> Iterator[EmbeddedBedrock]:
    """A real HTTPS Bedrock endpoint on 127.0.0.1, with the org's guardrail configured,
    running under the org policy (a temporary org policy file that pins this server)."""
    guardrail = GuardrailSpec(identifier="gr0app000001", version="2", blocked_words=("password",))
    with EmbeddedBedrock(guardrails=[guardrail]) as server:
        # org_policy(): the org policy file for the test, its network.endpoint_url this
        # server, so the endpoint-override rule accepts it (and nothing else). The
        # machine's own org policy file is out of the picture until the block ends.
        with server.org_policy(securebedrock.Policy.from_toml(ORG_POLICY)):
            yield server


@pytest.fixture
def client(bedrock: EmbeddedBedrock) -> Any:
    """The client the application would get in production, pointed at the test server."""
    return securebedrock.client(**bedrock.client_kwargs())


# --8<-- [end:fixtures]


# --8<-- [start:assert_received]
def test_summary_and_what_the_server_received(client: Any, bedrock: EmbeddedBedrock) -> None:
    assert summarize(client, "a long report") == DEFAULT_ANSWER
    (request,) = bedrock.requests
    assert request.operation == "Converse"
    assert request.tls_version == "TLSv1.3"
    # The mandated guardrail was attached by securebedrock, on the wire.
    assert request.json["guardrailConfig"]["guardrailIdentifier"] == "gr0app000001"


# --8<-- [end:assert_received]


# --8<-- [start:guardrail]
def test_guardrail_really_intervenes(client: Any) -> None:
    assert summarize(client, "my password is hunter2") == (
        "Sorry, the model cannot answer this question."
    )


# --8<-- [end:guardrail]


def test_streaming(client: Any, bedrock: EmbeddedBedrock) -> None:
    bedrock.stream_events = 25  # the answer arrives in 25 text deltas
    assert len(summarize_streaming(client, "a report").split()) == 25
    assert bedrock.requests[-1].operation == "ConverseStream"


# --8<-- [start:faults]
def test_throttling_is_retried(bedrock: EmbeddedBedrock) -> None:
    client = securebedrock.client(
        **bedrock.client_kwargs(),
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
    )
    bedrock.faults.throttle(n=1)  # the next request gets 429 ThrottlingException
    assert summarize(client, "a report") == DEFAULT_ANSWER
    assert [r.status for r in bedrock.requests] == [429, 200]  # botocore retried once


def test_throttling_surfaces_when_retries_run_out(client: Any, bedrock: EmbeddedBedrock) -> None:
    bedrock.faults.throttle(n=10)  # more than botocore's attempts
    with pytest.raises(client.exceptions.ThrottlingException):
        summarize(client, "a report")


# --8<-- [end:faults]
