"""The async entry points: ``client()``, ``Session`` and ``secure()`` on aiobotocore.

The same policy discovery, engine, snapshot, wire check, telemetry and retry bounds
as the sync client (``securebedrock._adapter``): a secured aiobotocore client is the
real ``AioBaseClient``, its ``_make_api_call`` replaced by :class:`AsyncSecuredApiCall`
and its HTTP session by :class:`~securebedrock.aio._transport.HardenedAIOHTTPSession`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.credentials
from aiobotocore.client import AioBaseClient
from aiobotocore.session import AioSession, ClientCreatorContext

from .. import _adapter, _discovery, _profiles, _retry, _rules
from .._client import (
    SecuredSessionSettings,
    _bind_client_arguments,
    _check_service,
    _creation_kwargs,
    _securing,
)
from .._constants import SERVICE_NAME
from .._policy import Policy
from .._telemetry import SecuredEventStream
from . import _transport as _aio_transport

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["AsyncSecuredApiCall", "AsyncSecuredEventStream", "Session", "client", "secure"]

_ClientT = TypeVar("_ClientT", bound=AioBaseClient)


class AsyncSecuredEventStream(SecuredEventStream):
    """An aiobotocore event stream that ends the call's span when the stream ends.

    Iterate it with ``async for``. Same truthful endings as the sync stream: a
    stream that ends before its terminal event raises
    :class:`~securebedrock.StreamInterruptedError`.
    """

    def __iter__(self) -> Any:
        raise NotImplementedError("Use async-for instead")

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._sb_aiter()

    async def _sb_aiter(self) -> AsyncIterator[Any]:
        iterator = self._sb_inner.__aiter__()
        while True:
            try:
                event = await iterator.__anext__()
            except StopAsyncIteration:
                self._sb_stopped()
                return
            except BaseException as exc:
                self._sb_done("error", exc)
                raise
            self._sb_seen(event)
            yield event

    def __repr__(self) -> str:
        return f"<securebedrock async stream wrapping {self._sb_inner!r}>"


class AsyncSecuredApiCall:
    """The replacement for an aiobotocore client's ``_make_api_call``."""

    def __init__(self, state: _adapter.SecuredState) -> None:
        self._state = state

    async def __call__(self, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        state = self._state
        call = _adapter.CallInProgress(state, operation_name, api_params)
        try:
            with call.audit.active():
                decision = _adapter.decide_before_resolution(state, call.call)
                if _adapter.needs_resolution(state, decision):
                    resolved = await _resolve_off_the_loop(state, call.call, decision)
                else:
                    resolved = (call.call, decision)
                prepared = call.decide(resolved)
                response = await state.retrier.run_async(
                    lambda attempt_params: state.original(operation_name, attempt_params),
                    prepared,
                    call.audit,
                )
        except BaseException as exc:
            call.failed(exc)
            raise
        finally:
            call.close()
        return call.audit.response(response, AsyncSecuredEventStream)


async def _resolve_off_the_loop(
    state: _adapter.SecuredState, call: _rules.Call, decision: _rules.Decision
) -> tuple[_rules.Call, _rules.Decision]:
    """Profile look-ups use a sync control-plane client: in a worker thread, signed
    with the runtime client's credentials as they are now (read with ``await``)."""
    client = state.client()
    signer = getattr(client, "_request_signer", None)
    credentials = getattr(signer, "_credentials", None)
    frozen = None
    if credentials is not None:
        current = await credentials.get_frozen_credentials()
        frozen = botocore.credentials.Credentials(
            current.access_key, current.secret_key, current.token
        )
    token = _profiles.override_credentials.set(frozen)
    try:
        return await asyncio.to_thread(_adapter.decide_with_profiles, state, call, decision)
    finally:
        _profiles.override_credentials.reset(token)


def _secure_with(raw: AioBaseClient, effective: Policy, **observe: Any) -> AioBaseClient:
    previous = _adapter.installed_policy(raw)
    if previous is not None:
        # Securing twice only ever tightens: the new policy merges over the old.
        effective = previous.merge(effective)
    _aio_transport.harden_client(raw, effective)
    _adapter.install(raw, effective, api_call=AsyncSecuredApiCall, **observe)
    return raw


async def _create_secured(
    aio_session: AioSession,
    effective: Policy,
    kwargs: dict[str, Any],
    *,
    retry: _retry.RetryConfig | None = None,
    session_view: Any = None,
    **observe: Any,
) -> AioBaseClient:
    """Create the client on ``aio_session`` and secure it; ``session_view`` is what the
    endpoint and region checks read the session's settings from (default: the session)."""
    view = aio_session if session_view is None else session_view
    prepared, bounds = _creation_kwargs(effective, kwargs, view, retry)
    raw: AioBaseClient = await AioSession._create_client(aio_session, SERVICE_NAME, **prepared)
    try:
        return _secure_with(raw, effective, retry=bounds, **observe)
    except BaseException:
        # The refusal is what the caller must see, not a failure to close what was
        # never opened.
        with contextlib.suppress(Exception):
            await raw.close()
        raise


def client(
    *args: Any,
    policy: Policy | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    retry: _retry.RetryConfig | None = None,
    **kwargs: Any,
) -> ClientCreatorContext:
    """A secured async ``bedrock-runtime`` client, as an async context manager.

    ``async with securebedrock.aio.client(region_name="us-east-1") as client:``
    takes what ``AioSession.create_client("bedrock-runtime", ...)`` takes (the
    service name may be left out), plus ``policy``, ``tracer_provider``,
    ``meter_provider`` and ``retry`` as for :func:`securebedrock.client`. Each call
    makes a new aiobotocore session (environment, config files); use
    :class:`Session` to share one.
    """
    if not args and "service_name" not in kwargs:
        args = (SERVICE_NAME,)
    service_name, bound = _bind_client_arguments(args, kwargs)
    _check_service(service_name)
    effective = _discovery.effective_policy(policy)
    observe = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
    return ClientCreatorContext(
        _create_secured(AioSession(), effective, bound, retry=retry, **observe)
    )


def secure(
    client: _ClientT,
    policy: Policy | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    retry: _retry.RetryConfig | None = None,
) -> _ClientT:
    """Secure an existing aiobotocore ``bedrock-runtime`` client in place and return it.

    As :func:`securebedrock.secure`, for ``AioSession().create_client(...)`` clients
    (aioboto3's too). Secure it before its first call: a client that already opened
    connections is refused.
    """
    if not isinstance(client, AioBaseClient):
        raise TypeError(
            "securebedrock.aio.secure() takes an aiobotocore bedrock-runtime client; "
            f"found {type(client).__name__} (use securebedrock.secure() for boto3 clients)"
        )
    effective, retry = _securing(client, policy, retry)
    _secure_with(
        client,
        effective,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        retry=retry,
    )
    return client


class Session(SecuredSessionSettings, AioSession):  # type: ignore[misc]
    """An aiobotocore ``AioSession`` whose ``bedrock-runtime`` clients are secured.

    ``async with session.create_client("bedrock-runtime", ...) as client:``; other
    services are untouched.
    """

    def create_client(self, *args: Any, **kwargs: Any) -> ClientCreatorContext:
        """Like ``AioSession.create_client``; ``bedrock-runtime`` clients come back secured."""
        service_name, bound = _bind_client_arguments(args, kwargs)
        if service_name != SERVICE_NAME:
            return super().create_client(service_name, **bound)
        return ClientCreatorContext(
            _create_secured(self, self._securebedrock_policy, bound, **self._securebedrock_observe)
        )
