"""HTTP plumbing of the embedded endpoint: sockets, TLS handshakes, request handling.

A ``ThreadingHTTPServer`` on loopback. The TLS handshake runs in the
connection's own thread (not in the accept loop), so one slow or failing
client never stalls the others. HTTP/1.1 keep-alive lets botocore pool
connections as it does against the real service. The accept loop waits on the
listening socket and on a wake-up socket, never on a timer: a stop takes effect
at once instead of at the next poll.
"""

from __future__ import annotations

import json
import logging
import selectors
import socket
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ..._operations import OPERATIONS
from .. import _eventstream, _handlers, _handlers_compat
from .._handlers import ApiError, JsonResponse, StreamResponse
from .auth import AuthError
from .faults import Fault
from .recording import RecordedHeaders, RecordedRequest

if TYPE_CHECKING:
    from .endpoint import EmbeddedBedrock

__all__ = ["STREAMING_OPERATIONS", "HTTPSServer", "RequestHandler"]

_log = logging.getLogger("securebedrock.testing")

#: The operations whose answer is an event stream (stream faults apply to these).
STREAMING_OPERATIONS = frozenset(
    name for name, op in OPERATIONS.items() if op.stream_key is not None
)


class RequestHandler(BaseHTTPRequestHandler):
    """Reads one HTTP request at a time: authenticates, injects faults, answers, records."""

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
    server: HTTPSServer

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
        routed = _handlers.route(self.command, raw_path) or _handlers_compat.route(
            self.command, raw_path
        )
        operation, labels = routed if routed else ("Unknown", {})
        model_id = labels.get("modelId")
        if operation == "StartAsyncInvoke" or operation in _handlers_compat.COMPAT_OPERATIONS:
            parsed = _safe_json(body)
            key = "modelId" if operation == "StartAsyncInvoke" else "model"
            found = parsed.get(key) if isinstance(parsed, dict) else None
            model_id = found if isinstance(found, str) else None
        auth, access_key = "none", None
        response: JsonResponse | StreamResponse | _handlers_compat.SseResponse
        try:
            auth, access_key = owner._authenticate(
                self.command,
                raw_path,
                query,
                headers,
                body,
                service=_handlers_compat.signing_service(operation),
            )
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
            if operation in _handlers_compat.COMPAT_OPERATIONS:
                response = _handlers_compat.handle(owner._backend, operation, headers, body)
            else:
                response = owner._backend.handle(operation, labels, query, headers, body)
        except ApiError as error:
            if isinstance(error, AuthError):
                auth = error.auth
            response = _error_response(error)
        except Exception:  # a bug in the emulator must not look like a network error
            _log.exception("embedded Bedrock failed on %s", operation)
            response = _error_response(ApiError("InternalServerException", "Internal error", 500))
        stream_fault = None
        if isinstance(response, StreamResponse) and operation in STREAMING_OPERATIONS:
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
        owner._recorder.record(
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
        elif isinstance(response, _handlers_compat.SseResponse):
            self._write_sse(response)
        else:
            self._write_stream(response, stream_fault)

    def _common_headers(self) -> None:
        self.send_header("x-amzn-RequestId", self.server.owner._recorder.request_id())

    def _write_json(self, response: JsonResponse) -> None:
        self.send_response(response.status)
        self._common_headers()
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _write_stream(self, response: StreamResponse, fault: Fault | None) -> None:
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

    def _write_sse(self, response: _handlers_compat.SseResponse) -> None:
        self.send_response(200)
        self._common_headers()
        self.send_header("Content-Type", "text/event-stream")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in response.events:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")

    def _write_close_delimited(self, response: StreamResponse, fault: Fault) -> None:
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


class HTTPSServer(ThreadingHTTPServer):
    """The listening socket of one endpoint; each connection is served in its own thread."""

    daemon_threads = True
    # stop() closes live connections itself; never wait on a client's keep-alive.
    block_on_close = False
    # handle_request() runs only once the listening socket is readable: never wait in it.
    timeout = 0

    def __init__(self, address: tuple[str, int], owner: EmbeddedBedrock) -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RequestHandler)
        self._stop_requested = False
        self._wake_receiver, self._wake_sender = socket.socketpair()

    def serve_until_stopped(self) -> None:
        """Accept connections until :meth:`request_stop` (call it from another thread)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_receiver, selectors.EVENT_READ)
            while not self._stop_requested:
                ready = selector.select()
                if self._stop_requested:
                    break
                if any(key.fileobj is self.socket for key, _ in ready):
                    self.handle_request()

    def request_stop(self) -> None:
        """Make :meth:`serve_until_stopped` return now (it accepts nothing more)."""
        self._stop_requested = True
        try:
            self._wake_sender.send(b"\0")
        except OSError:
            pass  # already closed: the loop is gone

    def server_close(self) -> None:
        super().server_close()
        self._wake_receiver.close()
        self._wake_sender.close()

    def finish_request(self, request: Any, client_address: Any) -> None:
        owner = self.owner
        request.settimeout(10)
        try:
            tls = owner._ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            owner._recorder.handshake_failed(client_address, error)
            return
        owner._track(tls, True)
        try:
            RequestHandler(tls, client_address, self)
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
