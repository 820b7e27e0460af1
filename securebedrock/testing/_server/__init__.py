"""The embedded HTTPS Bedrock endpoint: sockets, TLS, auth, recording, faults.

One module per seam:

- :mod:`.endpoint`: :class:`EmbeddedBedrock`, what a test starts, configures and
  asserts on;
- :mod:`.http`: the HTTP plumbing (accept loop, TLS handshake, request handler,
  response writers);
- :mod:`.auth`: SigV4 verification and bearer API keys;
- :mod:`.recording`: the requests and failed handshakes the endpoint saw;
- :mod:`.faults`: fault injection (errors, delays, broken streams).

What each operation answers is ``_handlers``.
"""

from __future__ import annotations

from . import auth, faults, http
from .endpoint import DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT_ID, DEFAULT_SECRET_KEY, EmbeddedBedrock
from .faults import Faults
from .recording import HandshakeFailure, RecordedHeaders, RecordedRequest

__all__ = [
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_SECRET_KEY",
    "EmbeddedBedrock",
    "Faults",
    "HandshakeFailure",
    "RecordedHeaders",
    "RecordedRequest",
]

# The private names from when this package was a single module (benchmarks patch
# ``_Handler``; tests read ``_STREAMING_OPERATIONS``).
_Handler = http.RequestHandler
_HTTPSServer = http.HTTPSServer
_STREAMING_OPERATIONS = http.STREAMING_OPERATIONS
_Fault = faults.Fault
_AuthError = auth.AuthError
