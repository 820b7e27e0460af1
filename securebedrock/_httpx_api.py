"""What an HTTP request to Bedrock's OpenAI- and Anthropic-compatible APIs is, and where it may go.

Pure request reading for :mod:`securebedrock._httpx`: which API a method, host and path
are for (one table, :data:`ROUTES`), whether the host is a Bedrock host of the
transport's region or the endpoint the policy pins, and the plain snapshot of the
parameters the policy engine decides on (model, guardrail headers, service tier, stream).
No httpx import and no I/O: the transport hands in what httpx's own ``request.url``
parsed, so the URL the socket is opened for is the URL that was checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import unquote

from . import _netcheck
from ._errors import PolicyViolation, TransportSecurityError
from ._fips import fips_regions
from ._policy import Policy
from ._transport_refusals import plaintext_refused

__all__ = [
    "GUARDRAIL_HEADERS",
    "RULE_API_UNSUPPORTED",
    "RULE_WIRE_MISMATCH",
    "ROUTES",
    "Endpoint",
    "Route",
    "Snapshot",
    "check_endpoint",
    "match_route",
    "snapshot",
]

#: A request this transport cannot read as one of the APIs it enforces.
RULE_API_UNSUPPORTED: Final = "api.unsupported"
#: The request about to be written no longer matches the decision made for it.
RULE_WIRE_MISMATCH: Final = "wire.mismatch"

RUNTIME: Final = "bedrock-runtime"
MANTLE: Final = "bedrock-mantle"

#: The request headers Bedrock reads a guardrail from (InvokeModel, and Chat Completions
#: on bedrock-runtime), mapped to the engine's parameter names.
GUARDRAIL_HEADERS: Final[Mapping[str, str]] = {
    "x-amzn-bedrock-guardrailidentifier": "guardrailIdentifier",
    "x-amzn-bedrock-guardrailversion": "guardrailVersion",
    "x-amzn-bedrock-trace": "trace",
}
TIER_HEADER: Final = "x-amzn-bedrock-service-tier"

StreamStyle = Literal["openai", "anthropic", "eventstream", "none"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    """One API the transport carries: where it is served and how it names its model."""

    operation: str
    service: str
    #: The path, with ``{modelId}`` where the model travels in the path.
    path: str
    #: ``body``: the JSON body's ``model``; ``path``: the ``{modelId}`` segment.
    model_from: Literal["body", "path"]
    #: ``body``: the JSON body's ``service_tier``; ``header``: X-Amzn-Bedrock-Service-Tier.
    tier_from: Literal["body", "header", "none"]
    #: How a streamed answer ends: ``data: [DONE]`` (openai), ``message_stop``
    #: (anthropic), the event-stream framing (eventstream).
    stream: StreamStyle
    #: Query strings the API uses (anything else is refused).
    queries: tuple[str, ...] = ("",)

    @property
    def signing_name(self) -> str:
        """The SigV4 service name: ``bedrock`` for bedrock-runtime, ``bedrock-mantle``."""
        return "bedrock" if self.service == RUNTIME else MANTLE


ROUTES: Final[tuple[Route, ...]] = (
    Route(
        operation="ChatCompletions",
        service=RUNTIME,
        path="/openai/v1/chat/completions",
        model_from="body",
        tier_from="body",
        stream="openai",
    ),
    Route(
        operation="InvokeModel",
        service=RUNTIME,
        path="/model/{modelId}/invoke",
        model_from="path",
        tier_from="header",
        stream="none",
    ),
    Route(
        operation="InvokeModelWithResponseStream",
        service=RUNTIME,
        path="/model/{modelId}/invoke-with-response-stream",
        model_from="path",
        tier_from="header",
        stream="eventstream",
    ),
    Route(
        operation="MantleChatCompletions",
        service=MANTLE,
        path="/v1/chat/completions",
        model_from="body",
        tier_from="body",
        stream="openai",
    ),
    Route(
        operation="MantleResponses",
        service=MANTLE,
        path="/v1/responses",
        model_from="body",
        tier_from="body",
        stream="openai",
    ),
    Route(
        operation="MantleMessages",
        service=MANTLE,
        path="/anthropic/v1/messages",
        model_from="body",
        tier_from="none",
        stream="anthropic",
        queries=("", "beta=true"),
    ),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Endpoint:
    """A checked destination: ``services`` are the APIs the host may serve."""

    host: str
    port: int
    services: tuple[str, ...]
    pinned: bool


def _unsupported(operation: str, found: str, expected: str) -> PolicyViolation:
    return PolicyViolation(
        rule=RULE_API_UNSUPPORTED,
        operation=operation,
        found=found,
        expected=expected,
        fix="send only the Chat Completions, Responses, Anthropic Messages or InvokeModel "
        "requests securebedrock.HTTPTransport enforces; use securebedrock.client() for "
        "the other bedrock-runtime operations",
    )


def _pins(policy: Policy, region: str) -> tuple[str, ...]:
    # The region's entry of network.endpoint_urls, else network.endpoint_url.
    pin = policy.network.endpoint_for(region)
    return (pin,) if pin else ()


def check_endpoint(
    policy: Policy, region: str, scheme: str, host: str, port: int | None, userinfo: bytes
) -> Endpoint:
    """The request's destination, or the :class:`TransportSecurityError` refusing it.

    Accepted: ``https`` to a ``bedrock-runtime`` or ``bedrock-mantle`` host (regional,
    FIPS, dual-stack, PrivateLink) of ``region`` on the default port, or the endpoint the
    policy pins. A pinned endpoint serves both APIs' paths.
    """
    host = host.rstrip(".").lower()
    if scheme != "https":
        raise plaintext_refused(
            host or None, f"{scheme or 'no'}:// request to {host!r}", "an https:// base_url"
        )
    if userinfo:
        raise TransportSecurityError(
            rule="network.endpoint_override",
            host=host,
            found="a URL with user information (user:password@) before the host",
            expected="a plain https://<host>/ base_url",
            fix="remove the user information from base_url",
        )
    effective_port = port or 443
    url = f"https://{host if ':' not in host else f'[{host}]'}:{effective_port}"
    for pin in _pins(policy, region):
        if _netcheck.same_endpoint(url, pin):
            return Endpoint(host=host, port=effective_port, services=(RUNTIME, MANTLE), pinned=True)
    problem = "not a bedrock-runtime or bedrock-mantle host"
    for service in (RUNTIME, MANTLE):
        classified = _netcheck.classify_service_host(host, service)
        if classified is None:
            continue
        host_region, is_fips = classified
        allowed = policy.regions.allowed
        if host_region != region:
            problem = f"a host of region {host_region}, but the transport is for {region}"
        elif allowed is not None and host_region not in allowed:
            problem = f"a host of region {host_region}, not in regions.allowed"
        elif effective_port != 443:
            problem = f"port {effective_port}; AWS endpoints listen on 443"
        elif policy.tls.fips and not is_fips:
            raise TransportSecurityError(
                rule="tls.fips",
                host=host,
                found=f"non-FIPS endpoint {host!r}",
                expected=f"{service}-fips.{region}.<suffix>"
                + (
                    f" (FIPS regions: {sorted(fips_regions(service))})"
                    if service == RUNTIME
                    else ""
                ),
                fix="point base_url to the FIPS host, or pin your VPC endpoint in "
                "network.endpoint_url",
            )
        else:
            return Endpoint(host=host, port=effective_port, services=(service,), pinned=False)
        break
    raise TransportSecurityError(
        rule="network.endpoint_override",
        host=host or None,
        found=f"request to {host!r}: {problem}",
        expected=f"bedrock-runtime[-fips].{region}.amazonaws.com or "
        f"bedrock-mantle[-fips].{region}.api.aws (or their PrivateLink names)"
        + (
            f", or the pinned {policy.network.endpoint_url!r}"
            if policy.network.endpoint_url
            else ""
        ),
        fix="set base_url to a Bedrock endpoint of the transport's region, or pin your "
        "endpoint in the org policy's network.endpoint_url (or endpoint_urls)",
    )


def match_route(
    method: str, raw_path: str, query: str, endpoint: Endpoint
) -> tuple[Route, str | None]:
    """The API a request is for and its path model id (``None`` when in the body).

    ``raw_path`` is the still-encoded path httpx will write. Dot segments, empty
    segments and encoded separators outside the model id are refused, so the path the
    service routes is the path checked here.
    """
    segments = raw_path.split("/")[1:]
    if not raw_path.startswith("/") or any(s in ("", ".", "..") for s in segments):
        raise _unsupported("Unknown", f"{method} {raw_path!r}", "a normalised API path")
    for route in ROUTES:
        if route.service not in endpoint.services:
            continue
        pattern = route.path.split("/")[1:]
        if len(pattern) != len(segments):
            continue
        model: str | None = None
        for want, got in zip(pattern, segments, strict=True):
            if want == "{modelId}":
                model = unquote(got)
            elif want != got:
                break
        else:
            if method != "POST":
                raise _unsupported(route.operation, f"{method} {route.path}", "POST")
            if query not in route.queries:
                raise _unsupported(
                    route.operation, f"query string {query[:64]!r}", f"one of {route.queries}"
                )
            if model is not None and (not model or len(model) > 2048):
                raise _unsupported(route.operation, "an empty or oversized model id", "a model id")
            return route, model
    services = " or ".join(endpoint.services)
    raise _unsupported(
        "Unknown",
        f"{method} {raw_path[:200]!r} on {services}",
        "one of " + ", ".join(f"POST {r.path}" for r in ROUTES if r.service in endpoint.services),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Snapshot:
    """The plain parameters a request carries, in the engine's names, and its body."""

    params: Mapping[str, Any]
    body: dict[str, Any] | None
    stream: bool


def _reject_duplicates(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            # Parsers disagree on which duplicate wins: the service might read the other.
            raise ValueError(f"duplicate key {key[:64]!r}")
        seen[key] = value
    return seen


def _single_header(route: Route, headers: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in headers if k.lower() == name]
    if len(values) > 1:
        raise _unsupported(
            route.operation, f"{len(values)} {name} headers", f"at most one {name} header"
        )
    return values[0] if values else None


def snapshot(
    route: Route, path_model: str | None, headers: Sequence[tuple[str, str]], body: bytes
) -> Snapshot:
    """Read a request as the engine's parameters (refusing what cannot be read).

    ``modelId``, ``guardrailIdentifier``/``guardrailVersion``/``trace`` (from the
    guardrail headers), ``serviceTier``; a JSON body must be one object without
    duplicate keys.
    """
    params: dict[str, Any] = {}
    document: dict[str, Any] | None = None
    if route.model_from == "body" or route.tier_from == "body":
        try:
            parsed = json.loads(body, object_pairs_hook=_reject_duplicates)
        except (ValueError, UnicodeDecodeError) as exc:
            reason = str(exc) if "duplicate key" in str(exc) else "not JSON"
            raise _unsupported(
                route.operation, f"a request body that is {reason}", "one JSON object"
            ) from None
        if not isinstance(parsed, dict):
            raise _unsupported(
                route.operation, f"a JSON {type(parsed).__name__} body", "one JSON object"
            )
        document = parsed
    if route.model_from == "body":
        assert document is not None  # noqa: S101 (parsed above for body models)
        model = document.get("model")
        if not isinstance(model, str) or not model:
            raise _unsupported(
                route.operation, f"model {type(model).__name__}", "a model id string"
            )
        params["modelId"] = model
    else:
        params["modelId"] = path_model
    for header, name in GUARDRAIL_HEADERS.items():
        value = _single_header(route, headers, header)
        if value is not None:
            params[name] = value
    if route.tier_from == "body":
        assert document is not None  # noqa: S101
        if "service_tier" in document:
            params["serviceTier"] = document["service_tier"]
    elif route.tier_from == "header":
        tier = _single_header(route, headers, TIER_HEADER)
        if tier is not None:
            params["serviceTier"] = tier
    flag = document.get("stream", False) if document is not None else False
    if not isinstance(flag, bool):
        # The service may read 1 or "true" as a stream the span would not expect.
        raise _unsupported(route.operation, f"stream {type(flag).__name__}", "stream true or false")
    stream = route.stream == "eventstream" or flag
    return Snapshot(params=params, body=document, stream=stream)
