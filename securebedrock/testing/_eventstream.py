"""AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

One message is: a 12-byte prelude (total length, headers length, prelude
CRC32), the headers, the payload, and a CRC32 of everything before it. All
integers are big-endian. Only string-valued headers (type 7) are needed here.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

__all__ = ["encode_event", "encode_exception", "encode_message"]

_STRING_HEADER = 7


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One framed event-stream message."""
    encoded_headers = b"".join(_encode_header(name, value) for name, value in headers.items())
    total_length = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total_length, len(encoded_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message) & 0xFFFFFFFF)


def _encode_header(name: str, value: str) -> bytes:
    raw_name = name.encode("utf-8")
    raw_value = value.encode("utf-8")
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING_HEADER, len(raw_value))
        + raw_value
    )


def encode_event(event_type: str, body: Mapping[str, Any]) -> bytes:
    """An ``event`` message whose payload is the JSON of ``body``."""
    return encode_message(
        {
            ":event-type": event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        },
        json.dumps(body, separators=(",", ":")).encode("utf-8"),
    )


def encode_exception(exception_type: str, message: str) -> bytes:
    """An ``exception`` message (a modelled error inside the stream)."""
    return encode_message(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message}).encode("utf-8"),
    )
