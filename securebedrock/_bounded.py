"""Bounded identifiers: what spans, logs, metrics and error messages may quote.

A model id, guardrail identifier or version, or service tier is quoted verbatim only
when it has a shape securebedrock recognises (the model-id classifier, the policy's
guardrail patterns, the documented tiers). Anything else may be free text passed by
mistake (a prompt given as ``modelId``), so it is replaced by a fixed placeholder
with a short digest, ``<unrecognised:1a2b3c4d>``: the same value gives the same
placeholder everywhere in one process (span, audit log, error message), so records
can be joined, while the text itself never leaves.

The digest is the first 8 hex digits of HMAC-SHA256 under a random key made when
the module is imported: it cannot be reversed, not even for a short value guessed
from a list, and placeholders of different processes are not comparable. Metric
attributes get the bare :data:`METRIC_PLACEHOLDER`: a digest per distinct value
would make metric cardinality unbounded again.

Pure: no botocore, no I/O after import.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from typing import Final

from ._modelid import parse_model_id
from ._policy import (
    GUARDRAIL_ARN_RE,
    GUARDRAIL_ID_RE,
    GUARDRAIL_VERSION_RE,
    PARTITION_RE,
    REGION_RE,
    SERVICE_TIERS,
)

__all__ = [
    "METRIC_PLACEHOLDER",
    "describe",
    "guardrail_id",
    "guardrail_version",
    "metric_model",
    "model",
    "placeholder",
    "quote",
    "quote_arn",
    "quote_guardrail_id",
    "quote_guardrail_version",
    "quote_model",
    "quote_partition",
    "quote_region",
    "quote_tier",
    "recognised_guardrail_id",
    "recognised_model",
]

#: What a metric attribute says for a value that is not recognised (one series for all).
METRIC_PLACEHOLDER: Final = "<unrecognised>"

_KEY: Final = secrets.token_bytes(32)
_DIGEST_CHARS: Final = 8
# Only this much of a value is digested: enough to tell values apart, bounded work.
_DIGEST_INPUT_LIMIT: Final = 1 << 16


def _bytes(value: object) -> bytes:
    if isinstance(value, str):
        text = value
    else:
        text = f"{type(value).__qualname__}:{value!r}"
    return text[:_DIGEST_INPUT_LIMIT].encode("utf-8", "surrogatepass")


def placeholder(value: object) -> str:
    """``<unrecognised:xxxxxxxx>``: a keyed digest of ``value``, never its text."""
    digest = hmac.new(_KEY, _bytes(value), hashlib.sha256).hexdigest()[:_DIGEST_CHARS]
    return f"<unrecognised:{digest}>"


def recognised_model(value: object) -> bool:
    """Whether ``value`` is a model id, profile id or ARN the classifier recognises."""
    return isinstance(value, str) and parse_model_id(value).kind != "unknown"


def recognised_guardrail_id(value: object) -> bool:
    """Whether ``value`` is a guardrail id or guardrail ARN."""
    return isinstance(value, str) and _guardrail_id_shape(value)


@functools.lru_cache(maxsize=256)
def _guardrail_id_shape(value: str) -> bool:
    # Cached: a client sends the same guardrail on every call.
    return bool(GUARDRAIL_ID_RE.fullmatch(value) or GUARDRAIL_ARN_RE.fullmatch(value))


def _shown(value: str | None, recognised: bool) -> str | None:
    if value is None or recognised:
        return value
    return placeholder(value)


def model(value: str | None) -> str | None:
    """``value`` when it is a recognised model identifier, else its placeholder."""
    return _shown(value, value is None or recognised_model(value))


def metric_model(value: str | None) -> str | None:
    """As :func:`model`, with the digest-free placeholder (bounded cardinality)."""
    if value is None or recognised_model(value):
        return value
    return METRIC_PLACEHOLDER


def guardrail_id(value: str | None) -> str | None:
    """``value`` when it is a guardrail id or ARN, else its placeholder."""
    return _shown(value, value is None or recognised_guardrail_id(value))


def guardrail_version(value: str | None) -> str | None:
    """``value`` when it is a guardrail version (``1``..., ``DRAFT``), else its placeholder."""
    return _shown(value, value is None or bool(GUARDRAIL_VERSION_RE.fullmatch(value)))


def quote_tier(value: object) -> str:
    """A service tier for a message (``None`` when absent): quoted when it is a
    documented tier, else described."""
    return quote(value, value is None or (isinstance(value, str) and value in SERVICE_TIERS))


def describe(value: object) -> str:
    """A content-free description of an unrecognised value, for an error message:
    ``<unrecognised:1a2b3c4d> (159 characters, contains whitespace)``.

    Its placeholder, its type or length, and why it cannot be an identifier (in
    character classes, never characters): enough to find the bug, nothing to leak.
    """
    if not isinstance(value, str):
        return f"{placeholder(value)} (a {type(value).__name__}, not a string)"
    reasons = [f"{len(value)} characters"]
    if any(c.isspace() for c in value):
        reasons.append("contains whitespace")
    if any(not c.isprintable() and not c.isspace() for c in value):
        reasons.append("contains control characters")
    if any(ord(c) > 127 for c in value):
        reasons.append("contains non-ASCII characters")
    if len(value) > 2048:
        reasons.append("longer than 2048 characters")
    if len(reasons) == 1:
        reasons.append("not a recognised form")
    return f"{placeholder(value)} ({', '.join(reasons)})"


# A conservative ARN shape (no whitespace, no quotes, bounded): quoted verbatim in messages.
_ARN_SHAPE: Final = re.compile(
    r"arn:[a-z0-9-]{1,32}:[a-z0-9-]{1,64}:[a-z0-9-]{0,32}:[0-9]{0,12}:"
    r"[A-Za-z0-9._:/+=@-]{1,1024}"
)


def quote(value: object, recognised: bool) -> str:
    """``repr(value)`` when ``recognised``, else :func:`describe` (for messages)."""
    return repr(value) if recognised else describe(value)


def quote_model(value: object) -> str:
    """A model identifier for a message: quoted when recognised, else described."""
    return quote(value, recognised_model(value))


def quote_guardrail_id(value: object) -> str:
    """A guardrail identifier for a message: quoted when recognised, else described."""
    return quote(value, recognised_guardrail_id(value))


def quote_guardrail_version(value: object) -> str:
    """A guardrail version for a message (``None`` when absent): quoted or described."""
    recognised = value is None or (
        isinstance(value, str) and bool(GUARDRAIL_VERSION_RE.fullmatch(value))
    )
    return quote(value, recognised)


def quote_region(value: object) -> str:
    """A region read from an ARN, for a message: quoted when region-shaped, else described."""
    return quote(value, isinstance(value, str) and bool(REGION_RE.fullmatch(value)))


def quote_partition(value: object) -> str:
    """A partition read from an ARN, for a message: quoted when partition-shaped."""
    return quote(value, isinstance(value, str) and bool(PARTITION_RE.fullmatch(value)))


def quote_arn(value: object) -> str:
    """An ARN for a message: quoted when ARN-shaped, else described."""
    return quote(value, isinstance(value, str) and bool(_ARN_SHAPE.fullmatch(value)))
