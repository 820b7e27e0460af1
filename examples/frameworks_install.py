"""A framework that builds its own client, secured by ``securebedrock.install()``.

LangChain's ``ChatBedrockConverse`` without ``client=`` creates its
``bedrock-runtime`` client itself. After ``securebedrock.install()`` that client
is secured like one from ``securebedrock.client()``: the mandated guardrail
is attached and a denied model is refused before a byte is sent. LangChain's
``with_retry`` is told not to retry refusals.

Run it: ``python examples/frameworks_install.py`` (needs ``pip install langchain-aws``).
"""

from __future__ import annotations

import os
from typing import Any

from langchain_aws import ChatBedrockConverse

import securebedrock
from securebedrock.testing import EmbeddedBedrock, GuardrailSpec


# --8<-- [start:install]
def secure_the_process(policy: securebedrock.Policy | None = None) -> None:
    """Call once at start-up, before any framework creates its Bedrock client."""
    securebedrock.install(policy)


# --8<-- [end:install]


# --8<-- [start:retry]
def retry_unless_refused(exc: BaseException) -> bool:
    """LangChain's with_retry predicate: retry anything but a securebedrock refusal."""
    return not isinstance(exc, securebedrock.NON_RETRYABLE_ERRORS)


def chat_model(model_id: str) -> Any:
    """A LangChain chat model that builds its own client, with refusals never retried."""
    model = ChatBedrockConverse(model=model_id)
    return model.with_retry(retry_if_exception_type=retry_unless_refused, stop_after_attempt=2)


# --8<-- [end:retry]


def main() -> None:
    """Secure LangChain's own client; show the guardrail on the wire and a refusal."""
    guardrail = GuardrailSpec(identifier="gr0install01", version="1")
    with EmbeddedBedrock(guardrails=[guardrail]) as server:
        # What a real deployment gets from its environment: credentials, region, CA.
        os.environ.update(
            AWS_ACCESS_KEY_ID=server.access_key,
            AWS_SECRET_ACCESS_KEY=server.secret_key,
            AWS_DEFAULT_REGION=server.region,
            AWS_CA_BUNDLE=server.ca_bundle,
        )
        org = securebedrock.Policy.from_toml(
            'version = 1\n[guardrail]\nidentifier = "gr0install01"\nversion = "1"\n'
            '[models]\ndeny = ["amazon.titan-*"]\n'
        )
        # On a real host the org policy file is already in place; here, for the
        # embedded endpoint, it is installed for the start-up block only.
        with server.org_policy(org):
            secure_the_process()
        reply = chat_model("anthropic.claude-3-haiku-20240307-v1:0").invoke("Hello")
        print("LangChain reply:", reply.content)
        print("guardrail on the wire:", server.requests[-1].json["guardrailConfig"])
        try:
            chat_model("amazon.titan-text-express-v1").invoke("Hello")
        except securebedrock.PolicyViolation as refused:
            print(f"refused by {refused.rule}, not retried; server received {len(server.requests)}")


if __name__ == "__main__":
    main()
