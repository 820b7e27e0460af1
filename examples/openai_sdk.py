"""The OpenAI SDK on Bedrock's Chat Completions API, through securebedrock's transport.

``securebedrock.HTTPTransport`` enforces the org policy on every request the SDK
sends: the mandated guardrail travels in the ``X-Amzn-Bedrock-Guardrail*`` headers,
a denied model is refused before anything is sent, and with API keys banned each
request is signed with SigV4 instead of carrying a bearer key.

Run it: ``python examples/openai_sdk.py`` (needs ``openai`` and ``httpx``).
"""

from __future__ import annotations

import httpx
import openai

import securebedrock
from securebedrock.testing import EmbeddedBedrock, GuardrailSpec

POLICY = """
version = 1
[auth]
allow_api_keys = false
[guardrail]
identifier = "gr0openai001"
version = "1"
[models]
deny = ["meta.*"]
"""


def main() -> None:
    """A call that goes out with the guardrail, and one the policy refuses."""
    guardrail = GuardrailSpec(identifier="gr0openai001", version="1")
    with EmbeddedBedrock(guardrails=[guardrail]) as server:
        policy = securebedrock.Policy.from_toml(POLICY)
        base_url = f"{server.endpoint_url}/openai/v1"
        # In production: region_name only; the org policy file is the host's, credentials
        # come from the AWS credential chain and base_url is
        # https://bedrock-runtime.<region>.amazonaws.com/openai/v1. Here the policy is
        # installed as the org file pinned to the embedded endpoint (only the org layer
        # may pin an endpoint outside AWS); the transport reads it when it is made.
        with server.org_policy(policy):
            # --8<-- [start:client]
            transport = securebedrock.HTTPTransport(
                region_name="us-east-1",
                verify=server.ca_bundle,
                aws_access_key_id=server.access_key,
                aws_secret_access_key=server.secret_key,
            )
            # --8<-- [end:client]
        # --8<-- [start:sdk]
        client = openai.OpenAI(
            base_url=base_url,
            api_key="unused",  # never sent: each request is signed with SigV4
            # openai >= 3 is typed for httpx2 clients and accepts httpx ones as well.
            http_client=httpx.Client(transport=transport),  # type: ignore[arg-type]
        )
        answer = client.chat.completions.create(
            model="anthropic.claude-3-haiku-20240307-v1:0",
            messages=[{"role": "user", "content": "Summarise the quarterly report."}],
        )
        # --8<-- [end:sdk]
        print("answer:", answer.choices[0].message.content)
        received = server.requests[-1]
        print("guardrail on the wire:", received.headers["x-amzn-bedrock-guardrailidentifier"])
        print("auth on the wire:", received.auth)
        # --8<-- [start:refusal]
        try:
            client.chat.completions.create(
                model="meta.llama3-8b-instruct-v1:0",
                messages=[{"role": "user", "content": "Hello"}],
            )
        except (securebedrock.PolicyViolation, openai.APIConnectionError) as error:
            # Older openai releases wrap transport errors: the refusal is __cause__.
            refusal = error if isinstance(error, securebedrock.PolicyViolation) else error.__cause__
            print("refused:", getattr(refusal, "rule", None))
        # --8<-- [end:refusal]
        print("requests the server received:", len(server.requests))


if __name__ == "__main__":
    main()
