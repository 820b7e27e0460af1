"""Property tests for the embedded endpoint's two parsers of the wire format:
event-stream framing (checked by botocore's decoder) and SigV4 verification
(checked against botocore's signer) over arbitrary paths, queries and bodies."""

from __future__ import annotations

from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from securebedrock.testing._eventstream import encode_message
from securebedrock.testing._server import RecordedHeaders
from securebedrock.testing._sigv4 import verify

header_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30
)
header_values = st.text(max_size=200)


@settings(max_examples=150, deadline=None)
@given(
    headers=st.dictionaries(header_names, header_values, max_size=6),
    payload=st.binary(max_size=2048),
)
def test_event_stream_round_trips_through_botocore(headers: dict[str, str], payload: bytes) -> None:
    buffer = EventStreamBuffer()
    frame = encode_message(headers, payload)
    # Fed in two pieces, as it arrives from a socket.
    buffer.add_data(frame[: len(frame) // 2])
    buffer.add_data(frame[len(frame) // 2 :])
    (message,) = list(buffer)
    assert message.headers == headers
    assert message.payload == payload


segments = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/"),
    min_size=1,
    max_size=20,
)
query_items = st.lists(
    st.tuples(st.text(min_size=1, max_size=10), st.text(max_size=10)), max_size=4
)


@settings(max_examples=150, deadline=None)
@given(
    path=st.lists(segments, min_size=1, max_size=4), query=query_items, body=st.binary(max_size=256)
)
def test_whatever_botocore_signs_verifies(
    path: list[str], query: list[tuple[str, str]], body: bytes
) -> None:
    # Encoded as botocore's REST serializer encodes labels and query parameters.
    raw_path = "/" + "/".join(quote(part, safe="-._~") for part in path)
    raw_query = "&".join(f"{quote(k, safe='-._~')}={quote(v, safe='-._~')}" for k, v in query)
    url = f"https://127.0.0.1:8443{raw_path}" + (f"?{raw_query}" if raw_query else "")
    request = AWSRequest(method="POST", url=url, data=body)
    SigV4Auth(Credentials("AKIDPROPERTY", "secret"), "bedrock", "us-east-1").add_auth(request)
    headers = RecordedHeaders([("Host", "127.0.0.1:8443"), *request.headers.items()])
    assert (
        verify(
            method="POST",
            raw_path=raw_path,
            raw_query=raw_query,
            headers=headers,
            body=body,
            credentials={"AKIDPROPERTY": "secret"},
            region="us-east-1",
        )
        == "AKIDPROPERTY"
    )
