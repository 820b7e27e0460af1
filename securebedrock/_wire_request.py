"""Reading a prepared request for the wire check: operation shapes, headers, body.

Pure helpers for ``_wire.py``: what each operation looks like on the wire
(from the operations table, which a test checks against botocore's service
model), and content-free readers of a prepared request's headers and JSON
body. Nothing here decides anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from botocore.awsrequest import HeadersDict, _HeaderKey

from . import _operations

__all__ = [
    "BEARER_SCHEME",
    "GUARDRAIL_HEADERS",
    "SIGV4_SCHEME",
    "TIER_HEADER",
    "OperationShape",
    "auth_scheme",
    "header_values",
    "json_body",
    "one_value",
    "quote",
    "text",
]

#: ``Authorization`` scheme of SigV4 (casefolded).
SIGV4_SCHEME: Final = "aws4-hmac-sha256"
#: ``Authorization`` scheme of a bearer token (casefolded).
BEARER_SCHEME: Final = "bearer"

# Where an operation carries its guardrail and its service tier on the wire.
GUARDRAIL_HEADERS: Final = (
    "x-amzn-bedrock-guardrailidentifier",
    "x-amzn-bedrock-guardrailversion",
)
TIER_HEADER: Final = "x-amzn-bedrock-service-tier"
_WATCHED_HEADERS: Final = frozenset({"authorization", "host", *GUARDRAIL_HEADERS, TIER_HEADER})
# Longest quoted value in an error message (model ids are short; anything else is cut).
_QUOTE_LIMIT: Final = 80


def auth_scheme(value: object) -> str:
    """The scheme of an ``Authorization`` value: first token, stripped and casefolded.

    ``" Bearer x"``, ``"\\tBEARER x"`` and ``b"bearer x"`` all give ``"bearer"``;
    anything that is not a string (or bytes) gives ``""``.
    """
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    if not isinstance(value, str):
        return ""
    parts = value.split(None, 1)
    return parts[0].casefold() if parts else ""


class OperationShape:
    """One operation's wire form, from the operations table (built once per client)."""

    __slots__ = ("body_model", "greedy", "guardrail", "labels", "method", "path", "tier")

    def __init__(self, op: _operations.Operation) -> None:
        self.method: str = op.http_method.upper()
        labels: list[str] = []
        greedy: list[bool] = []
        pattern = ""
        for piece in re.split(r"(\{[^}]+\})", op.request_uri.split("?", 1)[0]):
            if piece.startswith("{") and piece.endswith("}"):
                name = piece[1:-1]
                labels.append(name.rstrip("+"))
                greedy.append(name.endswith("+"))
                pattern += "(.+)" if name.endswith("+") else "([^/]+)"
            else:
                pattern += re.escape(piece)
        self.path = re.compile(pattern)
        self.labels: tuple[str, ...] = tuple(labels)
        #: Per label, whether it may span segments (botocore then leaves ``/`` unencoded).
        self.greedy: tuple[bool, ...] = tuple(greedy)
        self.guardrail: Literal["body", "header", "none"] = {
            "converse": "body",
            "invoke": "header",
        }.get(op.guardrail, "none")  # type: ignore[assignment]
        self.tier: Literal["body", "header", "none"] = {
            "structure": "body",
            "string": "header",
        }.get(op.tier, "none")  # type: ignore[assignment]
        # A model named in the JSON body, not the path (StartAsyncInvoke).
        self.body_model: str | None = None
        if op.model_param is not None and op.model_param not in labels:
            self.body_model = op.model_param


def text(value: object) -> str | None:
    """``value`` if it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def quote(value: object) -> str:
    """``repr(value)``, cut to a bounded length for error messages."""
    shown = repr(value)
    return shown if len(shown) <= _QUOTE_LIMIT else shown[: _QUOTE_LIMIT - 3] + "..."


def header_values(headers: Any) -> dict[str, list[str]]:
    """The values of the headers the check reads, by lower-cased name (duplicates kept).

    Names are stripped too: ``"Authorization "`` is still an Authorization header.
    """
    result: dict[str, list[str]] = {}
    if headers is None:
        return result
    unchecked: Any = headers  # botocore's private layout, read only for its exact class
    stored_items = unchecked._dict if type(headers) is HeadersDict else None
    if type(stored_items) is dict:
        # botocore's own class, read without its per-key wrappers: each stored key is
        # the name as set and its value, exactly what iterating and indexing would give.
        for stored, value in list(stored_items.items()):
            if type(stored) is not _HeaderKey:
                break
            plain: Any = stored
            key = plain._key
            if type(key) is not str:
                break
            folded = key.strip().lower()
            if folded in _WATCHED_HEADERS:
                result.setdefault(folded, []).append(_latin1(value))
        else:
            return result
        result = {}
    if isinstance(headers, HeadersDict):
        # botocore's prepared request: one value per name; read only the watched ones.
        for key in headers:
            folded = key.strip().lower()
            if folded in _WATCHED_HEADERS:
                result.setdefault(folded, []).append(_latin1(headers[key]))
        return result
    # Anything a handler put there instead: every (name, value) pair.
    pairs = headers.items() if hasattr(headers, "items") else headers
    for name, value in pairs:
        folded = _latin1(name).strip().lower()
        if folded in _WATCHED_HEADERS:
            result.setdefault(folded, []).append(_latin1(value))
    return result


def _latin1(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return value if isinstance(value, str) else str(value)


def one_value(values: list[str] | None) -> str | None:
    """The single value of a header; two values never match a decision."""
    if not values:
        return None
    if len(values) > 1:
        return "<repeated header>"
    return values[0] or None


def json_body(body: Any) -> Mapping[str, Any] | None:
    """The body's JSON object, or ``None`` (unreadable: the check then fails closed).

    Read as strict UTF-8, the encoding botocore writes: a body in another encoding
    (UTF-16, a byte-order mark, encoded surrogates) is unreadable rather than guessed.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes | bytearray):
        return None
    try:
        document = json.loads(bytes(body).decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        return None
    return document if isinstance(document, dict) else None
