"""Keyed content digests for ``audit.content = "digest"``.

An auditor can prove *which* prompt produced *which* completion (by recomputing
the digest of a candidate text with the same key) without the telemetry
pipeline ever holding the text. The digest is HMAC-SHA256, keyed, so a reader
of the spans cannot confirm a guess of a short prompt without the key.

Normalization (what exactly is digested), documented in docs/telemetry.md:

- Converse / ConverseStream prompt: canonical JSON (sorted keys, no whitespace,
  UTF-8, ``bytes`` as standard base64) of ``{"messages": ..., "system": ...}``
  with only the keys the caller passed.
- Converse completion: canonical JSON of ``response["output"]``.
- ConverseStream completion: for each ``contentBlockDelta`` event, the canonical
  JSON of its ``delta`` followed by ``"\\n"``, in order.
- InvokeModel / InvokeModelWithResponseStream prompt: the raw request body bytes
  (a ``str`` body as UTF-8); completion: the raw response body bytes, or the
  concatenated ``chunk.bytes`` of the stream.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from . import _env, _operations
from ._constants import ENV_AUDIT_HMAC_KEY
from ._errors import PolicyConfigError
from ._policy import Policy

#: Prefix of every digest value, naming the algorithm so it can change without ambiguity.
DIGEST_PREFIX = "hmac-sha256:"
#: Shorter keys would let a reader of the spans brute-force short prompts.
MIN_KEY_BYTES = 16


def _default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def canonical_json(value: object) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8, bytes as base64."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode("utf-8")


def load_key(policy: Policy, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The HMAC key when the policy asks for digests, read once at client construction.

    Fails closed: ``audit.content = "digest"`` without a usable key is a
    :class:`PolicyConfigError`, because the alternative (recording nothing, or
    unkeyed hashes) is not what the policy asked for.
    """
    if policy.audit.content != "digest":
        return None
    raw = _env.setting(
        ENV_AUDIT_HMAC_KEY, environ, expected=f"a secret of at least {MIN_KEY_BYTES} bytes"
    )
    if raw is None:
        raw = ""
    try:
        key = raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        # os.environ keeps bytes that are not valid in the locale's encoding as lone
        # surrogates; such a value is not the text an auditor would recompute with.
        # Only the position is quoted, never the key.
        raise PolicyConfigError(
            f"{ENV_AUDIT_HMAC_KEY} is not valid UTF-8 text",
            path="audit.content",
            found=f"{ENV_AUDIT_HMAC_KEY} with an undecodable byte at position {exc.start}",
            expected=f"{ENV_AUDIT_HMAC_KEY} set to UTF-8 text of at least {MIN_KEY_BYTES} bytes",
            fix=f"set {ENV_AUDIT_HMAC_KEY} to a printable secret (for example a hex or base64 "
            "string from your secret store)",
        ) from None
    if len(key) < MIN_KEY_BYTES:
        found = "not set" if not raw else f"a key of {len(key)} bytes"
        raise PolicyConfigError(
            "content digests need an HMAC key",
            path="audit.content",
            found=f'audit.content = "digest" and {ENV_AUDIT_HMAC_KEY} {found}',
            expected=f"{ENV_AUDIT_HMAC_KEY} set to a secret of at least {MIN_KEY_BYTES} bytes",
            fix=f"set {ENV_AUDIT_HMAC_KEY} (e.g. from your secret store) before creating the "
            'client, or set audit.content = "none"',
        )
    return key


class Digester:
    """An incremental keyed digest (HMAC-SHA256)."""

    __slots__ = ("_mac",)

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def update(self, data: bytes) -> None:
        """Feed more normalized bytes."""
        self._mac.update(data)

    def hexdigest(self) -> str:
        """The digest so far, prefixed with the algorithm."""
        return DIGEST_PREFIX + self._mac.hexdigest()


def digest(key: bytes, data: bytes) -> str:
    """The keyed digest of ``data``."""
    d = Digester(key)
    d.update(data)
    return d.hexdigest()


def body_bytes(body: Any) -> bytes | None:
    """An InvokeModel request body as bytes, or ``None`` when it is a stream (never read)."""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return None


def prompt_bytes(operation: str, params: Mapping[str, Any]) -> bytes | None:
    """The normalized prompt of an inference call, or ``None`` when there is none to digest."""
    prompt = _operations.operation(operation).prompt
    if prompt == "messages":
        subset = {k: params[k] for k in ("messages", "system") if k in params}
        return canonical_json(subset)
    if prompt == "body":
        return body_bytes(params.get("body"))
    return None
