"""``python -m securebedrock.testing``: run an embedded Bedrock endpoint until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from ._ca import CERTIFICATE_KINDS
from ._handlers import GuardrailSpec
from ._server import EmbeddedBedrock


def main(argv: Sequence[str] | None = None) -> int:
    """Start a server, print how to reach it, and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m securebedrock.testing",
        description="Run an embedded Bedrock endpoint on loopback for offline testing.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument(
        "--tls-max", choices=("1.2", "1.3"), default="1.3", help="highest TLS version served"
    )
    parser.add_argument(
        "--certificate",
        choices=CERTIFICATE_KINDS,
        default="valid",
        help="the server certificate: valid, or broken to test client verification",
    )
    parser.add_argument(
        "--guardrail",
        action="append",
        default=[],
        metavar="ID:VERSION:WORD[,WORD...]",
        help="configure a guardrail that blocks the given words (repeatable)",
    )
    args = parser.parse_args(argv)
    guardrails = []
    for value in args.guardrail:
        identifier, _, rest = value.partition(":")
        version, _, words = rest.partition(":")
        guardrails.append(
            GuardrailSpec(
                identifier=identifier,
                version=version or "1",
                blocked_words=tuple(w for w in words.split(",") if w),
            )
        )
    server = EmbeddedBedrock(
        guardrails,
        port=args.port,
        region=args.region,
        tls_max_version=args.tls_max,
        certificate=args.certificate,
    )
    # SIGTERM (e.g. from a process manager) stops cleanly like Ctrl-C, so the
    # throwaway CA's temporary directory is removed at exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server:
        print(f"endpoint_url:          {server.endpoint_url}")
        print(f"ca_bundle:             {server.ca_bundle}")
        print(f"region:                {server.region}")
        print(f"aws_access_key_id:     {server.access_key}")
        print(f"aws_secret_access_key: {server.secret_key}")
        print("Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
