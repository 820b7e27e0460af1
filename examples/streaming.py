"""Streaming with ConverseStream: events arrive as they always did.

Run it: ``python examples/streaming.py``.
"""

from __future__ import annotations

from typing import Any

import securebedrock
from securebedrock.testing import EmbeddedBedrock

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


# --8<-- [start:stream]
def stream_answer(client: Any, question: str) -> str:
    """Print the answer as it streams in; return the whole text."""
    response = client.converse_stream(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": question}]}],
    )
    parts: list[str] = []
    for event in response["stream"]:
        delta = event.get("contentBlockDelta", {}).get("delta", {})
        if "text" in delta:
            parts.append(delta["text"])
            print(delta["text"], end="", flush=True)
        if "metadata" in event:
            usage = event["metadata"]["usage"]
            print(f"\n[{usage['inputTokens']} tokens in, {usage['outputTokens']} out]")
    return "".join(parts)


# --8<-- [end:stream]


def main() -> None:
    """Stream one answer through a secured client."""
    with EmbeddedBedrock() as server, server.org_policy():
        client = securebedrock.client(**server.client_kwargs())
        stream_answer(client, "Tell me a short story.")


if __name__ == "__main__":
    main()
