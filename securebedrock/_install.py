"""``install()``: secure every ``bedrock-runtime`` client botocore creates from now on.

The hook is one class-level wrapper around ``botocore.session.Session.create_client``,
put in place when securebedrock is imported. Every way of making a client that
frameworks use ends there: ``boto3.client(...)`` and ``boto3.Session().client(...)``
call it on their botocore session, and ``botocore.session.get_session().create_client(...)``
is it. botocore's own events cannot serve: each botocore session has its own event
emitter (a client gets a copy of it), so there is no process-wide event to register
on, and the client-creation events (``creating-client-class.*``) fire before the
client exists, with no event after it is built.

What the wrapper does, per client:

- any service other than ``bedrock-runtime``, and the clients securebedrock's own
  entry points (``client()``, ``Session``) create, pass through untouched;
- after :func:`install`: the arguments are checked and adjusted as
  ``securebedrock.client()`` does it (endpoint rules and pins, ``verify``, FIPS,
  one retry layer), the client is created, then hardened and secured in place with
  the installed policy, as :func:`securebedrock.secure` does. A refused endpoint
  fails at creation;
- without :func:`install`, when an org policy file exists: the client is created
  as it is, and the first call it makes while still unsecured warns once
  (:class:`UnsecuredClientWarning`, and a record on the ``securebedrock`` logger).
  Whether an org policy file exists is looked up once per process, at the first
  ``bedrock-runtime`` client, never per call. Without an org policy file nothing
  is registered on the client at all.

So importing securebedrock changes nothing a client does; it may only warn.
A session subclass whose ``create_client`` calls up to botocore's gets secured
clients too; one that overrides it without calling up (aiobotocore's ``AioSession``)
never reaches the wrapper: its clients are not covered.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
import weakref
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.client import BaseClient

from . import _adapter, _client, _discovery, _retry, _transport, _urls
from ._constants import ENV_POLICY_FILE, INSTRUMENTATION_NAME, SERVICE_NAME
from ._errors import SecureBedrockError
from ._policy import Policy

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["UnsecuredClientWarning", "install", "installed_policy", "uninstall"]

_log = logging.getLogger(INSTRUMENTATION_NAME)

#: Modules whose frames a warning skips, so it points at the code that made the call.
_INTERNAL_PREFIXES = (
    "botocore",
    "boto3",
    "securebedrock",
    "urllib3",
    "aiobotocore",
    "aioboto3",
    "asyncio",
)
_WATCH_ID = "securebedrock-unsecured-client-warning"


class UnsecuredClientWarning(UserWarning):
    """An unsecured ``bedrock-runtime`` client made a call where an org policy file exists.

    The org policy applies only to secured clients. Call :func:`securebedrock.install`
    early in the process (before clients are created), build the client with
    :func:`securebedrock.client`, or pass it through :func:`securebedrock.secure`.
    """


@dataclass(frozen=True, kw_only=True)
class _Installed:
    """What :func:`install` secures new clients with (replaced whole, never mutated)."""

    code_policy: Policy | None
    policy: Policy
    tracer_provider: Any = None
    meter_provider: Any = None
    retry: _retry.RetryConfig | None = None


_lock = threading.Lock()
_installed: _Installed | None = None
#: ``None``: not looked up yet in this process (or since :func:`uninstall`).
_org_file_present: bool | None = None


def install(
    policy: Policy | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    retry: _retry.RetryConfig | None = None,
) -> None:
    """Secure every ``bedrock-runtime`` client boto3 or botocore creates from now on.

    The policy is the effective one, resolved now: the org policy file merged with
    ``policy`` (which may only tighten it), then ``SECUREBEDROCK_MODE``. Clients
    made afterwards, by any code (``boto3.client``, ``boto3.Session().client``,
    ``botocore`` sessions, frameworks that build their own), are checked at creation
    (a refused endpoint raises there) and secured in place, like :func:`secure`.
    ``tracer_provider``/``meter_provider``/``retry`` are as for :func:`client`;
    without ``retry`` each client's own ``Config(retries=...)`` bounds our retry layer.

    Idempotent: calling it again with the same arguments does nothing. A call with a
    different ``policy`` only tightens: the new effective policy merges over the
    installed one (two different mandated guardrails are a :class:`PolicyConfigError`),
    for the clients created after it.

    When aiobotocore is installed, its clients are covered too: ``AioSession.create_client``
    (aioboto3's ``Session.client`` ends there) gives ``bedrock-runtime`` clients secured
    as :func:`securebedrock.aio.client` does. Not covered: clients created before the
    call, httpx-based SDKs, and code that calls botocore internals.
    """
    global _installed
    if retry is not None and not isinstance(retry, _retry.RetryConfig):
        raise TypeError(f"retry= takes a securebedrock.RetryConfig; found {type(retry).__name__}")
    _hook_aiobotocore()
    effective = _discovery.effective_policy(policy)
    with _lock:
        current = _installed
        if current is not None:
            if (
                policy == current.code_policy
                and tracer_provider in (None, current.tracer_provider)
                and meter_provider in (None, current.meter_provider)
                and retry in (None, current.retry)
            ):
                return
            # Only ever tighten: the new effective policy merges over the installed one.
            effective = current.policy.merge(effective)
            if current.code_policy is not None:
                policy = (
                    current.code_policy if policy is None else current.code_policy.merge(policy)
                )
            tracer_provider = tracer_provider or current.tracer_provider
            meter_provider = meter_provider or current.meter_provider
            retry = retry or current.retry
        _installed = _Installed(
            code_policy=policy,
            policy=effective,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            retry=retry,
        )


def _hook_aiobotocore() -> None:
    """Put the ``AioSession.create_client`` wrapper in place when aiobotocore is installed
    (idempotent). Importing ``securebedrock.aio`` does the same; this is the import."""
    try:
        import aiobotocore.session  # noqa: F401
    except ImportError:
        return  # no aiobotocore: no async clients to secure
    from .aio import _install as _aio_install  # the async entry points, aiohttp included

    _aio_install.hook()


def uninstall() -> None:
    """Undo :func:`install` for clients created from now on (for tests).

    Clients secured while it was installed stay secured. Also forgets whether an org
    policy file exists, so the next ``bedrock-runtime`` client looks it up again.
    """
    global _installed, _org_file_present
    with _lock:
        _installed = None
        _org_file_present = None


def installed_policy() -> Policy | None:
    """The policy :func:`install` secures new clients with, or ``None`` when not installed."""
    current = _installed
    return current.policy if current is not None else None


# --- the hook -------------------------------------------------------------------------------

#: botocore's own method. On a re-import of this module (``importlib.reload``) the class
#: already holds our wrapper: take the original from it, never wrap the wrapper.
_original_create_client = getattr(
    botocore.session.Session.create_client,
    "_securebedrock_original",
    botocore.session.Session.create_client,
)


def _create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
    """``botocore.session.Session.create_client``, securing ``bedrock-runtime`` clients."""
    service_name = args[0] if args else kwargs.get("service_name")
    if service_name != SERVICE_NAME or _client.creating_secured():
        return _original_create_client(self, *args, **kwargs)
    state = _installed
    if state is None:
        client = _original_create_client(self, *args, **kwargs)
        if _org_policy_present():
            _watch(client)
        return client
    return _create_installed(self, state, args, kwargs)


def _create_installed(
    session: botocore.session.Session,
    state: _Installed,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> BaseClient:
    service_name, bound = _client._bind_client_arguments(args, kwargs)
    bound["config"], retry = _retry.merge_boto_config(bound.get("config"), state.retry)
    prepared = _transport.prepare_client_kwargs(state.policy, bound, _session_view(session))
    raw: BaseClient = _original_create_client(session, service_name, **prepared)
    return _client._secure_with(
        raw,
        state.policy,
        boto_session=None,
        fresh=True,
        retry=retry,
        tracer_provider=state.tracer_provider,
        meter_provider=state.meter_provider,
    )


def _session_view(session: botocore.session.Session) -> SimpleNamespace:
    """What ``prepare_client_kwargs`` reads from a boto3 session, for a botocore one."""
    try:
        region = session.get_config_variable("region")
        profile = session.profile
    except Exception:
        # botocore reports a broken configuration itself when it builds the client.
        region, profile = None, None
    return SimpleNamespace(_session=session, region_name=region, profile_name=profile)


_create_client._securebedrock_original = _original_create_client  # type: ignore[attr-defined]
botocore.session.Session.create_client = _create_client  # type: ignore[method-assign]


# --- the warning without install() ----------------------------------------------------------


def _org_policy_present() -> bool:
    """Whether an org policy file exists; looked up once (until :func:`uninstall`)."""
    global _org_file_present
    present = _org_file_present
    if present is None:
        try:
            present = _discovery.org_policy_path() is not None
        except SecureBedrockError:
            # SECUREBEDROCK_POLICY_FILE set but empty: an org policy was meant.
            present = True
        _org_file_present = present
    return present


def _watch(client: BaseClient) -> None:
    """Warn at the first call ``client`` makes while still unsecured (never raises)."""
    client_ref = weakref.ref(client)
    event = f"before-call.{SERVICE_NAME}"
    done = False

    def check(**_: Any) -> None:
        nonlocal done
        if done:
            return
        done = True
        try:
            watched = client_ref()
            if watched is None:
                return
            if _adapter.installed_policy(watched) is None:
                _warn(watched)
            # Asked once: later calls do not even reach this handler. (botocore calls
            # a snapshot of the handlers, so unregistering while it runs is safe.)
            watched.meta.events.unregister(event, unique_id=_WATCH_ID)
        except Exception:  # noqa: S110 - a warning never breaks a call
            pass

    client.meta.events.register(event, check, unique_id=_WATCH_ID)


def _warn(client: BaseClient) -> None:
    endpoint = _urls.mask(str(client.meta.endpoint_url))
    message = (
        f"an unsecured {SERVICE_NAME} client (region {client.meta.region_name}, endpoint "
        f"{endpoint}) made a call, but an org policy file applies to this process "
        f"({ENV_POLICY_FILE} or the default path); the policy is not enforced on this "
        "client; fix: call securebedrock.install() before clients are created, or use "
        "securebedrock.client() / securebedrock.secure(client)"
    )
    _log.warning(message)
    warnings.warn(message, UnsecuredClientWarning, stacklevel=_caller_stacklevel())


def _caller_stacklevel() -> int:
    """The ``stacklevel`` (seen from ``_warn``) of the first frame outside botocore,
    boto3 and securebedrock: the code that made the call."""
    frame = sys._getframe(1)  # _warn: stacklevel 1
    level = 1
    while frame.f_back is not None:
        frame = frame.f_back
        level += 1
        name = str(frame.f_globals.get("__name__", ""))
        if not name.startswith(_INTERNAL_PREFIXES):
            return level
    return 1
