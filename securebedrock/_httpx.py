"""httpx transports for the OpenAI- and Anthropic-compatible APIs Bedrock serves.

``httpx.Client(transport=securebedrock.HTTPTransport(region_name="us-east-1"))`` (or an
``httpx2.Client``: the transports serve both, for the SDKs built on either) sends every
request through the org policy, like :func:`securebedrock.client` does for boto3:

1. the destination, from httpx's own parse of the URL: https, a bedrock-runtime or
   bedrock-mantle host of the transport's region (or the pinned endpoint);
2. the API, from the method and path (:data:`securebedrock._httpx_api.ROUTES`);
3. the decision of the policy engine on a plain snapshot (model, guardrail headers,
   service tier, auth), applied: the mandated guardrail's headers attached, a model
   mapped to its inference profile;
4. the auth: with ``auth.allow_api_keys = false`` a bearer key is never sent, each
   request is signed with SigV4 from the AWS credential chain instead;
5. the last check: the request about to be written says what was decided;
6. the connection: TLS floor and peer address, before the request is written;
7. the response: passed through unchanged, observed for the audit span.

A refusal raises the :class:`~securebedrock.SecureBedrockError` before anything is sent.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

from ._httpx_conn import ConnectionChecks
from ._httpx_core import Core, _Plan, fail, handshake_refusal, module_of
from ._policy import Policy

__all__ = ["AsyncHTTPTransport", "HTTPTransport"]


class _PolicyTransport:
    """What both transports hold: the policy core, and one inner transport per HTTP
    library (httpx or httpx2), made on first use with the hardened SSL context."""

    #: The inner transport class of the HTTP library (``HTTPTransport`` or the async one).
    _inner_class: str

    def __init__(
        self,
        *,
        region_name: str,
        policy: Policy | None = None,
        verify: str | bool = True,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        botocore_session: Any = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        self._core = Core(
            region_name=region_name,
            policy=policy,
            verify=verify,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            botocore_session=botocore_session,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        self._inner: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def policy(self) -> Policy:
        """The effective policy this transport enforces."""
        return self._core.policy

    def _transport_for(self, module: Any) -> Any:
        name = module.__name__
        inner = self._inner.get(name)
        if inner is None:
            with self._lock:
                inner = self._inner.get(name)
                if inner is None:
                    factory = getattr(module, self._inner_class)
                    inner = factory(verify=self._core.ssl_context, trust_env=False)
                    self._inner[name] = inner
        return inner

    def _outgoing(
        self, request: Any, plan: _Plan, *, is_async: bool
    ) -> tuple[Any, ConnectionChecks]:
        """The request to send as decided, with the connection checks hooked into it."""
        core = self._core
        outgoing = core.build(request, plan)
        checks = ConnectionChecks(
            guard=core.guard,
            host=plan.endpoint.host,
            previous=outgoing.extensions.get("trace"),
            known=core.connections,
        )
        outgoing.extensions["trace"] = checks.async_hook if is_async else checks.sync_hook
        return outgoing, checks

    def _failed(self, plan: _Plan, exc: BaseException) -> BaseException | None:
        """Record a failed send; the refusal to raise instead when the handshake broke a rule."""
        refusal = handshake_refusal(self._core.guard, plan.endpoint.host, exc)
        fail(plan.record, refusal or exc)
        return refusal


class HTTPTransport(_PolicyTransport, httpx.BaseTransport):
    """An httpx (or httpx2) transport that enforces the org policy on Bedrock's
    OpenAI- and Anthropic-compatible APIs.

    ``httpx.Client(transport=HTTPTransport(region_name="us-east-1", policy=...))``.
    ``policy`` tightens the org policy file, as with :func:`securebedrock.client`;
    ``verify`` is a CA bundle path (never ``False``); credentials for SigV4 come from
    the arguments, ``botocore_session``, or the AWS credential chain.
    """

    _inner_class = "HTTPTransport"

    def handle_request(self, request: Any) -> Any:
        """Check, decide, sign and send one request (refusals raise before sending)."""
        plan = self._core.plan(request)
        try:
            with plan.record.active():
                outgoing, checks = self._outgoing(request, plan, is_async=False)
                response = self._transport_for(module_of(request)).handle_request(outgoing)
        except BaseException as exc:
            refusal = self._failed(plan, exc)
            if refusal is not None:
                raise refusal from exc
            raise
        return self._core.observe(response, plan, checks, is_async=False)

    def close(self) -> None:
        """Close the connection pools."""
        for inner in list(self._inner.values()):
            inner.close()


class AsyncHTTPTransport(_PolicyTransport, httpx.AsyncBaseTransport):
    """The async counterpart of :class:`HTTPTransport`, for ``httpx.AsyncClient``
    (or ``httpx2.AsyncClient``); same arguments, same checks."""

    _inner_class = "AsyncHTTPTransport"

    async def handle_async_request(self, request: Any) -> Any:
        """Check, decide, sign and send one request (refusals raise before sending)."""
        await request.aread()
        plan = self._core.plan(request)
        try:
            with plan.record.active():
                outgoing, checks = self._outgoing(request, plan, is_async=True)
                transport = self._transport_for(module_of(request))
                response = await transport.handle_async_request(outgoing)
        except BaseException as exc:
            refusal = self._failed(plan, exc)
            if refusal is not None:
                raise refusal from exc
            raise
        return self._core.observe(response, plan, checks, is_async=True)

    async def aclose(self) -> None:
        """Close the connection pools."""
        for inner in list(self._inner.values()):
            await inner.aclose()
