"""A dropped secured client is freed at once, and what was kept of it fails closed.

No reference cycle: a secured client is freed by reference counting, like a
raw one (a cycle left ~1,000 objects per client to the cyclic collector).
Code that kept ``_make_api_call`` after dropping the client gets an error,
and nothing is sent.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator

import pytest
from botocore.client import BaseClient
from conftest import MODEL_ID

import securebedrock
from securebedrock.testing import EmbeddedBedrock

HELLO = [{"role": "user", "content": [{"text": "hello"}]}]


@pytest.fixture
def collector_off() -> Iterator[None]:
    """Only reference counting frees objects inside the test (not the cyclic collector)."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def test_a_raw_client_is_freed_by_reference_counting(
    raw_client: Callable[..., BaseClient], collector_off: None
) -> None:
    """The baseline the secured client is held to."""
    client = raw_client()
    alive = weakref.ref(client)
    del client
    assert alive() is None


def test_a_dropped_secured_client_is_freed_at_once_and_its_leftovers_fail_closed(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient], collector_off: None
) -> None:
    client = secured_client()
    client.converse(modelId=MODEL_ID, messages=HELLO)  # a used client: pools, caches
    alive = weakref.ref(client)
    leftover = client._make_api_call  # type: ignore[attr-defined]
    del client
    assert alive() is None
    bedrock.clear()
    with pytest.raises(securebedrock.SecureBedrockError, match="gone"):
        leftover("Converse", {"modelId": MODEL_ID, "messages": HELLO})
    with pytest.raises(securebedrock.SecureBedrockError, match="gone"):
        leftover("ConverseStream", {"modelId": MODEL_ID, "messages": HELLO})
    assert bedrock.requests == []
