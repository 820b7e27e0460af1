"""One retry layer, not two: what is retried, how often, and that botocore's is off."""

from __future__ import annotations

import io
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from _telemetry_helpers import FAST_RETRY, Otel, events, make_otel
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    ProxyConnectionError,
    SSLError,
)
from conftest import MODEL_ID

import securebedrock
from securebedrock import _telemetry as T
from securebedrock import _telemetry_semconv as sc
from securebedrock._retry import (
    Retrier,
    RetryConfig,
    disable_botocore_retries,
    is_retryable,
    merge_boto_config,
)
from securebedrock.testing import EmbeddedBedrock

MESSAGES = [{"role": "user", "content": [{"text": "hello there"}]}]


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Converse",
    )


def _violation() -> securebedrock.PolicyViolation:
    return securebedrock.PolicyViolation(
        rule="region.not_allowed", operation="Converse", found="f", expected="e", fix="x"
    )


def _transport_error() -> securebedrock.TransportSecurityError:
    return securebedrock.TransportSecurityError(
        rule="tls.version", host="h", found="f", expected="e", fix="x"
    )


# --- what is retried -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (_client_error("ThrottlingException", 429), True),
        (_client_error("ModelNotReadyException", 429), True),
        (_client_error("ServiceUnavailableException", 503), True),
        (_client_error("InternalServerException", 500), True),
        (_client_error("SomethingNew", 502), True),
        (_client_error("SomethingElse", 429), True),
        (_client_error("NotImplemented", 501), False),
        (_client_error("ValidationException", 400), False),
        (_client_error("AccessDeniedException", 403), False),
        (_client_error("ServiceQuotaExceededException", 400), False),
        (_client_error("ModelTimeoutException", 408), False),
        (EndpointConnectionError(endpoint_url="https://x"), True),
        (ConnectionClosedError(endpoint_url="https://x"), True),
        (SSLError(endpoint_url="https://x", error="bad"), False),
        (ProxyConnectionError(proxy_url="http://p", error="bad"), False),
        (_violation(), False),
        (_transport_error(), False),
        (HTTPClientError(error=_transport_error()), False),
        (ValueError("x"), False),
    ],
)
def test_is_retryable(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_a_security_error_anywhere_in_the_chain_is_never_retried() -> None:
    try:
        try:
            raise _transport_error()
        except securebedrock.TransportSecurityError as inner:
            raise EndpointConnectionError(endpoint_url="https://x") from inner
    except EndpointConnectionError as outer:
        assert is_retryable(outer) is False


def test_retry_config_is_validated() -> None:
    with pytest.raises(ValueError, match=r"RetryConfig\.max_attempts"):
        RetryConfig(max_attempts=0)
    with pytest.raises(ValueError, match=r"RetryConfig\.total_timeout"):
        RetryConfig(total_timeout=0)
    with pytest.raises(ValueError, match="initial_backoff: found -1"):
        RetryConfig(initial_backoff=-1)
    assert RetryConfig.disabled().max_attempts == 1
    assert RetryConfig() == RetryConfig(max_attempts=4, total_timeout=20.0)


# --- the retrier alone ---------------------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[int, str | None, float | None]] = []

    def attempt(self, number: int, error: BaseException | None, retry_delay: float | None) -> None:
        self.seen.append((number, None if error is None else type(error).__name__, retry_delay))


@pytest.fixture
def raw() -> BaseClient:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",  # noqa: S106
    )


def _failing(errors: list[BaseException], result: Any = "ok") -> Callable[[dict[str, Any]], Any]:
    def send(params: dict[str, Any]) -> Any:
        if errors:
            raise errors.pop(0)
        return result

    return send


def test_retries_until_success_and_reports_every_attempt(raw: BaseClient) -> None:
    sleeps: list[float] = []
    retrier = Retrier(FAST_RETRY, raw, sleep=sleeps.append)
    recorder = _Recorder()
    throttle = _client_error("ThrottlingException", 429)
    assert retrier.run(_failing([throttle, throttle]), {}, recorder) == "ok"
    assert [(n, e) for n, e, _ in recorder.seen] == [
        (1, "ClientError"),
        (2, "ClientError"),
        (3, None),
    ]
    assert len(sleeps) == 2
    assert all(0 <= s <= FAST_RETRY.max_backoff for s in sleeps)


def test_attempts_are_bounded(raw: BaseClient) -> None:
    retrier = Retrier(RetryConfig(max_attempts=3, initial_backoff=0), raw, sleep=lambda s: None)
    recorder = _Recorder()
    errors: list[BaseException] = [_client_error("ThrottlingException", 429)] * 10
    with pytest.raises(ClientError):
        retrier.run(_failing(errors), {}, recorder)
    assert len(errors) == 7
    assert [n for n, _, _ in recorder.seen] == [1, 2, 3]
    assert recorder.seen[-1][2] is None  # the last failure is not followed by a retry


def test_total_time_is_bounded(raw: BaseClient) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def send(params: dict[str, Any]) -> Any:
        now[0] += 3.0  # each attempt takes 3 s
        raise _client_error("ThrottlingException", 429)

    config = RetryConfig(max_attempts=100, total_timeout=10.0, initial_backoff=4, max_backoff=4)
    retrier = Retrier(config, raw, sleep=sleep, clock=lambda: now[0])
    recorder = _Recorder()
    with pytest.raises(ClientError):
        retrier.run(send, {}, recorder)
    # No attempt starts after the budget, and no sleep runs past it.
    starts = len(recorder.seen)
    assert 2 <= starts <= 4
    assert now[0] <= config.total_timeout + 3.0


def test_non_retryable_errors_are_raised_at_once(raw: BaseClient) -> None:
    retrier = Retrier(FAST_RETRY, raw, sleep=lambda s: None)
    for error in (_violation(), _transport_error(), _client_error("ValidationException", 400)):
        recorder = _Recorder()
        with pytest.raises(type(error)):
            retrier.run(_failing([error]), {}, recorder)
        assert [n for n, _, _ in recorder.seen] == [1]


def test_a_seekable_body_is_rewound_and_a_stream_gets_one_attempt(raw: BaseClient) -> None:
    retrier = Retrier(FAST_RETRY, raw, sleep=lambda s: None)
    body = io.BytesIO(b"0123456789")
    body.seek(2)
    reads: list[bytes] = []
    errors: list[BaseException] = [_client_error("ThrottlingException", 429)]

    def send(params: dict[str, Any]) -> Any:
        reads.append(params["body"].read())
        if errors:
            raise errors.pop(0)
        return "ok"

    assert retrier.run(send, {"body": body}) == "ok"
    assert reads == [b"23456789", b"23456789"]

    def generator() -> Any:
        yield b"x"

    calls: list[int] = []

    def send_once(params: dict[str, Any]) -> Any:
        calls.append(1)
        raise _client_error("ThrottlingException", 429)

    with pytest.raises(ClientError):
        retrier.run(send_once, {"body": generator()})
    assert calls == [1]


def test_a_broken_observer_never_breaks_the_call(raw: BaseClient) -> None:
    class Broken:
        def attempt(self, *args: Any) -> None:
            raise RuntimeError("observer broke")

    retrier = Retrier(FAST_RETRY, raw, sleep=lambda s: None)
    throttle = _client_error("ThrottlingException", 429)
    assert retrier.run(_failing([throttle]), {}, Broken()) == "ok"


def test_idempotency_token_is_filled_once_before_the_first_attempt(raw: BaseClient) -> None:
    retrier = Retrier(FAST_RETRY, raw)
    prepared = retrier.prepare("StartAsyncInvoke", {"modelId": "m"})
    assert prepared["clientRequestToken"]
    given = retrier.prepare("StartAsyncInvoke", {"clientRequestToken": "mine"})
    assert given["clientRequestToken"] == "mine"
    assert "clientRequestToken" not in retrier.prepare("Converse", {"modelId": "m"})


# --- botocore's retries are off ------------------------------------------------------------


def test_merge_boto_config_turns_botocore_retries_off_and_keeps_the_rest() -> None:
    merged, retry = merge_boto_config(None, None)
    assert merged.retries == {"total_max_attempts": 1}
    assert retry == RetryConfig()
    user = Config(read_timeout=7, retries={"max_attempts": 2, "mode": "adaptive"})
    merged, retry = merge_boto_config(user, None)
    assert merged.read_timeout == 7
    assert merged.retries == {"total_max_attempts": 1, "mode": "adaptive"}
    assert retry.max_attempts == 3  # botocore's max_attempts counts retries
    merged, retry = merge_boto_config(Config(retries={"total_max_attempts": 6}), None)
    assert retry.max_attempts == 6
    explicit = RetryConfig(max_attempts=2)
    assert merge_boto_config(user, explicit)[1] is explicit


def test_disable_botocore_retries_replaces_the_needs_retry_handler(raw: BaseClient) -> None:
    event = "needs-retry.bedrock-runtime.Converse"
    throttled = {"Error": {"Code": "ThrottlingException"}, "ResponseMetadata": {}}

    def ask() -> list[Any]:
        responses = raw.meta.events.emit(
            event,
            # An HTTP response object, as botocore passes one (some versions read it).
            response=(SimpleNamespace(status_code=400, headers={}), throttled),
            endpoint=None,
            operation=raw.meta.service_model.operation_model("Converse"),
            attempts=1,
            caught_exception=None,
            request_dict={"context": {}},
        )
        return [result for _, result in responses if result is not None]

    assert ask()  # botocore's legacy handler asks for a retry (a delay)
    disable_botocore_retries(raw)
    disable_botocore_retries(raw)  # idempotent
    assert ask() == []


# --- against the embedded endpoint ---------------------------------------------------------


@pytest.fixture
def otel() -> Otel:
    return make_otel()


def test_throttled_call_is_retried_and_each_attempt_is_an_event(
    secured_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    bedrock.faults.throttle(2)
    client = secured_client(retry=FAST_RETRY, **otel.kwargs())
    assert client.converse(modelId=MODEL_ID, messages=MESSAGES)["stopReason"] == "end_turn"
    assert len(bedrock.requests) == 3  # N + 1, not more
    span = otel.only_span()
    attempts = events(span, T.EVENT_ATTEMPT)
    assert [a[T.ATTR_ATTEMPT_NUMBER] for a in attempts] == [1, 2, 3]
    assert [a.get(sc.ERROR_TYPE) for a in attempts] == [
        "ThrottlingException",
        "ThrottlingException",
        None,
    ]
    assert all(T.ATTR_RETRY_DELAY in a for a in attempts[:2])
    assert span.attributes[T.ATTR_ATTEMPTS] == 3
    assert sc.ERROR_TYPE not in (span.attributes or {})


@pytest.mark.parametrize(
    "arm",
    [
        lambda faults: faults.server_error(1, status=503),
        lambda faults: faults.server_error(1, status=500),
        lambda faults: faults.model_not_ready(1),
    ],
    ids=["503", "500", "model-not-ready"],
)
def test_5xx_and_model_not_ready_are_retried(
    secured_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock, arm: Any
) -> None:
    arm(bedrock.faults)
    secured_client(retry=FAST_RETRY).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 2


def test_exhausted_retries_raise_the_service_error(
    secured_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    bedrock.faults.throttle(10)
    client = secured_client(
        retry=RetryConfig(max_attempts=3, initial_backoff=0.001), **otel.kwargs()
    )
    with pytest.raises(ClientError) as raised:
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert len(bedrock.requests) == 3
    span = otel.only_span()
    assert span.attributes[sc.ERROR_TYPE] == "ThrottlingException"
    assert (
        span.attributes[sc.AWS_REQUEST_ID] == raised.value.response["ResponseMetadata"]["RequestId"]
    )
    assert len(events(span, T.EVENT_ATTEMPT)) == 3


def test_access_denied_is_not_retried(
    secured_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock
) -> None:
    bedrock.faults.access_denied(3)
    with pytest.raises(ClientError):
        secured_client(retry=FAST_RETRY).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 1


def test_the_callers_botocore_attempts_become_our_bound(
    secured_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock
) -> None:
    bedrock.faults.throttle(10)
    client = secured_client(config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    assert client.meta.config.retries["total_max_attempts"] == 1
    with pytest.raises(ClientError):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 2  # 1 retry, as the caller's config said; not 2 x 2


@pytest.mark.parametrize("mode", ["legacy", "standard", "adaptive"])
def test_secure_an_existing_client_does_not_multiply_attempts(
    raw_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock, mode: str
) -> None:
    # botocore alone would make 6 attempts per call here.
    users_config = Config(retries={"max_attempts": 5, "mode": mode})
    client = raw_client(config=users_config)
    users_retries = dict(users_config.retries)
    with bedrock.org_policy():
        securebedrock.secure(client, retry=RetryConfig(max_attempts=2, initial_backoff=0))
    assert client.meta.config.retries == {"mode": mode, "total_max_attempts": 1}
    assert users_config.retries == users_retries  # the caller's object is untouched
    bedrock.faults.throttle(20)
    with pytest.raises(ClientError):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 2


def test_idempotency_token_is_reused_across_attempts(
    secured_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock
) -> None:
    bedrock.faults.throttle(2)
    secured_client(retry=FAST_RETRY).start_async_invoke(
        modelId="amazon.nova-reel-v1:0",
        modelInput={"taskType": "TEXT_VIDEO"},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
    )
    tokens = [r.json["clientRequestToken"] for r in bedrock.requests]
    assert len(tokens) == 3
    assert len(set(tokens)) == 1 and tokens[0]


def test_a_stream_is_retried_only_before_it_is_returned(
    secured_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock
) -> None:
    bedrock.faults.throttle(1)
    client = secured_client(retry=FAST_RETRY)
    assert list(client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"])
    assert len(bedrock.requests) == 2
    bedrock.faults.close_mid_stream(after_events=1)
    stream = client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]
    with pytest.raises(Exception):  # noqa: B017 - whatever botocore raises mid-stream
        list(stream)
    assert len(bedrock.requests) == 3


def test_policy_violations_are_never_retried(
    secured_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    import dataclasses

    from securebedrock._policy import RegionsPolicy

    policy = dataclasses.replace(
        securebedrock.Policy.default(), regions=RegionsPolicy(allowed=("eu-west-1",))
    )
    client = secured_client(policy, retry=FAST_RETRY, **otel.kwargs())
    with pytest.raises(securebedrock.PolicyViolation):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests == []
    assert events(otel.only_span(), T.EVENT_ATTEMPT) == []
