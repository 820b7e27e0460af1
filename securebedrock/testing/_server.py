"""The embedded HTTPS Bedrock endpoint: sockets, TLS, auth, recording, faults.

A ``ThreadingHTTPServer`` on loopback. The TLS handshake runs in the
connection's own thread (not in the accept loop), so one slow or failing
client never stalls the others. HTTP/1.1 keep-alive lets botocore pool
connections as it does against the real service.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from .._operations import OPERATIONS
from .._policy import Policy
from . import _ca, _eventstream, _handlers, _org, _sigv4
from ._handlers import ApiError, GuardrailSpec, InferenceProfileSpec, JsonResponse, StreamResponse

__all__ = [
    "EmbeddedBedrock",
    "Faults",
    "HandshakeFailure",
    "RecordedHeaders",
    "RecordedRequest",
]

_log = logging.getLogger("securebedrock.testing")

DEFAULT_ACCESS_KEY = "AKIAEMBEDDEDBEDROCK0"
DEFAULT_SECRET_KEY = "embedded-bedrock-test-secret-key-0000000"  # noqa: S105 (test-only)
DEFAULT_ACCOUNT_ID = "123456789012"

_STREAMING_OPERATIONS = frozenset(
    name for name, op in OPERATIONS.items() if op.stream_key is not None
)


class RecordedHeaders(Mapping[str, str]):
    """Request headers as received, looked up case-insensitively."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = tuple(items)
        self._lookup: dict[str, str] = {}
        for name, value in self._items:
            key = name.lower()
            self._lookup[key] = f"{self._lookup[key]},{value}" if key in self._lookup else value

    def __getitem__(self, name: str) -> str:
        return self._lookup[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup)

    def __len__(self) -> int:
        return len(self._lookup)

    def items_as_received(self) -> tuple[tuple[str, str], ...]:
        """The headers in wire order with their original spelling."""
        return self._items

    def __repr__(self) -> str:
        return f"RecordedHeaders({dict(self._lookup)!r})"


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """One request the server received, refused ones included.

    ``status`` is what the server answered; ``error_type`` the AWS error code
    it sent (``None`` on success); ``auth`` is ``"sigv4"``, ``"bearer"`` or
    ``"none"`` as *presented* by the client, whether or not it verified.
    """

    operation: str
    method: str
    path: str
    query: str
    headers: RecordedHeaders
    body: bytes
    model_id: str | None
    tls_version: str | None
    client_address: tuple[str, int]
    status: int
    error_type: str | None
    auth: Literal["sigv4", "bearer", "none"]
    access_key: str | None
    received_at: float

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass(frozen=True, kw_only=True)
class HandshakeFailure:
    """A connection whose TLS handshake failed (no HTTP request was read)."""

    client_address: tuple[str, int]
    error: str


@dataclass(kw_only=True)
class _Fault:
    kind: Literal["error", "close", "delay", "stream_error", "end_early"]
    remaining: int
    operation: str | None
    error: ApiError | None = None
    seconds: float = 0.0
    after_events: int = 2
    partial_event: bool = False
    close_delimited: bool = False


class Faults:
    """Fault injection: each method arms a fault for the next ``n`` matching requests.

    ``operation`` (e.g. ``"Converse"``) limits a fault to one operation; by
    default it applies to any authenticated request. Faults hit only requests
    that passed authentication, as real throttling does. Remember that botocore
    retries throttling and 5xx errors by itself: arm more faults than its
    attempts, or give the client ``Config(retries={"max_attempts": 1})``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def _arm(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def error(
        self,
        error_type: str,
        n: int = 1,
        *,
        status: int | None = None,
        message: str | None = None,
        operation: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests with a modelled error of ``error_type``."""
        self._arm(
            _Fault(
                kind="error",
                remaining=n,
                operation=operation,
                error=ApiError(error_type, message or f"Injected {error_type}", status),
            )
        )

    def throttle(self, n: int = 1, *, operation: str | None = None) -> None:
        """429 ``ThrottlingException`` for the next ``n`` requests."""
        self.error(
            "ThrottlingException",
            n,
            message="Too many requests, please wait before trying again.",
            operation=operation,
        )

    def server_error(self, n: int = 1, status: int = 500, *, operation: str | None = None) -> None:
        """5xx for the next ``n`` requests: 500 ``InternalServerException`` or 503
        ``ServiceUnavailableException``."""
        if status == 503:
            self.error("ServiceUnavailableException", n, status=503, operation=operation)
        elif status == 500:
            self.error("InternalServerException", n, status=500, operation=operation)
        else:
            raise ValueError("status must be 500 or 503")

    def model_not_ready(self, n: int = 1, *, operation: str | None = None) -> None:
        """429 ``ModelNotReadyException`` for the next ``n`` requests."""
        self.error(
            "ModelNotReadyException",
            n,
            message="Model is not ready for inference.",
            operation=operation,
        )

    def access_denied(self, n: int = 1, *, operation: str | None = None) -> None:
        """403 ``AccessDeniedException`` for the next ``n`` requests."""
        self.error(
            "AccessDeniedException",
            n,
            message="You don't have access to the model with the specified model ID.",
            operation=operation,
        )

    def close_mid_stream(
        self, n: int = 1, *, after_events: int = 2, operation: str | None = None
    ) -> None:
        """Drop the connection after ``after_events`` events of the next ``n`` streams."""
        self._arm(_Fault(kind="close", remaining=n, operation=operation, after_events=after_events))

    def end_stream_early(
        self,
        n: int = 1,
        *,
        after_events: int = 2,
        partial_event: bool = False,
        close_delimited: bool = False,
        operation: str | None = None,
    ) -> None:
        """End the next ``n`` streams after ``after_events`` events as if they were complete.

        The HTTP response ends normally (the final chunk is written), so the client
        sees an ordinary end of stream: what a proxy, a load balancer or a server that
        gives up can make of a cut stream. ``partial_event=True`` first sends half of
        the next event (botocore drops an incomplete event without a word);
        ``close_delimited=True`` answers without chunked framing and ends the body by
        closing the connection (HTTP/1.1 allows it; the client cannot tell a cut
        from the end).
        """
        self._arm(
            _Fault(
                kind="end_early",
                remaining=n,
                operation=operation,
                after_events=after_events,
                partial_event=partial_event,
                close_delimited=close_delimited,
            )
        )

    def stream_error(
        self,
        error_type: str = "modelStreamErrorException",
        n: int = 1,
        *,
        after_events: int = 2,
        message: str = "Injected error in the stream",
        operation: str | None = None,
    ) -> None:
        """End the next ``n`` streams with an exception *event* after ``after_events``.

        ``error_type`` is the stream's member name, e.g. ``"throttlingException"``,
        ``"modelStreamErrorException"``, ``"internalServerException"``; botocore
        raises ``EventStreamError`` with that code while the stream is iterated.
        """
        self._arm(
            _Fault(
                kind="stream_error",
                remaining=n,
                operation=operation,
                after_events=after_events,
                error=ApiError(error_type, message, 200),
            )
        )

    def delay(self, seconds: float, n: int = 1, *, operation: str | None = None) -> None:
        """Wait ``seconds`` before answering the next ``n`` requests."""
        self._arm(_Fault(kind="delay", remaining=n, operation=operation, seconds=seconds))

    def clear(self) -> None:
        """Disarm every pending fault."""
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> int:
        """How many fault occurrences are still armed."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def _take(self, kind: str, operation: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.operation in (None, operation):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EmbeddedBedrock"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version

    # Idle keep-alive connections are closed after this, like a real load balancer.
    timeout = 60
    # TCP_NODELAY: headers and body go out in separate sends; with Nagle on, the
    # body waits for the client's delayed ACK and every round trip costs ~40 ms.
    disable_nagle_algorithm = True
    server: _HTTPSServer

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.client_address, *args)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537).strip():
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        owner = self.server.owner
        received_at = time.time()
        raw_path, _, query = self.path.partition("?")
        body = self._read_body()
        headers = RecordedHeaders(self.headers.items())
        routed = _handlers.route(self.command, raw_path)
        operation, labels = routed if routed else ("Unknown", {})
        model_id = labels.get("modelId")
        if operation == "StartAsyncInvoke":
            parsed = _safe_json(body)
            model_id = parsed.get("modelId") if isinstance(parsed, dict) else None
        auth, access_key = "none", None
        response: JsonResponse | StreamResponse
        try:
            auth, access_key = owner._authenticate(self.command, raw_path, query, headers, body)
            if routed is None:
                raise ApiError("UnknownOperationException", "Unknown operation", 404)
            delay = owner.faults._take("delay", operation)
            if delay is not None and owner._stopping.wait(delay.seconds):
                # Stopped while delaying: the server is gone, so is the answer.
                self._drop_connection()
                return
            fault = owner.faults._take("error", operation)
            if fault is not None and fault.error is not None:
                raise fault.error
            response = owner._backend.handle(operation, labels, query, headers, body)
        except ApiError as error:
            if isinstance(error, _AuthError):
                auth = error.auth
            response = _error_response(error)
        except Exception:  # a bug in the emulator must not look like a network error
            _log.exception("embedded Bedrock failed on %s", operation)
            response = _error_response(ApiError("InternalServerException", "Internal error", 500))
        stream_fault = None
        if isinstance(response, StreamResponse) and operation in _STREAMING_OPERATIONS:
            stream_fault = (
                owner.faults._take("close", operation)
                or owner.faults._take("stream_error", operation)
                or owner.faults._take("end_early", operation)
            )
        status = response.status if isinstance(response, JsonResponse) else 200
        error_type = (
            response.headers.get("x-amzn-ErrorType") if isinstance(response, JsonResponse) else None
        )
        tls = self.connection.version() if isinstance(self.connection, ssl.SSLSocket) else None
        # Recorded before the response is written: when the client has its answer,
        # the record is already there for the test to assert on.
        owner._record(
            RecordedRequest(
                operation=operation,
                method=self.command,
                path=raw_path,
                query=query,
                headers=headers,
                body=body,
                model_id=model_id,
                tls_version=tls,
                client_address=(str(self.client_address[0]), int(self.client_address[1])),
                status=status,
                error_type=error_type,
                auth=auth,  # type: ignore[arg-type]
                access_key=access_key,
                received_at=received_at,
            )
        )
        if isinstance(response, JsonResponse):
            self._write_json(response)
        else:
            self._write_stream(response, stream_fault)

    def _common_headers(self) -> None:
        self.send_header("x-amzn-RequestId", self.server.owner._request_id())

    def _write_json(self, response: JsonResponse) -> None:
        self.send_response(response.status)
        self._common_headers()
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _write_stream(self, response: StreamResponse, fault: _Fault | None) -> None:
        self.send_response(200)
        self._common_headers()
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        for name, value in response.headers.items():
            self.send_header(name, value)
        if fault is not None and fault.close_delimited:
            self._write_close_delimited(response, fault)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for sent, event in enumerate(response.events):
            if fault is not None and sent >= fault.after_events:
                if fault.kind == "close":
                    self._drop_connection()
                    return
                if fault.kind == "end_early":
                    if fault.partial_event:
                        half = event[: len(event) // 2]
                        self.wfile.write(b"%X\r\n%s\r\n" % (len(half), half))
                    break
                assert fault.error is not None  # noqa: S101 (stream_error faults carry one)
                event = _eventstream.encode_exception(fault.error.error_type, fault.error.message)
                self.wfile.write(b"%X\r\n%s\r\n" % (len(event), event))
                break
            self.wfile.write(b"%X\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")

    def _write_close_delimited(self, response: StreamResponse, fault: _Fault) -> None:
        # No Content-Length, no chunked framing: the body ends when the connection does.
        self.send_header("Connection", "close")
        self.end_headers()
        for sent, event in enumerate(response.events):
            if sent >= fault.after_events:
                if fault.partial_event:
                    self.wfile.write(event[: len(event) // 2])
                break
            self.wfile.write(event)
        self.wfile.flush()
        self._drop_connection()

    def _drop_connection(self) -> None:
        # An abrupt drop (no TLS close_notify, no final chunk): what a client sees
        # when a load balancer or the network cuts a stream.
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _safe_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _error_response(error: ApiError) -> JsonResponse:
    return JsonResponse(
        status=error.status,
        body=json.dumps({"message": error.message}).encode("utf-8"),
        headers={"x-amzn-ErrorType": error.error_type},
    )


class _HTTPSServer(ThreadingHTTPServer):
    daemon_threads = True
    # stop() closes live connections itself; never wait on a client's keep-alive.
    block_on_close = False

    def __init__(self, address: tuple[str, int], owner: EmbeddedBedrock) -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        owner = self.owner
        request.settimeout(10)
        try:
            tls = owner._ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            owner._handshake_failed(client_address, error)
            return
        owner._track(tls, True)
        try:
            _Handler(tls, client_address, self)
        except OSError:
            pass  # client went away, or stop() closed the connection
        finally:
            owner._track(tls, False)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)


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
        self._requests: list[RecordedRequest] = []
        self._handshake_failures: list[HandshakeFailure] = []
        self._connections: set[ssl.SSLSocket] = set()
        self._request_counter = 0
        self._stopping = threading.Event()
        self._httpd: _HTTPSServer | None = None
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
        self._httpd = _HTTPSServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
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
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __repr__(self) -> str:
        where = self.endpoint_url if self._httpd is not None else "not started"
        return f"EmbeddedBedrock({where}, region={self.region!r}, requests={len(self._requests)})"

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
        with self._lock:
            return list(self._requests)

    @property
    def handshake_failures(self) -> list[HandshakeFailure]:
        """Connections whose TLS handshake failed (no request was read from them)."""
        with self._lock:
            return list(self._handshake_failures)

    def clear(self) -> None:
        """Forget recorded requests and handshake failures."""
        with self._lock:
            self._requests.clear()
            self._handshake_failures.clear()

    # -- internals used by the handler -------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handshake_failed(self, client_address: Any, error: BaseException) -> None:
        with self._lock:
            self._handshake_failures.append(
                HandshakeFailure(
                    client_address=(str(client_address[0]), int(client_address[1])),
                    error=f"{type(error).__name__}: {error}",
                )
            )

    def _track(self, connection: ssl.SSLSocket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _request_id(self) -> str:
        with self._lock:
            self._request_counter += 1
            number = self._request_counter
        return f"00000000-0000-4000-8000-{number:012d}"

    def _authenticate(
        self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[str, str | None]:
        authorization = headers.get("authorization", "")
        # As the real service (and securebedrock's own checks) read it: any whitespace
        # around or after the scheme, any case.
        scheme, *rest = authorization.split(None, 1) or [""]
        if scheme.casefold() == "bearer":
            token = rest[0].strip() if rest else ""
            if any(hmac.compare_digest(token, known) for known in self.bearer_tokens):
                return "bearer", None
            raise _AuthError(
                "bearer",
                None,
                "UnrecognizedClientException",
                "The API key included in the request is invalid.",
            )
        if not authorization:
            raise _AuthError(
                "none", None, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        with self._lock:
            credentials = dict(self._credentials)
        try:
            access_key = _sigv4.verify(
                method=method,
                raw_path=raw_path,
                raw_query=query,
                headers=headers,
                body=body,
                credentials=credentials,
                region=self.region,
            )
        except _sigv4.SignatureError as error:
            raise _AuthError("sigv4", None, error.error_type, error.message) from None
        return "sigv4", access_key


class _AuthError(ApiError):
    def __init__(self, auth: str, access_key: str | None, error_type: str, message: str) -> None:
        super().__init__(error_type, message, 403)
        self.auth = auth
        self.access_key = access_key
