"""``install()`` for aiobotocore: secure every async ``bedrock-runtime`` client created after it.

aiobotocore's ``AioSession`` overrides ``create_client`` without calling botocore's,
so the sync hook never sees its clients. This module puts one class-level wrapper
around ``AioSession.create_client``, which every way of making an async client ends
at: ``aiobotocore.session.get_session().create_client(...)``, aioboto3's
``Session().client(...)`` (llama-index's async methods use it) and subclasses that
call up. Per client, like the sync hook:

- other services, and securebedrock's own entry points (``securebedrock.aio.client()``
  creates its client without ``create_client``; ``securebedrock.aio.Session``
  overrides it), pass through untouched;
- after :func:`securebedrock.install`: the client is created and secured with the
  installed policy, telemetry and retry bounds, exactly as
  :func:`securebedrock.aio.client` does (a refused endpoint raises when the client
  context is entered);
- without it, when an org policy file exists: the client is created as it is, and
  its first call while still unsecured warns once (:class:`UnsecuredClientWarning`).

The wrapper is put in place by :func:`securebedrock.install` (when aiobotocore is
installed) and by importing ``securebedrock.aio``.
"""

from __future__ import annotations

import threading
from typing import Any

from aiobotocore.client import AioBaseClient
from aiobotocore.session import AioSession, ClientCreatorContext

from .. import _client, _install
from .._constants import SERVICE_NAME
from ._client import _create_secured

__all__ = ["hook"]

_lock = threading.Lock()


def hook() -> None:
    """Wrap ``AioSession.create_client`` once (idempotent, thread-safe)."""
    with _lock:
        if getattr(AioSession.create_client, "_securebedrock_original", None) is not None:
            return
        original = AioSession.create_client

        def create_client(self: AioSession, *args: Any, **kwargs: Any) -> Any:
            """``AioSession.create_client``, securing ``bedrock-runtime`` clients."""
            service_name = args[0] if args else kwargs.get("service_name")
            if service_name != SERVICE_NAME:
                return original(self, *args, **kwargs)
            state = _install._installed
            if state is None:
                return ClientCreatorContext(_create_watched(self, args, kwargs))
            _, bound = _client._bind_client_arguments(args, kwargs)
            return ClientCreatorContext(
                _create_secured(
                    self,
                    state.policy,
                    bound,
                    retry=state.retry,
                    session_view=_install._session_view(self),
                    tracer_provider=state.tracer_provider,
                    meter_provider=state.meter_provider,
                )
            )

        create_client._securebedrock_original = original  # type: ignore[attr-defined]
        AioSession.create_client = create_client


async def _create_watched(
    session: AioSession, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AioBaseClient:
    client: AioBaseClient = await session._create_client(*args, **kwargs)
    if _install._org_policy_present():
        _install._watch(client)
    return client
