"""``securebedrock.install()`` and the warning for unsecured clients, against the embedded endpoint.

Every client here is made the way third-party code makes one (``boto3.client``,
``boto3.Session().client``, a botocore session), never through securebedrock's own
entry points; what counts is what the server received and what the span recorded.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from _telemetry_helpers import FAST_RETRY, make_otel
from botocore.client import BaseClient
from botocore.config import Config
from conftest import GUARDRAIL, MODEL_ID

import securebedrock
from securebedrock import _adapter, _discovery
from securebedrock import _install as _install_module
from securebedrock import _telemetry as T
from securebedrock._policy import GuardrailPolicy, ModelsPolicy, Policy
from securebedrock.testing import EmbeddedBedrock

GUARDED = GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version)
DENIED_MODEL = "amazon.titan-text-express-v1"
MESSAGES = [{"role": "user", "content": [{"text": "hello there"}]}]


def _by_boto3_client(server: EmbeddedBedrock) -> BaseClient:
    return boto3.client("bedrock-runtime", **server.client_kwargs())


def _by_boto3_session(server: EmbeddedBedrock) -> BaseClient:
    return boto3.Session().client("bedrock-runtime", **server.client_kwargs())


def _by_botocore_session(server: EmbeddedBedrock) -> BaseClient:
    return botocore.session.get_session().create_client("bedrock-runtime", **server.client_kwargs())


def _by_positional_arguments(server: EmbeddedBedrock) -> BaseClient:
    kwargs = server.client_kwargs()
    region, endpoint, verify = (
        kwargs.pop("region_name"),
        kwargs.pop("endpoint_url"),
        kwargs.pop("verify"),
    )
    # service, region, api_version, use_ssl, verify, endpoint_url: all positional.
    return botocore.session.get_session().create_client(
        "bedrock-runtime", region, None, True, verify, endpoint, **kwargs
    )


def _by_keyword_service_name(server: EmbeddedBedrock) -> BaseClient:
    return boto3.Session().client(service_name="bedrock-runtime", **server.client_kwargs())


MAKERS: dict[str, Callable[[EmbeddedBedrock], BaseClient]] = {
    "boto3.client": _by_boto3_client,
    "boto3.Session().client": _by_boto3_session,
    "botocore create_client": _by_botocore_session,
    "positional arguments": _by_positional_arguments,
    "service_name keyword": _by_keyword_service_name,
}


#: The policy most tests install: a mandated guardrail and a denied model.
MANDATING = Policy(guardrail=GUARDED, models=ModelsPolicy(deny=(DENIED_MODEL,)))


def _mandating(bedrock: EmbeddedBedrock) -> Policy:
    """:data:`MANDATING` pinned to ``bedrock``: an org policy (only the org layer may pin
    a loopback endpoint)."""
    return bedrock.pin(MANDATING)


def _install(bedrock: EmbeddedBedrock, org: Policy | None = None, **kwargs: Any) -> None:
    """``install(**kwargs)`` with ``org`` (pinned to ``bedrock``) as the org policy file.

    install() resolves the policy when called, so the clients created after the block
    still get it."""
    with bedrock.org_policy(org):
        securebedrock.install(**kwargs)


def _guardrail_of(request: Any) -> str | None:
    config = (request.json or {}).get("guardrailConfig") or {}
    value = config.get("guardrailIdentifier")
    return str(value) if value is not None else None


def _write_org_policy(tmp_path: Path, policy: Policy, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "org-policy.toml"
    path.write_text(policy.to_toml())
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))
    return path


# --- install(): clients third-party code creates are secured --------------------------------


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_installed_clients_carry_the_guardrail_and_refuse_denied_models(
    make: Callable[[EmbeddedBedrock], BaseClient], bedrock: EmbeddedBedrock
) -> None:
    otel = make_otel()
    _install(bedrock, MANDATING, **otel.kwargs(), retry=FAST_RETRY)
    client = make(bedrock)
    assert _adapter.installed_policy(client) is not None

    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    with pytest.raises(securebedrock.PolicyViolation) as refused:
        client.converse(modelId=DENIED_MODEL, messages=MESSAGES)

    assert refused.value.rule == "model.not_allowed"
    assert refused.value.retryable is False
    (request,) = bedrock.requests  # the denied model never reached the server
    assert request.model_id == MODEL_ID
    assert _guardrail_of(request) == GUARDRAIL.identifier
    allowed, denied = otel.spans()
    assert allowed.attributes is not None and denied.attributes is not None
    assert allowed.attributes[T.ATTR_DECISION] == "allow"
    assert denied.attributes[T.ATTR_DECISION] == "deny"
    assert "model.not_allowed" in tuple(denied.attributes[T.ATTR_RULES])  # type: ignore[arg-type]


def test_without_install_a_boto3_client_is_silently_unsecured(bedrock: EmbeddedBedrock) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no org policy file: not even a warning
        client = _by_boto3_client(bedrock)
        assert not _watching(client)  # nothing registered without an org policy file
        client.converse(modelId=DENIED_MODEL, messages=MESSAGES)
    assert _adapter.installed_policy(client) is None
    (request,) = bedrock.requests
    assert request.model_id == DENIED_MODEL and _guardrail_of(request) is None


def test_install_uses_the_org_policy_file(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_org_policy(tmp_path, _mandating(bedrock), monkeypatch)
    securebedrock.install()
    client = _by_boto3_session(bedrock)
    with pytest.raises(securebedrock.PolicyViolation):
        client.converse(modelId=DENIED_MODEL, messages=MESSAGES)
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    (request,) = bedrock.requests
    assert _guardrail_of(request) == GUARDRAIL.identifier


def test_a_pinned_endpoint_is_used_when_the_creator_names_none(bedrock: EmbeddedBedrock) -> None:
    _install(bedrock, MANDATING)
    client = boto3.client(
        "bedrock-runtime",
        region_name=bedrock.region,
        verify=bedrock.ca_bundle,
        aws_access_key_id=bedrock.access_key,
        aws_secret_access_key=bedrock.secret_key,
    )
    assert client.meta.endpoint_url == bedrock.endpoint_url
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 1


@pytest.mark.parametrize(
    "override",
    [
        {"endpoint_url": "https://bedrock-runtime.evil.example.com"},
        {"verify": False},
        {"use_ssl": False},
    ],
    ids=["foreign endpoint", "verify=False", "use_ssl=False"],
)
def test_a_refused_client_fails_at_creation(
    override: dict[str, Any], bedrock: EmbeddedBedrock
) -> None:
    _install(bedrock, MANDATING)
    with pytest.raises(securebedrock.TransportSecurityError):
        boto3.client("bedrock-runtime", **{**bedrock.client_kwargs(), **override})
    assert bedrock.requests == []


def test_an_endpoint_from_the_environment_is_checked_at_creation(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(bedrock, MANDATING)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "https://127.0.0.2:1")
    kwargs = {k: v for k, v in bedrock.client_kwargs().items() if k != "endpoint_url"}
    with pytest.raises(securebedrock.TransportSecurityError) as refused:
        botocore.session.get_session().create_client("bedrock-runtime", **kwargs)
    assert refused.value.rule == "network.endpoint_override"


def test_a_session_subclass_that_calls_up_gets_secured_clients(bedrock: EmbeddedBedrock) -> None:
    made: list[BaseClient] = []

    class FrameworkSession(botocore.session.Session):
        def create_client(self, *args: Any, **kwargs: Any) -> Any:
            client = super().create_client(*args, **kwargs)
            made.append(client)
            return client

    _install(bedrock, MANDATING)
    client = FrameworkSession().create_client("bedrock-runtime", **bedrock.client_kwargs())
    assert made == [client] and _adapter.installed_policy(client) is not None
    with pytest.raises(securebedrock.PolicyViolation):
        client.converse(modelId=DENIED_MODEL, messages=MESSAGES)
    assert bedrock.requests == []


def test_other_services_are_left_alone(bedrock: EmbeddedBedrock) -> None:
    _install(bedrock, MANDATING)
    sts = boto3.client("sts", region_name="us-east-1")
    control_plane = boto3.client("bedrock", region_name="us-east-1")
    for other in (sts, control_plane):
        assert _adapter.installed_policy(other) is None
        assert type(other._endpoint.http_session).__name__ == "URLLib3Session"


def test_clients_made_before_install_stay_as_they_were(bedrock: EmbeddedBedrock) -> None:
    before = _by_boto3_client(bedrock)
    _install(bedrock, MANDATING)
    before.converse(modelId=DENIED_MODEL, messages=MESSAGES)  # the documented limit
    assert _adapter.installed_policy(before) is None
    assert bedrock.requests[0].model_id == DENIED_MODEL


def test_securebedrock_entry_points_keep_their_own_policy(bedrock: EmbeddedBedrock) -> None:
    _install(bedrock, MANDATING)
    with bedrock.org_policy():
        own = securebedrock.client(**bedrock.client_kwargs())
    assert _adapter.installed_policy(own) != _install_module.installed_policy()
    own.converse(modelId=DENIED_MODEL, messages=MESSAGES)
    assert _guardrail_of(bedrock.requests[0]) is None


def test_uninstall_stops_securing_new_clients_only(bedrock: EmbeddedBedrock) -> None:
    _install(bedrock, MANDATING)
    secured = _by_boto3_client(bedrock)
    securebedrock.uninstall()
    assert _install_module.installed_policy() is None
    assert _adapter.installed_policy(_by_boto3_client(bedrock)) is None
    with pytest.raises(securebedrock.PolicyViolation):
        secured.converse(modelId=DENIED_MODEL, messages=MESSAGES)


def test_the_clients_own_retry_setting_bounds_the_single_retry_layer(
    bedrock: EmbeddedBedrock,
) -> None:
    _install(bedrock)
    retry = Config(retries={"max_attempts": 2, "mode": "standard"})  # 3 attempts, botocore's way
    client = boto3.client("bedrock-runtime", **bedrock.client_kwargs(), config=retry)
    bedrock.faults.throttle(10)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 3  # 3 attempts in all, not 3 x 3


def test_a_handler_that_swaps_the_model_after_the_decision_is_refused(
    bedrock: EmbeddedBedrock,
) -> None:
    _install(bedrock, MANDATING)
    client = _by_boto3_client(bedrock)

    def swap_model(params: dict[str, Any], **_: Any) -> None:
        params["modelId"] = DENIED_MODEL  # what a framework's event handler could do

    client.meta.events.register("provide-client-params.bedrock-runtime.Converse", swap_model)
    with pytest.raises(securebedrock.PolicyViolation) as refused:
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert refused.value.rule == "wire.mismatch"
    assert bedrock.requests == []


@pytest.mark.parametrize(
    "arguments",
    [{"policy": "version = 1"}, {"policy": {"version": 1}}],
    ids=["TOML text", "dict"],
)
def test_install_with_an_odd_policy_type_fails_closed(arguments: dict[str, Any]) -> None:
    with pytest.raises(securebedrock.PolicyConfigError):
        securebedrock.install(**arguments)
    assert _install_module.installed_policy() is None


def test_install_with_an_odd_retry_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        securebedrock.install(retry={"max_attempts": 1})  # type: ignore[arg-type]
    assert _install_module.installed_policy() is None


def test_the_warning_never_echoes_credentials_in_the_endpoint(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_org_policy(tmp_path, bedrock.pin(), monkeypatch)
    kwargs = bedrock.client_kwargs()
    kwargs["endpoint_url"] = kwargs["endpoint_url"].replace("https://", "https://user:s3cret@")
    client = boto3.client("bedrock-runtime", **kwargs)
    with pytest.warns(securebedrock.UnsecuredClientWarning) as recorded:
        try:
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
        except Exception:  # noqa: S110 - only the warning matters here
            pass
    assert "s3cret" not in str(recorded[0].message)


# --- install() twice, and from threads -----------------------------------------------------


def test_install_twice_with_the_same_policy_is_a_no_op(bedrock: EmbeddedBedrock) -> None:
    _install(bedrock, MANDATING)
    first = _install_module._installed
    _install(bedrock, MANDATING)
    assert _install_module._installed is first


def test_install_again_only_tightens(bedrock: EmbeddedBedrock) -> None:
    _install(bedrock, policy=Policy(models=ModelsPolicy(deny=("meta.*",))))
    _install(bedrock, policy=Policy(models=ModelsPolicy(deny=(DENIED_MODEL,))))
    installed = _install_module.installed_policy()
    assert installed is not None
    assert set(installed.models.deny) == {"meta.*", DENIED_MODEL}
    # A call without a policy keeps what is installed.
    _install(bedrock)
    assert _install_module.installed_policy() == installed


def test_install_with_a_conflicting_guardrail_is_refused_and_changes_nothing(
    bedrock: EmbeddedBedrock,
) -> None:
    _install(bedrock, MANDATING)
    before = _install_module._installed
    other = GuardrailPolicy(identifier="zz9other9zz", version="1")
    with pytest.raises(securebedrock.PolicyConfigError):
        _install(bedrock, policy=Policy(guardrail=other))
    assert _install_module._installed is before


def test_concurrent_install_and_client_creation(bedrock: EmbeddedBedrock) -> None:
    clients: list[BaseClient] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        try:
            barrier.wait()
            securebedrock.install()
            clients.append(_by_boto3_session(bedrock))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    with bedrock.org_policy(MANDATING):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert all(_adapter.installed_policy(c) is not None for c in clients) and len(clients) == 6


# --- the warning without install() ---------------------------------------------------------


def _watching(client: BaseClient) -> bool:
    """Whether the warn-once check is registered on ``client`` (botocore internals)."""
    emitter = client.meta.events._emitter  # type: ignore[attr-defined]
    handlers = emitter._handlers.prefix_search("before-call.bedrock-runtime.Converse")
    return any(getattr(h, "__qualname__", "").startswith("_watch.") for h in handlers)


def test_an_unsecured_client_warns_once_when_an_org_policy_exists(
    bedrock: EmbeddedBedrock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _write_org_policy(tmp_path, _mandating(bedrock), monkeypatch)
    client = _by_boto3_client(bedrock)
    assert _watching(client)
    with pytest.warns(securebedrock.UnsecuredClientWarning) as recorded:
        with caplog.at_level(logging.WARNING, logger="securebedrock"):
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
            _by_botocore_session(bedrock).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(recorded) == 2  # once per client
    # ... and after its first call, the client no longer carries the check at all.
    assert not _watching(client)
    assert issubclass(securebedrock.UnsecuredClientWarning, UserWarning)
    records = [r for r in caplog.records if r.name == "securebedrock"]
    assert len(records) == 2
    assert "securebedrock.install()" in records[0].getMessage()
    assert "hello" not in records[0].getMessage()


def test_no_warning_for_a_client_secured_after_creation(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_org_policy(tmp_path, bedrock.pin(), monkeypatch)
    client = securebedrock.secure(_by_boto3_client(bedrock))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
        securebedrock.client(**bedrock.client_kwargs()).converse(
            modelId=MODEL_ID, messages=MESSAGES
        )
        securebedrock.install()
        _by_boto3_client(bedrock).converse(modelId=MODEL_ID, messages=MESSAGES)


def test_the_org_policy_file_is_looked_up_once(
    bedrock: EmbeddedBedrock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _write_org_policy(tmp_path, bedrock.pin(), monkeypatch)
    lookups = 0
    real = _discovery.org_policy_path

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal lookups
        lookups += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(_discovery, "org_policy_path", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", securebedrock.UnsecuredClientWarning)
        for _ in range(3):
            client = _by_boto3_client(bedrock)
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert lookups == 1


def test_a_broken_org_policy_setting_still_warns_and_never_breaks_the_call(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", "")  # meant an org policy, got none
    with pytest.warns(securebedrock.UnsecuredClientWarning):
        _by_boto3_client(bedrock).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 1
