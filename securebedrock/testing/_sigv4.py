"""Server-side verification of AWS Signature Version 4.

The server recomputes the signature from what it received, as AWS does:
canonical request (method, double-encoded normalized path, sorted and
re-encoded query, the signed headers, the payload hash), string to sign,
derived key, HMAC. Nothing here trusts the client's claim about itself.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from botocore.utils import normalize_url_path

__all__ = ["SignatureError", "verify"]

_ALGORITHM = "AWS4-HMAC-SHA256"
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: AWS refuses requests whose X-Amz-Date is further than this from its clock.
_MAX_SKEW = datetime.timedelta(minutes=15)


@dataclass(frozen=True, kw_only=True)
class SignatureError(Exception):
    """A request whose signature does not verify; ``error_type`` is the AWS error code."""

    error_type: str
    message: str

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"


def _parse_authorization(value: str) -> tuple[str, str, str]:
    algorithm, _, rest = value.partition(" ")
    if algorithm != _ALGORITHM:
        raise SignatureError(
            error_type="IncompleteSignatureException",
            message=f"Unsupported authorization algorithm {algorithm!r}",
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, val = part.strip().partition("=")
        if sep:
            fields[key] = val
    try:
        return fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError as missing:
        raise SignatureError(
            error_type="IncompleteSignatureException",
            message=f"Authorization header requires {missing.args[0]!r}",
        ) from None


def _canonical_uri(raw_path: str) -> str:
    # Non-S3 services normalize the path and encode it once more on top of
    # the client's own percent-encoding (so ``%3A`` becomes ``%253A``).
    return quote(normalize_url_path(raw_path), safe="/~")


def _canonical_query(raw_query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for pair in raw_query.split("&") if raw_query else []:
        key, _, value = pair.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def verify(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    region: str,
    service: str = "bedrock",
    now: datetime.datetime | None = None,
) -> str:
    """Verify the SigV4 signature of a request; return the access key id.

    ``headers`` must be case-insensitive. Raises :class:`SignatureError` with
    the error code AWS would send.
    """
    authorization = headers.get("authorization")
    if not authorization:
        raise SignatureError(
            error_type="MissingAuthenticationTokenException",
            message="Missing Authentication Token",
        )
    credential, signed_headers, signature = _parse_authorization(authorization)
    scope_parts = credential.split("/")
    if len(scope_parts) != 5 or scope_parts[4] != "aws4_request":
        raise SignatureError(
            error_type="IncompleteSignatureException",
            message="Credential should be scoped to a valid region, service and aws4_request",
        )
    access_key, date, scope_region, scope_service, _ = scope_parts
    secret = credentials.get(access_key)
    if secret is None:
        raise SignatureError(
            error_type="UnrecognizedClientException",
            message="The security token included in the request is invalid.",
        )
    if scope_region != region or scope_service != service:
        raise SignatureError(
            error_type="InvalidSignatureException",
            message=(
                f"Credential should be scoped to a valid region ({region!r}) and "
                f"service ({service!r}), not {scope_region!r}/{scope_service!r}."
            ),
        )
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc
        )
    except ValueError:
        raise SignatureError(
            error_type="IncompleteSignatureException",
            message="X-Amz-Date header is missing or malformed",
        ) from None
    current = now or datetime.datetime.now(datetime.timezone.utc)
    if abs(current - signed_at) > _MAX_SKEW:
        raise SignatureError(
            error_type="InvalidSignatureException",
            message="Signature expired: X-Amz-Date is more than 15 minutes from server time.",
        )
    if not amz_date.startswith(date):
        raise SignatureError(
            error_type="InvalidSignatureException",
            message="Date in Credential scope does not match X-Amz-Date",
        )

    names = signed_headers.split(";")
    if "host" not in names:
        raise SignatureError(
            error_type="InvalidSignatureException",
            message="'Host' must be a signed header",
        )
    canonical_headers = "".join(
        f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in names
    )
    body_hash = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed not in (body_hash, _UNSIGNED_PAYLOAD):
        raise SignatureError(
            error_type="InvalidSignatureException",
            message="The provided x-amz-content-sha256 header does not match the body.",
        )
    payload_hash = claimed or body_hash
    canonical_request = "\n".join(
        [
            method.upper(),
            _canonical_uri(raw_path),
            _canonical_query(raw_query),
            canonical_headers,
            signed_headers,
            payload_hash,
        ]
    )
    scope = "/".join(scope_parts[1:])
    string_to_sign = "\n".join(
        [
            _ALGORITHM,
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = _sign(("AWS4" + secret).encode("utf-8"), date)
    key = _sign(key, scope_region)
    key = _sign(key, scope_service)
    key = _sign(key, "aws4_request")
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError(
            error_type="InvalidSignatureException",
            message=(
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method."
            ),
        )
    return access_key
