"""The benchmark's endpoint, in a process of its own, and the channel that controls it.

``EmbeddedBedrock`` serves from threads of the process that starts it. In the
benchmark process, every request's server work (TLS, body read, SigV4 check,
handler, response write) would compete with the measured client for the
interpreter lock and for the CPU, and every ratio would move with it. So the
endpoint runs in a child process (``multiprocessing``, *spawn*: a fresh
interpreter that inherits no threads, providers or instrumentation), and the
benchmark sees it only through ``RemoteEndpoint``: the connection details, the
requests it recorded (to check that both clients send the same request), and
the server's own time per request, which the child measures itself.

The channel is a ``multiprocessing`` pipe used only between timed batches;
the child's main thread waits on it while the server's threads answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from securebedrock import _policy
from securebedrock._constants import ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY

#: Seconds to wait for the child to start, or to answer a command.
START_TIMEOUT = 60.0
ANSWER_TIMEOUT = 60.0


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """What the endpoint received for one request (enough to compare two clients' requests)."""

    operation: str
    method: str
    path: str
    query: str
    #: Header names (lower-case) and values, in arrival order.
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int
    auth: str

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` when it is not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass(frozen=True, kw_only=True)
class ServerTiming:
    """The server's own cost per request, measured in the server's process."""

    requests: int
    #: Median wall time from parsed request line to response written, in seconds.
    median_s: float
    #: CPU time of the whole server process over the timed requests, per request.
    cpu_per_request_s: float


# ----------------------------------------------------------------------------- the child


def _serve(
    connection: Any, guardrails: Sequence[tuple[str, str, tuple[str, ...]]], region: str
) -> None:
    """The child's main: start the server, report where it is, then obey commands."""
    from securebedrock.testing import EmbeddedBedrock, GuardrailSpec
    from securebedrock.testing import _server as server_module

    specs = [
        GuardrailSpec(identifier=identifier, version=version, blocked_words=words)
        for identifier, version, words in guardrails
    ]
    handler_class = server_module._Handler
    # Answer without Nagle's algorithm (harmless when the handler already does): headers
    # and body go out in two sends, and the second must not wait for a delayed ACK.
    handler_class.disable_nagle_algorithm = True
    original_handle = handler_class._handle
    samples: list[float] = []
    cpu_started: list[float] = []
    entered = [0]

    def timed_handle(self: Any) -> None:
        entered[0] += 1
        start = time.perf_counter()
        try:
            original_handle(self)
        finally:
            samples.append(time.perf_counter() - start)

    with EmbeddedBedrock(specs, region=region) as server:
        connection.send(("ready", server.client_kwargs()))
        while True:
            try:
                command, arguments = connection.recv()
            except EOFError:  # the benchmark went away
                return
            try:
                if command == "stop":
                    connection.send(("ok", None))
                    return
                if command == "clear":
                    server.clear()
                    answer: Any = None
                elif command == "requests":
                    answer = [_recorded(request) for request in server.requests[-arguments:]]
                elif command == "add_inference_profile":
                    arn, models = arguments
                    server.add_inference_profile(arn, list(models))
                    answer = None
                elif command == "add_guardrail":
                    identifier, version, words = arguments
                    server.add_guardrail(
                        GuardrailSpec(identifier=identifier, version=version, blocked_words=words)
                    )
                    answer = None
                elif command == "time_requests":
                    samples.clear()
                    entered[0] = 0
                    cpu_started[:] = [time.process_time()]
                    handler_class._handle = timed_handle  # type: ignore[method-assign]
                    answer = None
                elif command == "timing":
                    # A handler finishes (and appends its sample) just after its response
                    # is written, so the client may ask before the last one is in.
                    deadline = time.monotonic() + 5
                    while len(samples) < entered[0] and time.monotonic() < deadline:
                        time.sleep(0.001)
                    handler_class._handle = original_handle  # type: ignore[method-assign]
                    cpu = time.process_time() - (cpu_started[0] if cpu_started else 0.0)
                    count = len(samples)
                    ordered = sorted(samples)
                    answer = ServerTiming(
                        requests=count,
                        median_s=ordered[count // 2] if count else float("nan"),
                        cpu_per_request_s=cpu / count if count else float("nan"),
                    )
                    server.clear()
                else:
                    raise ValueError(f"unknown command {command!r}")
                connection.send(("ok", answer))
            except Exception as error:  # reported to the benchmark, which raises it
                connection.send(("error", f"{type(error).__name__}: {error}"))


def _recorded(request: Any) -> Recorded:
    return Recorded(
        operation=request.operation,
        method=request.method,
        path=request.path,
        query=request.query,
        headers=tuple((name.lower(), value) for name, value in request.headers.items()),
        body=bytes(request.body),
        status=int(request.status),
        auth=str(request.auth),
    )


# ----------------------------------------------------------------------------- the benchmark's side


class RemoteEndpoint:
    """An ``EmbeddedBedrock`` running in a child process (a context manager).

    Offers the part of ``EmbeddedBedrock``'s interface the benchmark uses:
    ``client_kwargs()``, ``endpoint_url``, ``pin()``, ``requests``,
    ``clear()``, ``add_inference_profile()``, ``add_guardrail()``,
    ``org_policy()``, plus
    ``time_requests()``/``timing()`` for the server's own cost per request.
    """

    def __init__(
        self,
        guardrails: Sequence[tuple[str, str, tuple[str, ...]]] = (),
        *,
        region: str = "us-east-1",
    ) -> None:
        self.region = region
        self._guardrails = tuple(guardrails)
        self._process: Any = None
        self._connection: Any = None
        self._client_kwargs: dict[str, Any] = {}

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> RemoteEndpoint:
        """Start the child and wait until its server listens."""
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self._guardrails, self.region),
            name="benchmark-endpoint",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._connection = process, ours
        if not ours.poll(START_TIMEOUT):
            self.stop()
            raise RuntimeError("the benchmark endpoint did not start")
        status, kwargs = ours.recv()
        if status != "ready":
            self.stop()
            raise RuntimeError(f"the benchmark endpoint failed to start: {kwargs}")
        self._client_kwargs = dict(kwargs)
        return self

    def stop(self) -> None:
        """Ask the child to stop; terminate it if it does not."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if process is None:
            return
        try:
            connection.send(("stop", None))
            if connection.poll(5):
                connection.recv()
        except (OSError, EOFError):
            pass
        connection.close()
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join(5)

    def __enter__(self) -> RemoteEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The child's process id."""
        if self._process is None:
            raise RuntimeError("the benchmark endpoint is not running")
        return int(self._process.pid)

    # -- where and how to connect -----------------------------------------------

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client(...)`` / ``securebedrock.client(...)``."""
        return dict(self._client_kwargs)

    @property
    def endpoint_url(self) -> str:
        """``https://127.0.0.1:<port>`` of the child's server."""
        return str(self._client_kwargs["endpoint_url"])

    def pin(self, policy: _policy.Policy | None = None) -> _policy.Policy:
        """``policy`` pinned to this endpoint, as ``EmbeddedBedrock.pin`` does."""
        base = policy if policy is not None else _policy.Policy.default()
        network = dataclasses.replace(
            base.network,
            endpoint_url=self.endpoint_url,
            control_plane_endpoint_url=self.endpoint_url,
        )
        return dataclasses.replace(base, network=network)

    @contextlib.contextmanager
    def org_policy(self, policy: _policy.Policy | None = None) -> Iterator[str]:
        """Run a block under an unsigned org policy file holding ``pin(policy)``.

        As ``EmbeddedBedrock.org_policy``: sets ``SECUREBEDROCK_POLICY_FILE`` to
        the file and unsets ``SECUREBEDROCK_POLICY_PUBLIC_KEY`` for the block
        (both restored after it); clients made inside enforce that policy.
        Yields the file's path.
        """
        names = (ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY)
        saved = {name: os.environ.get(name) for name in names}
        with tempfile.TemporaryDirectory(prefix="securebedrock-bench-org-") as directory:
            path = os.path.join(directory, "policy.toml")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(self.pin(policy).to_toml())
            os.environ[ENV_POLICY_FILE] = path
            os.environ.pop(ENV_POLICY_PUBLIC_KEY, None)
            try:
                yield path
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value

    # -- commands ------------------------------------------------------------------

    def _ask(self, command: str, arguments: Any = None) -> Any:
        connection = self._connection
        if connection is None:
            raise RuntimeError("the benchmark endpoint is not running")
        connection.send((command, arguments))
        if not connection.poll(ANSWER_TIMEOUT):
            raise RuntimeError(f"the benchmark endpoint did not answer {command!r}")
        status, answer = connection.recv()
        if status != "ok":
            raise RuntimeError(f"the benchmark endpoint failed {command!r}: {answer}")
        return answer

    def add_inference_profile(self, arn: str, models: Sequence[str]) -> None:
        """Configure an application inference profile served by ``GetInferenceProfile``."""
        self._ask("add_inference_profile", (arn, tuple(models)))

    def add_guardrail(self, identifier: str, version: str, blocked_words: Sequence[str]) -> None:
        """Configure a guardrail that blocks ``blocked_words``."""
        self._ask("add_guardrail", (identifier, version, tuple(blocked_words)))

    def recent(self, count: int) -> list[Recorded]:
        """The last ``count`` requests the server recorded, oldest first."""
        return list(self._ask("requests", count))

    @property
    def requests(self) -> list[Recorded]:
        """Every request recorded since the last ``clear()`` (a copy, sent over the pipe)."""
        return self.recent(0)

    def clear(self) -> None:
        """Forget recorded requests (between batches, so the server's memory stays flat)."""
        self._ask("clear")

    def time_requests(self) -> None:
        """Start timing every request in the server (until ``timing()``)."""
        self._ask("time_requests")

    def timing(self) -> ServerTiming:
        """Stop timing; the server's median time and CPU per request since ``time_requests()``."""
        answer = self._ask("timing")
        assert isinstance(answer, ServerTiming)
        return answer
