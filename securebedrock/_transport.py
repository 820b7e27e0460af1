"""Transport hardening (issue 5 completes this).

INTERIM: no checks yet. CONTRACT:
- ``prepare_client_kwargs(policy, kwargs, boto_session) -> kwargs`` runs before the
  botocore client is created (FIPS, verify, endpoint overrides).
- ``harden_client(client, policy)`` runs on the created client (TLS floor on the
  SSLContext, connect-time peer checks, proxies), idempotently.
"""

from __future__ import annotations

from typing import Any

from botocore.client import BaseClient

from ._policy import Policy


def prepare_client_kwargs(
    policy: Policy, kwargs: dict[str, Any], boto_session: Any
) -> dict[str, Any]:
    return kwargs


def harden_client(client: BaseClient, policy: Policy) -> None:
    return None
