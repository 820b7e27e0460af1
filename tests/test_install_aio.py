"""``securebedrock.install()`` for aiobotocore clients, against the embedded endpoint.

Every client here is made the way third-party code makes an async one
(``aiobotocore.session.get_session().create_client``, an ``AioSession`` subclass,
aioboto3's ``Session().client``), never through ``securebedrock.aio``'s entry
points; what counts is what the server received and what the span recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

aiobotocore_session = pytest.importorskip("aiobotocore.session")

from _telemetry_helpers import FAST_RETRY, make_otel  # noqa: E402
from conftest import GUARDRAIL, MODEL_ID  # noqa: E402

import securebedrock  # noqa: E402
import securebedrock.aio  # noqa: E402
from securebedrock import _adapter  # noqa: E402
from securebedrock import _telemetry as T  # noqa: E402
from securebedrock._policy import GuardrailPolicy, ModelsPolicy, Policy  # noqa: E402
from securebedrock.aio import _install as aio_install  # noqa: E402
from securebedrock.testing import EmbeddedBedrock  # noqa: E402

R = TypeVar("R")
GUARDED = GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version)
DENIED_MODEL = "amazon.titan-text-express-v1"
MANDATING = Policy(guardrail=GUARDED, models=ModelsPolicy(deny=(DENIED_MODEL,)))
MESSAGES = [{"role": "user", "content": [{"text": "hello there"}]}]
AioSession = aiobotocore_session.AioSession


def run(coroutine: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coroutine)


def _install(bedrock: EmbeddedBedrock, **kwargs: Any) -> None:
    with bedrock.org_policy(MANDATING):
        securebedrock.install(**kwargs)


class _CallingUp(AioSession):  # type: ignore[misc]
    """A session subclass whose ``create_client`` calls aiobotocore's."""

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        return super().create_client(*args, **kwargs)


def _by_get_session(kwargs: dict[str, Any]) -> Any:
    return aiobotocore_session.get_session().create_client("bedrock-runtime", **kwargs)


def _by_keyword_service_name(kwargs: dict[str, Any]) -> Any:
    return AioSession().create_client(service_name="bedrock-runtime", **kwargs)


def _by_subclass(kwargs: dict[str, Any]) -> Any:
    return _CallingUp().create_client("bedrock-runtime", **kwargs)


def _by_aioboto3(kwargs: dict[str, Any]) -> Any:
    aioboto3 = pytest.importorskip("aioboto3")
    return aioboto3.Session().client("bedrock-runtime", **kwargs)


MAKERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "get_session().create_client": _by_get_session,
    "service_name keyword": _by_keyword_service_name,
    "AioSession subclass": _by_subclass,
    "aioboto3 Session().client": _by_aioboto3,
}


@contextlib.asynccontextmanager
async def _made(
    make: Callable[[dict[str, Any]], Any], bedrock: EmbeddedBedrock
) -> AsyncIterator[Any]:
    async with make(bedrock.client_kwargs()) as client:
        yield client


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_installed_async_clients_carry_the_guardrail_and_refuse_denied_models(
    make: Callable[[dict[str, Any]], Any], bedrock: EmbeddedBedrock
) -> None:
    otel = make_otel()
    _install(bedrock, retry=FAST_RETRY, **otel.kwargs())

    async def main() -> None:
        async with _made(make, bedrock) as client:
            assert _adapter.installed_policy(client) is not None
            await client.converse(modelId=MODEL_ID, messages=MESSAGES)
            stream = await client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)
            assert [event async for event in stream["stream"]]
            with pytest.raises(securebedrock.PolicyViolation) as refused:
                await client.converse(modelId=DENIED_MODEL, messages=MESSAGES)
            assert refused.value.rule == "model.not_allowed"

    run(main())
    assert [r.operation for r in bedrock.requests] == ["Converse", "ConverseStream"]
    for request in bedrock.requests:
        assert request.json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier
        assert request.model_id == MODEL_ID
    decisions = [s.attributes[T.ATTR_DECISION] for s in otel.spans()]  # type: ignore[index]
    assert decisions == ["allow", "allow", "deny"]


def test_without_install_an_async_client_is_unsecured(bedrock: EmbeddedBedrock) -> None:
    async def main() -> None:
        async with _made(_by_get_session, bedrock) as client:
            assert _adapter.installed_policy(client) is None
            await client.converse(modelId=DENIED_MODEL, messages=MESSAGES)

    run(main())
    (request,) = bedrock.requests
    assert request.model_id == DENIED_MODEL and "guardrailConfig" not in request.json


def test_a_refused_endpoint_fails_when_the_client_is_entered(bedrock: EmbeddedBedrock) -> None:
    _install(bedrock)

    async def main() -> None:
        context = _by_get_session({**bedrock.client_kwargs(), "verify": False})
        with pytest.raises(securebedrock.TransportSecurityError):
            async with context:
                pass

    run(main())
    assert bedrock.requests == []


def test_other_services_are_left_alone(bedrock: EmbeddedBedrock) -> None:
    _install(bedrock)

    async def main() -> None:
        kwargs = {k: v for k, v in bedrock.client_kwargs().items() if k != "endpoint_url"}
        async with aiobotocore_session.get_session().create_client("bedrock", **kwargs) as other:
            assert _adapter.installed_policy(other) is None

    run(main())


def test_securebedrock_aio_entry_points_keep_their_own_policy(bedrock: EmbeddedBedrock) -> None:
    # Installed: a mandated guardrail and a deny-list; the org file in the block: neither.
    _install(bedrock)

    async def main() -> None:
        async with securebedrock.aio.client(**bedrock.client_kwargs()) as client:
            assert _adapter.installed_policy(client) is not None
            await client.converse(modelId=DENIED_MODEL, messages=MESSAGES)
        session = securebedrock.aio.Session()
        async with session.create_client("bedrock-runtime", **bedrock.client_kwargs()) as client:
            assert _adapter.installed_policy(client) is not None

    with bedrock.org_policy():  # an org policy that only pins the endpoint
        run(main())
    (request,) = bedrock.requests
    assert "guardrailConfig" not in request.json


def test_the_hook_is_in_place_once_and_idempotent() -> None:
    wrapper = AioSession.create_client
    assert getattr(wrapper, "_securebedrock_original", None) is not None
    aio_install.hook()
    securebedrock.install()
    assert AioSession.create_client is wrapper
    assert not hasattr(wrapper._securebedrock_original, "_securebedrock_original")


def test_an_unsecured_async_client_warns_once_when_an_org_policy_exists(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "org-policy.toml"
    path.write_text(bedrock.pin(MANDATING).to_toml())
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))

    async def main() -> None:
        async with _made(_by_get_session, bedrock) as client:
            await client.converse(modelId=MODEL_ID, messages=MESSAGES)
            await client.converse(modelId=MODEL_ID, messages=MESSAGES)

    with pytest.warns(securebedrock.UnsecuredClientWarning) as recorded:
        run(main())
    assert len(recorded) == 1


def test_no_warning_for_an_async_client_secured_after_creation(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "org-policy.toml"
    path.write_text(bedrock.pin(MANDATING).to_toml())
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))

    async def main() -> None:
        async with _made(_by_get_session, bedrock) as client:
            securebedrock.aio.secure(client)
            await client.converse(modelId=MODEL_ID, messages=MESSAGES)

    with warnings.catch_warnings():
        warnings.simplefilter("error", securebedrock.UnsecuredClientWarning)
        run(main())
    (request,) = bedrock.requests
    assert request.json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier
