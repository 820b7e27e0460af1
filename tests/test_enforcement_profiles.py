"""Profile resolution and the adapter's enforcement glue.

The resolver's cache and concurrency logic is tested with a stand-in control-plane
client (it is bookkeeping, not security); everything that crosses the network runs
against the embedded HTTPS endpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from conftest import MODEL_ID

import securebedrock
from securebedrock import Policy, PolicyViolation
from securebedrock._policy import AuthPolicy, ModelsPolicy, TLSPolicy
from securebedrock._profiles import ProfileResolver
from securebedrock._rules import ResolvedProfile
from securebedrock._transport_session import HardenedSession
from securebedrock.testing import EmbeddedBedrock

ACCT = "123456789012"
APP = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
FM = f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL_ID}"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]

Make = Callable[..., BaseClient]


class _ControlPlane:
    """Answers GetInferenceProfile like the service (a slow one, to provoke races)."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer = answer if answer is not None else {"models": [{"modelArn": FM}]}
        self.error = error
        self.calls = 0
        self._lock = threading.Lock()

    def get_inference_profile(self, *, inferenceProfileIdentifier: str) -> Any:  # noqa: N803
        with self._lock:
            self.calls += 1
        time.sleep(0.02)
        if self.error is not None:
            raise self.error
        return self.answer


def test_resolves_once_under_concurrency() -> None:
    plane = _ControlPlane()
    built = []

    def factory() -> _ControlPlane:
        built.append(1)
        return plane

    resolver = ProfileResolver(factory)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(resolver.resolve(APP))) for _ in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert plane.calls == 1 and len(built) == 1
    assert results == [ResolvedProfile(arn=APP, regions=("us-east-1",), model_ids=(MODEL_ID,))] * 16


def test_failures_are_remembered_for_a_while() -> None:
    now = [100.0]
    error = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetInferenceProfile"
    )
    plane = _ControlPlane(error=error)
    resolver = ProfileResolver(lambda: plane, failure_ttl=30, clock=lambda: now[0])
    assert resolver.resolve(APP) == "GetInferenceProfile failed (AccessDeniedException)"
    assert resolver.resolve(APP) == "GetInferenceProfile failed (AccessDeniedException)"
    assert plane.calls == 1
    now[0] += 31
    plane.error = None
    assert isinstance(resolver.resolve(APP), ResolvedProfile)
    assert plane.calls == 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"models": []}, "returned no models"),
        ({}, "returned no models"),
        ({"models": [{"modelArn": f"us.{MODEL_ID}"}]}, "not a foundation-model ARN"),
        ({"models": [{"modelArn": FM}, {"nope": 1}]}, "not a foundation-model ARN"),
    ],
)
def test_odd_answers_fail_closed(answer: Any, reason: str) -> None:
    result = ProfileResolver(lambda: _ControlPlane(answer=answer)).resolve(APP)
    assert isinstance(result, str) and reason in result


def test_a_control_plane_that_cannot_be_built_fails_closed() -> None:
    def factory() -> Any:
        raise RuntimeError("secret detail that must not leak")

    result = ProfileResolver(factory).resolve(APP)
    assert result == "the control-plane client could not be created (RuntimeError)"


# --- against the embedded endpoint -----------------------------------------------------------


def test_control_plane_client_is_hardened(bedrock: EmbeddedBedrock, secured_client: Make) -> None:
    bedrock.add_inference_profile(APP, models=[FM])
    client = secured_client(Policy(tls=TLSPolicy(minimum_version="1.3")))
    client.converse(modelId=APP, messages=MESSAGES)
    state = client.__dict__["_securebedrock_state"]
    control_plane = state.profiles._client
    assert control_plane.meta.service_model.service_name == "bedrock"
    assert isinstance(control_plane._endpoint.http_session, HardenedSession)
    assert control_plane.meta.endpoint_url == bedrock.endpoint_url
    resolve = bedrock.requests[0]
    assert (resolve.operation, resolve.tls_version, resolve.auth) == (
        "GetInferenceProfile",
        "TLSv1.3",
        "sigv4",
    )


def test_secure_an_existing_client_resolves_with_its_credentials(
    bedrock: EmbeddedBedrock, raw_client: Make
) -> None:
    bedrock.add_inference_profile(APP, models=[FM])
    with bedrock.org_policy():
        client = securebedrock.secure(raw_client(), policy=Policy())
    client.converse(modelId=APP, messages=MESSAGES)
    assert [r.operation for r in bedrock.requests] == ["GetInferenceProfile", "Converse"]
    assert bedrock.requests[0].access_key == bedrock.client_kwargs()["aws_access_key_id"]


def test_no_resolution_when_no_rule_needs_it(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    from securebedrock._policy import RegionsPolicy

    anywhere = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("global",)))
    client = secured_client(anywhere)
    client.converse(modelId=APP, messages=MESSAGES)
    assert [r.operation for r in bedrock.requests] == ["Converse"]


def test_bearer_header_check_follows_re_securing(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    client = secured_client(Policy())

    def add_bearer(request: Any, **_: Any) -> None:
        request.headers["Authorization"] = "Bearer injected"

    client.meta.events.register("before-send.bedrock-runtime", add_bearer)
    with pytest.raises(ClientError):  # allowed by policy: the server refuses the fake key
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests[-1].auth == "bearer"
    bedrock.clear()
    with bedrock.org_policy():
        securebedrock.secure(client, policy=Policy(auth=AuthPolicy(allow_api_keys=False)))
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert raised.value.rule == "auth.api_key"
    assert bedrock.requests == []
    handlers = [
        h
        for h in client.meta.events._emitter._lookup_cache.get(
            "before-send.bedrock-runtime.Converse", ()
        )
        if getattr(h, "__name__", "") == "check_authorization"
    ]
    assert len(handlers) == 1


def test_sigv4_calls_pass_the_bearer_check(bedrock: EmbeddedBedrock, secured_client: Make) -> None:
    client = secured_client(
        Policy(auth=AuthPolicy(allow_api_keys=False), models=ModelsPolicy(allow=("anthropic.*",)))
    )
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests[0].auth == "sigv4"


def test_log_only_mapping_records_what_was_really_sent(
    bedrock: EmbeddedBedrock, secured_client: Make, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import types

    from securebedrock._constants import AUDIT_LOGGER_NAME
    from securebedrock._policy import InferenceProfilePolicy, KnownProfile

    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    policy = Policy(
        mode="log_only",
        inference_profile=InferenceProfilePolicy(
            map=types.MappingProxyType({MODEL_ID: APP}),
            known=types.MappingProxyType({APP: KnownProfile(models=(FM,))}),
        ),
    )
    secured_client(policy).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests[0].model_id == MODEL_ID  # log_only: not mapped
    (record,) = [r.securebedrock for r in caplog.records if hasattr(r, "securebedrock")]
    assert record["decision"] == "log_only"
    assert record["changes"] == ["modelId"]
    assert record["model_requested"] == MODEL_ID
    assert record["model_sent"] == MODEL_ID
