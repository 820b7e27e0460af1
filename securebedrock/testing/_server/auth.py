"""Who a request is from: SigV4 verified for the endpoint's keys, or a bearer API key."""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping

from .. import _sigv4
from .._handlers import ApiError

__all__ = ["AuthError", "authenticate"]


class AuthError(ApiError):
    """A refused request (403), with the authentication it presented."""

    def __init__(self, auth: str, access_key: str | None, error_type: str, message: str) -> None:
        super().__init__(error_type, message, 403)
        self.auth = auth
        self.access_key = access_key


def authenticate(
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials: Mapping[str, str],
    bearer_tokens: Collection[str],
    region: str,
    service: str = "bedrock",
) -> tuple[str, str | None]:
    """``("sigv4", access key)`` or ``("bearer", None)`` for an accepted request.

    ``credentials`` maps access keys to secret keys. Raises :class:`AuthError`
    (Bedrock's error type and message) for a missing, malformed or wrong signature,
    or an unknown bearer token.
    """
    authorization = headers.get("authorization", "")
    # As the real service (and securebedrock's own checks) read it: any whitespace
    # around or after the scheme, any case.
    scheme, *rest = authorization.split(None, 1) or [""]
    if scheme.casefold() == "bearer":
        token = rest[0].strip() if rest else ""
        if any(hmac.compare_digest(token, known) for known in bearer_tokens):
            return "bearer", None
        raise AuthError(
            "bearer",
            None,
            "UnrecognizedClientException",
            "The API key included in the request is invalid.",
        )
    if not authorization:
        raise AuthError(
            "none", None, "MissingAuthenticationTokenException", "Missing Authentication Token"
        )
    try:
        access_key = _sigv4.verify(
            method=method,
            raw_path=raw_path,
            raw_query=query,
            headers=headers,
            body=body,
            credentials=credentials,
            region=region,
            service=service,
        )
    except _sigv4.SignatureError as error:
        raise AuthError("sigv4", None, error.error_type, error.message) from None
    return "sigv4", access_key
