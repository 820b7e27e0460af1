"""Secured async ``bedrock-runtime`` clients on aiobotocore (``pip install 'securebedrock[aio]'``).

``async with securebedrock.aio.client(region_name="us-east-1") as client:`` gives an
aiobotocore client with the same policy, engine, wire check, telemetry and retry
bounds as :func:`securebedrock.client`; :class:`Session` is an ``AioSession`` whose
``bedrock-runtime`` clients are secured; :func:`secure` secures an existing one
(aioboto3's included). See docs/async.md.
"""

from __future__ import annotations

try:
    import aiobotocore  # noqa: F401
    import aiohttp  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "securebedrock.aio needs aiobotocore: pip install 'securebedrock[aio]'"
    ) from exc

from ._client import AsyncSecuredEventStream, Session, client, secure

__all__ = ["AsyncSecuredEventStream", "Session", "client", "secure"]
