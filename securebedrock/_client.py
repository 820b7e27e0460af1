"""The public entry points: ``client()``, ``Session`` and ``secure()``.

Each returns (or is) a real botocore client secured *in place*: ``meta``,
``exceptions``, paginators, waiters and code that introspects the client keep
working, because nothing is wrapped from the outside.
"""

from __future__ import annotations

import inspect
import threading
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

import boto3
import boto3.session
from botocore.client import BaseClient

from . import _adapter, _discovery, _retry, _transport
from ._constants import SERVICE_NAME
from ._policy import Policy

if TYPE_CHECKING:
    # Only for type checkers (boto3-stubs[bedrock-runtime]); nothing imports it at run time.
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

_ClientT = TypeVar("_ClientT", bound=BaseClient)

__all__ = ["Session", "client", "secure"]


def _check_service(service_name: object) -> None:
    """A client for another service is a programming mistake: ``ValueError``, not a refusal."""
    if service_name != SERVICE_NAME:
        raise ValueError(
            f"securebedrock secures only the {SERVICE_NAME!r} client; found {service_name!r}; "
            f"use boto3.client({service_name!r}, ...) for other services, or pass "
            f"{SERVICE_NAME!r}"
        )


def _boto3_client_parameters(
    service_name: str,
    region_name: Any = None,
    api_version: Any = None,
    use_ssl: Any = True,
    verify: Any = None,
    endpoint_url: Any = None,
    aws_access_key_id: Any = None,
    aws_secret_access_key: Any = None,
    aws_session_token: Any = None,
    config: Any = None,
    aws_account_id: Any = None,
) -> None:
    """boto3's ``Session.client`` parameters, in boto3's order (a test pins them to boto3's).

    Spelled out rather than read from boto3 at run time: instrumentation libraries wrap
    ``Session.client`` in ``(*args, **kwargs)`` functions, which would hide the names.
    """


_BOTO3_CLIENT_SIGNATURE = inspect.signature(_boto3_client_parameters)


def _bind_client_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """``(service_name, keyword arguments)`` as ``boto3.Session.client`` would bind them:
    only the arguments the caller gave, each under its name.

    Raises ``TypeError`` for what boto3 rejects (an unknown keyword, a value given twice,
    too many positional arguments).
    """
    arguments = dict(_BOTO3_CLIENT_SIGNATURE.bind(*args, **kwargs).arguments)
    service_name = arguments.pop("service_name")
    return service_name, arguments


def client(
    *args: Any,
    policy: Policy | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    retry: _retry.RetryConfig | None = None,
    **kwargs: Any,
) -> BedrockRuntimeClient:
    """A secured ``bedrock-runtime`` client.

    Takes exactly what ``boto3.client("bedrock-runtime", ...)`` takes, bound the same
    way (``client("bedrock-runtime", "us-east-1")``, ``region_name``, ``endpoint_url``,
    ``config``, ``verify``, credentials, ...; the service name may be left out), plus
    ``policy``: a :class:`Policy` from code, merged over the org policy file (it can
    tighten the org policy, never loosen it).

    ``tracer_provider``/``meter_provider``: OpenTelemetry providers for the audit
    spans and metrics (default: the global ones). ``retry``: a ``RetryConfig``
    bounding securebedrock's single retry layer (default: the ``config``'s
    ``retries`` attempts, else 4 attempts within 20 s); see docs/telemetry.md.
    """
    if not args and "service_name" not in kwargs:
        args = (SERVICE_NAME,)
    service_name, kwargs = _bind_client_arguments(args, kwargs)
    _check_service(service_name)
    effective = _discovery.effective_policy(policy)
    # As boto3.client() does: the module's default session, made once and reused. A new
    # Session per client loads the service model from disk each time (docs/performance.md
    # has the cost).
    boto_session = boto3.DEFAULT_SESSION
    if boto_session is None:
        boto_session = boto3.DEFAULT_SESSION = boto3.session.Session()
    observe = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
    secured = _create_secured(boto_session, effective, kwargs, retry=retry, **observe)
    return cast("BedrockRuntimeClient", secured)


class _CreatingSecured(threading.local):
    depth = 0


_creating = _CreatingSecured()


def creating_secured() -> bool:
    """Whether this thread is inside ``client()``/``Session.client()`` creating a client
    they secure themselves (``install()``'s hook then leaves the client to them)."""
    return _creating.depth > 0


def _creation_kwargs(
    effective: Policy, kwargs: dict[str, Any], session: Any, retry: _retry.RetryConfig | None
) -> tuple[dict[str, Any], _retry.RetryConfig]:
    """What to create a secured client with (sync or async), and its retry bounds.

    One retry layer: botocore (or aiobotocore) sends each request once; the caller's
    attempts bound ours.
    """
    kwargs = dict(kwargs)
    kwargs["config"], bounds = _retry.merge_boto_config(kwargs.get("config"), retry)
    return _transport.prepare_client_kwargs(effective, kwargs, session), bounds


def _create_secured(
    boto_session: boto3.session.Session,
    effective: Policy,
    kwargs: dict[str, Any],
    *,
    retry: _retry.RetryConfig | None = None,
    **observe: Any,
) -> BaseClient:
    prepared, bounds = _creation_kwargs(effective, kwargs, boto_session, retry)
    _creating.depth += 1
    try:
        raw: BaseClient = boto3.session.Session.client(boto_session, SERVICE_NAME, **prepared)
    finally:
        _creating.depth -= 1
    return _secure_with(
        raw, effective, boto_session=boto_session, fresh=True, retry=bounds, **observe
    )


def _securing(
    client: Any, policy: Policy | None, retry: _retry.RetryConfig | None
) -> tuple[Policy, _retry.RetryConfig | None]:
    """The policy and retry bounds to secure an existing (sync or async) client with.

    The client's own retry configuration bounds the one retry layer unless ``retry`` is
    given or the client is secured already (its layer keeps the bounds it has).
    """
    _check_service(client.meta.service_model.service_name)
    if retry is None and _adapter.installed_policy(client) is None:
        retry = _retry.retry_config_of(client.meta.config)
    return _discovery.effective_policy(policy), retry


def _secure_with(
    raw: BaseClient,
    effective: Policy,
    *,
    boto_session: boto3.session.Session | None,
    fresh: bool = False,
    **observe: Any,
) -> BaseClient:
    previous = _adapter.installed_policy(raw)
    if previous is not None:
        # Securing twice only ever tightens: the new policy merges over the old.
        effective = previous.merge(effective)
    # fresh: made just now by us, never used: its unused SSL context may be reused.
    _transport.harden_client(raw, effective, fresh=fresh and previous is None)
    _adapter.install(raw, effective, boto_session=boto_session, **observe)
    return raw


def secure(
    client: _ClientT,
    policy: Policy | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    retry: _retry.RetryConfig | None = None,
) -> _ClientT:
    """Secure an existing ``bedrock-runtime`` client in place and return it.

    The client's endpoint, credentials and configuration are checked against
    the effective policy (org file merged with ``policy``), and every call it
    makes from now on is evaluated before a byte is sent. ``tracer_provider``,
    ``meter_provider`` and ``retry`` are as for :func:`client`; the client's own
    botocore retries are switched off in favour of securebedrock's single layer, which
    takes over the client's configured attempts (``Config(retries=...)``) unless
    ``retry`` is given.
    """
    if inspect.iscoroutinefunction(getattr(type(client), "_make_api_call", None)):
        raise TypeError(
            f"securebedrock.secure() takes a boto3/botocore client; found the async "
            f"{type(client).__name__} (aiobotocore, aioboto3): use "
            "securebedrock.aio.secure(client) instead"
        )
    if not isinstance(client, BaseClient):
        raise TypeError(
            f"secure() takes a botocore bedrock-runtime client; found {type(client).__name__}"
        )
    effective, retry = _securing(client, policy, retry)
    _secure_with(
        client,
        effective,
        boto_session=None,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        retry=retry,
    )
    return client


class SecuredSessionSettings:
    """What a secured session keeps for the bedrock-runtime clients it makes: the
    effective policy and the telemetry/retry settings (sync and async sessions alike).

    A mixin placed before the session class, so its ``__init__`` takes securebedrock's
    keyword arguments and passes the rest to the session's own.
    """

    def __init__(
        self,
        *args: Any,
        policy: Policy | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        retry: _retry.RetryConfig | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._securebedrock_policy = _discovery.effective_policy(policy)
        # Telemetry providers and retry bounds for the clients this session makes.
        self._securebedrock_observe: dict[str, Any] = {
            "tracer_provider": tracer_provider,
            "meter_provider": meter_provider,
            "retry": retry,
        }

    @property
    def securebedrock_policy(self) -> Policy:
        """The effective policy the session's bedrock-runtime clients enforce."""
        return self._securebedrock_policy


class Session(SecuredSessionSettings, boto3.session.Session):
    """A ``boto3.Session`` whose ``.client("bedrock-runtime")`` is secured.

    Other services are untouched. Hand it to agent frameworks that build their
    own clients from a session: the Bedrock runtime clients they make are
    secured too.
    """

    @overload  # type: ignore[override]
    def client(
        self, service_name: Literal["bedrock-runtime"], *args: Any, **kwargs: Any
    ) -> BedrockRuntimeClient: ...
    @overload
    def client(self, service_name: str, *args: Any, **kwargs: Any) -> BaseClient: ...
    def client(self, *args: Any, **kwargs: Any) -> BaseClient:
        """Like ``boto3.Session.client``; ``bedrock-runtime`` clients come back secured."""
        service_name, bound = _bind_client_arguments(args, kwargs)
        if service_name != SERVICE_NAME:
            # boto3-stubs types client() as one overload per service literal.
            return super().client(service_name, **bound)  # type: ignore[call-overload,no-any-return]
        return _create_secured(
            self, self._securebedrock_policy, bound, **self._securebedrock_observe
        )
