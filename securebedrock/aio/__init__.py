"""Secured async ``bedrock-runtime`` clients on aiobotocore (``pip install 'securebedrock[aio]'``).

``async with securebedrock.aio.client(region_name="us-east-1") as client:`` gives an
aiobotocore client with the same policy, engine, wire check, telemetry and retry
bounds as :func:`securebedrock.client`; :class:`Session` is an ``AioSession`` whose
``bedrock-runtime`` clients are secured; :func:`secure` secures an existing one
(aioboto3's included). Importing this package also puts :func:`securebedrock.install`'s
hook on aiobotocore's ``AioSession.create_client`` (``securebedrock.aio._install``).
See docs/async.md.
"""

from __future__ import annotations

try:
    import aiobotocore  # noqa: F401
    import aiohttp  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "securebedrock.aio needs aiobotocore: pip install 'securebedrock[aio]'"
    ) from exc

from . import _install
from ._client import AsyncSecuredEventStream, Session, client, secure

_install.hook()

__all__ = ["AsyncSecuredEventStream", "Session", "client", "secure"]
