"""Transport checks on the real connection: private endpoint, TLS floor, telemetry info.

Run it: ``python examples/transport/transport_checks.py`` (starts its own
embedded endpoints on loopback; no AWS account, no network). Each server runs
under a throwaway org policy file (``server.org_policy``) that pins it and
allows loopback as the "private" range: only the org layer may widen
``allowed_cidrs`` or pin an endpoint outside AWS.
"""

from __future__ import annotations

from typing import Any

import securebedrock
from securebedrock import _transport
from securebedrock.testing import EmbeddedBedrock

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]

# --8<-- [start:org-policy]
ORG_POLICY = """
version = 1

[tls]
minimum_version = "1.3"

[network]
require_private_endpoint = true
allowed_cidrs = ["127.0.0.0/8"]   # in production: your VPC ranges, e.g. "10.0.0.0/8"
allow_proxy = false
"""
# --8<-- [end:org-policy]


def main() -> None:
    """Show a compliant call's connection info, then a refused TLS 1.2 server."""
    org = securebedrock.Policy.from_toml(ORG_POLICY)
    with EmbeddedBedrock() as server, server.org_policy(org):
        # --8<-- [start:connection-info]
        client: Any = securebedrock.client(**server.client_kwargs())
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
        info = _transport.last_connection()  # the connection that carried this request
        assert info is not None
        print(f"sent over {info.tls_version} to {info.peer_ip} ({info.address_class})")
        # --8<-- [end:connection-info]

    with EmbeddedBedrock(tls_max_version="1.2") as old_server, old_server.org_policy(org):
        # --8<-- [start:tls-floor]
        client = securebedrock.client(**old_server.client_kwargs())
        try:
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
        except securebedrock.TransportSecurityError as error:
            print(f"refused by {error.rule}: {error.found}")
        print(f"requests the TLS 1.2 server received: {len(old_server.requests)}")
        # --8<-- [end:tls-floor]


if __name__ == "__main__":
    main()
