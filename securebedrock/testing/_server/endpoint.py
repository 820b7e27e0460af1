"""The embedded HTTPS Bedrock endpoint: what a test starts, configures and asserts on."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..._policy import Policy
from .. import _ca, _handlers, _org
from .._handlers import GuardrailSpec, InferenceProfileSpec
from .auth import authenticate
from .faults import Faults
from .http import HTTPSServer
from .recording import HandshakeFailure, RecordedRequest, Recorder

__all__ = ["DEFAULT_ACCESS_KEY", "DEFAULT_ACCOUNT_ID", "DEFAULT_SECRET_KEY", "EmbeddedBedrock"]

DEFAULT_ACCESS_KEY = "AKIAEMBEDDEDBEDROCK0"
DEFAULT_SECRET_KEY = "embedded-bedrock-test-secret-key-0000000"  # noqa: S105 (test-only)
DEFAULT_ACCOUNT_ID = "123456789012"


class EmbeddedBedrock:
    """A real HTTPS Bedrock endpoint on loopback for tests (a context manager).

    Speaks the ``bedrock-runtime`` wire protocol (REST-JSON and AWS event
    streams) for all operations, plus the control-plane ``GetInferenceProfile``
    and ``GetGuardrail``; verifies SigV4 for its own test credentials; records
    every request; answers deterministically; injects faults on demand.

        with EmbeddedBedrock() as server:
            client = boto3.client("bedrock-runtime", **server.client_kwargs())
            client.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=[...])
            assert server.requests[-1].operation == "Converse"

    ``certificate`` selects what the server presents: ``"valid"`` (for
    ``127.0.0.1``, ``::1`` and ``localhost``, issued by the CA at
    ``ca_bundle``), or, to prove a client really verifies, ``"wrong_host"``
    (trusted CA, other name), ``"expired"`` (trusted CA, right names, expired)
    or ``"untrusted"`` (right names, a CA not in ``ca_bundle``).
    """

    def __init__(
        self,
        guardrails: Sequence[GuardrailSpec] = (),
        *,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        port: int = 0,
        tls_max_version: Literal["1.2", "1.3"] = "1.3",
        certificate: _ca.CertificateKind = "valid",
        access_key: str = DEFAULT_ACCESS_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
        bearer_tokens: Iterable[str] = (),
        account_id: str = DEFAULT_ACCOUNT_ID,
        answer: str = _handlers.DEFAULT_ANSWER,
        stream_events: int | None = None,
    ) -> None:
        if tls_max_version not in ("1.2", "1.3"):
            raise ValueError("tls_max_version must be '1.2' or '1.3'")
        self.region = region
        self.host = host
        self.access_key = access_key
        self.secret_key = secret_key
        self.account_id = account_id
        self.tls_max_version = tls_max_version
        self.bearer_tokens: set[str] = set(bearer_tokens)
        self.faults = Faults()
        self._requested_port = port
        self._backend = _handlers.Backend(
            region=region,
            account_id=account_id,
            guardrails=guardrails,
            answer=answer,
            stream_events=stream_events,
        )
        self._credentials = {access_key: secret_key}
        self.certificate = certificate
        self._files = _ca.certificate_files(certificate)
        self._ssl_context = self._make_ssl_context()
        self._lock = threading.Lock()
        self._recorder = Recorder()
        self._connections: set[ssl.SSLSocket] = set()
        self._stopping = threading.Event()
        self._httpd: HTTPSServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    def _make_ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = (
            ssl.TLSVersion.TLSv1_2 if self.tls_max_version == "1.2" else ssl.TLSVersion.TLSv1_3
        )
        context.load_cert_chain(self._files.server_cert, self._files.server_key)
        return context

    def start(self) -> EmbeddedBedrock:
        """Bind, and serve in a background thread; returns ``self``."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = HTTPSServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_until_stopped,
            name=f"embedded-bedrock-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection; never blocks for long."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.request_stop()
        if thread is not None:
            thread.join(timeout=5)
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd = None
        self._thread = None

    def __repr__(self) -> str:
        where = self.endpoint_url if self._httpd is not None else "not started"
        requests = len(self._recorder.requests)
        return f"EmbeddedBedrock({where}, region={self.region!r}, requests={requests})"

    def __enter__(self) -> EmbeddedBedrock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where and how to connect ---------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on (after ``start()``)."""
        if self._httpd is None:
            raise RuntimeError("EmbeddedBedrock is not started")
        return int(self._httpd.server_address[1])

    @property
    def endpoint_url(self) -> str:
        """``https://127.0.0.1:<port>``: pass as ``endpoint_url=``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ca_bundle(self) -> str:
        """Path of the throwaway CA's PEM file: pass as ``verify=``."""
        return self._files.ca_bundle

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client(...)`` / ``securebedrock.client(...)``."""
        return {
            "endpoint_url": self.endpoint_url,
            "verify": self.ca_bundle,
            "region_name": self.region,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
        }

    def pin(self, policy: Policy | None = None) -> Policy:
        """A copy of ``policy`` (default ``Policy.default()``) pinned to this endpoint.

        Only ``network.endpoint_url`` and ``network.control_plane_endpoint_url``
        change (this server answers both the runtime and the control plane; per-region
        pins are dropped), so the endpoint-override rule accepts this loopback server
        and nothing else.
        This is an *org* policy: only the org layer may pin an endpoint outside
        AWS, and given in code (``policy=``) it is refused. :meth:`org_policy`
        installs it as the org policy file.
        """
        base = policy if policy is not None else Policy.default()
        network = dataclasses.replace(
            base.network,
            endpoint_url=self.endpoint_url,
            endpoint_urls={},
            control_plane_endpoint_url=self.endpoint_url,
            control_plane_endpoint_urls={},
        )
        return dataclasses.replace(base, network=network)

    def org_policy(self, policy: Policy | None = None) -> contextlib.AbstractContextManager[Path]:
        """Run a block under an org policy file that pins this server.

        ``with server.org_policy(policy):`` writes :meth:`pin` of ``policy``
        (default ``Policy.default()``) to a temporary file, sets
        ``SECUREBEDROCK_POLICY_FILE`` to it and unsets
        ``SECUREBEDROCK_POLICY_PUBLIC_KEY`` (the file is unsigned); both are
        restored when the block ends, and the file is removed. Clients and
        sessions created inside the block enforce that org policy, with any
        ``policy=`` given in code merged over it as an overlay, exactly as on a
        host with an org file; the host's own org file is out of the picture.
        Yields the file's path.

        The variables belong to the process: the file applies to every thread
        and to subprocesses started in the block. Blocks nest; the innermost
        open one applies.
        """
        return _org.installed_org_policy(self.pin(policy))

    # -- behaviour -------------------------------------------------------------

    @property
    def stream_events(self) -> int | None:
        """Text deltas per streamed answer (``None``: one per word of the answer).

        A prompt containing ``[[stream:N]]`` overrides it for that request.
        """
        return self._backend.stream_events

    @stream_events.setter
    def stream_events(self, value: int | None) -> None:
        self._backend.stream_events = value

    @property
    def answer(self) -> str:
        """The canned text every model answers with."""
        return self._backend.answer

    @answer.setter
    def answer(self, value: str) -> None:
        self._backend.answer = value

    @property
    def guardrails(self) -> tuple[GuardrailSpec, ...]:
        """The guardrails configured on this endpoint."""
        return self._backend.guardrails

    def add_guardrail(self, spec: GuardrailSpec) -> None:
        """Configure a guardrail (served by ``GetGuardrail`` too)."""
        self._backend.add_guardrail(spec)

    def add_inference_profile(
        self,
        identifier_or_arn: str,
        models: Sequence[str],
        type: Literal["APPLICATION", "SYSTEM_DEFINED"] = "APPLICATION",
    ) -> InferenceProfileSpec:
        """Configure an inference profile served by ``GetInferenceProfile``."""
        return self._backend.add_inference_profile(identifier_or_arn, models, type)

    def set_tool_input(self, tool_name: str, tool_input: Any) -> None:
        """The JSON input the model sends when it asks to use ``tool_name``."""
        self._backend.set_tool_input(tool_name, tool_input)

    def add_credentials(self, access_key: str, secret_key: str) -> None:
        """Accept SigV4 signatures made with another key pair too."""
        with self._lock:
            self._credentials[access_key] = secret_key

    # -- what was received -----------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        return self._recorder.requests

    @property
    def handshake_failures(self) -> list[HandshakeFailure]:
        """Connections whose TLS handshake failed (no request was read from them)."""
        return self._recorder.handshake_failures

    def clear(self) -> None:
        """Forget recorded requests and handshake failures."""
        self._recorder.clear()

    # -- internals used by the handler -------------------------------------------

    def _track(self, connection: ssl.SSLSocket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _authenticate(
        self,
        method: str,
        raw_path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        service: str = "bedrock",
    ) -> tuple[str, str | None]:
        with self._lock:
            credentials = dict(self._credentials)
        return authenticate(
            method,
            raw_path,
            query,
            headers,
            body,
            credentials=credentials,
            bearer_tokens=self.bearer_tokens,
            region=self.region,
            service=service,
        )
