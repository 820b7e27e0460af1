"""Resolve inference profiles with the control plane (``bedrock:GetInferenceProfile``).

An application inference profile ARN (or a system profile ARN without a geography
prefix) does not say where it routes: the profile may copy a single-region model or a
cross-region system profile. Before the pure engine evaluates such a call, the adapter
asks this resolver, which calls ``GetInferenceProfile`` once per ARN and caches the
answer (``models[].modelArn`` -> the regions and base model ids behind the profile).

The control-plane client is held to the same transport rules as the runtime client:
it is built from the runtime client's credentials and region, passed through
``_transport.prepare_client_kwargs(..., service_name="bedrock")`` and
``_transport.harden_client`` (TLS floor, peer checks, the hardened session's send).
Its endpoint is the policy's ``network.control_plane_endpoint_url`` when set, otherwise
the region's default ``bedrock`` endpoint (which private DNS resolves to the control-plane
VPC endpoint); it never reuses the runtime pin ``network.endpoint_url``, a runtime VPC
endpoint that does not serve the control plane. It always signs with SigV4: a bearer
token (``AWS_BEARER_TOKEN_BEDROCK``) is never sent to the control plane, whatever
``auth.allow_api_keys`` says, and a request that carries any other ``Authorization``
scheme is refused before it is sent.

The adapter asks only for calls that every other rule already allows (see
``_adapter._resolve_profiles``): a call refused on its own parameters never causes a
control-plane request.

Fail closed: anything that cannot be resolved comes back as a short, content-free
reason; the engine then refuses the call and says how to pre-declare the profile in
``[inference_profile.known]`` (declared profiles never cause a call).
"""

from __future__ import annotations

import contextvars
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Final

import botocore.credentials
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config

from . import _transport
from ._constants import CONTROL_PLANE_SERVICE_NAME
from ._errors import PolicyViolation, SecureBedrockError
from ._modelid import parse_model_id
from ._policy import Policy
from ._rules import ResolvedProfile

__all__ = ["ProfileResolver", "control_plane_factory", "require_sigv4"]

#: How long a failed resolution is remembered before it is tried again (seconds).
FAILURE_TTL: Final = 30.0
#: The control-plane call is on the first inference call's path: keep it short.
_CONTROL_PLANE_TIMEOUT: Final = 10
# Config options copied from the runtime client (where it connects from and how).
_COPIED_CONFIG: Final = (
    "proxies",
    "proxies_config",
    "client_cert",
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "tcp_keepalive",
    "user_agent_extra",
)

ClientFactory = Callable[[], Any]

#: botocore's name for SigV4; the only signature the control-plane client uses.
_SIGV4: Final = "v4"
_SIGV4_SCHEME: Final = "aws4-hmac-sha256"
_SIGV4_HANDLER_ID: Final = "securebedrock-control-plane-sigv4-only"


class ProfileResolver:
    """Thread-safe, caching resolver of inference-profile ARNs.

    Successful answers are kept for the resolver's life (a profile's routes do not
    change under an ARN in practice; a new secured client resolves afresh). Failures
    are kept for :data:`FAILURE_TTL` seconds, so a transient error or a missing
    permission does not turn every call into a control-plane call.
    """

    def __init__(
        self,
        client_factory: ClientFactory,
        *,
        failure_ttl: float = FAILURE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = client_factory
        self._client: Any = None
        self._failure_ttl = failure_ttl
        self._clock = clock
        self._resolved: dict[str, ResolvedProfile] = {}
        self._failed: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        #: How many GetInferenceProfile calls were made (for tests and diagnostics).
        self.calls = 0

    def resolve_all(self, arns: Iterable[str]) -> tuple[dict[str, ResolvedProfile], dict[str, str]]:
        """Resolve each ARN: ``(resolved, unresolved reasons)``."""
        resolved: dict[str, ResolvedProfile] = {}
        unresolved: dict[str, str] = {}
        for arn in arns:
            answer = self.resolve(arn)
            if isinstance(answer, ResolvedProfile):
                resolved[arn] = answer
            else:
                unresolved[arn] = answer
        return resolved, unresolved

    def resolve(self, arn: str) -> ResolvedProfile | str:
        """The profile's routes, or why they could not be resolved (never raises)."""
        cached = self._cached(arn)
        if cached is not None:
            return cached
        with self._lock:
            lock = self._locks.setdefault(arn, threading.Lock())
        with lock:
            # Another thread may have resolved it while this one waited.
            cached = self._cached(arn)
            if cached is not None:
                return cached
            answer = self._fetch(arn)
            if isinstance(answer, ResolvedProfile):
                self._resolved[arn] = answer
                self._failed.pop(arn, None)
            else:
                self._failed[arn] = (answer, self._clock() + self._failure_ttl)
            return answer

    def _cached(self, arn: str) -> ResolvedProfile | str | None:
        resolved = self._resolved.get(arn)
        if resolved is not None:
            return resolved
        failed = self._failed.get(arn)
        if failed is not None and failed[1] > self._clock():
            return failed[0]
        return None

    def _control_plane(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def _fetch(self, arn: str) -> ResolvedProfile | str:
        try:
            client = self._control_plane()
        except SecureBedrockError as exc:
            return f"the control-plane client could not be created ({_describe(exc)})"
        except Exception as exc:  # fail closed on anything else, with a content-free reason
            return f"the control-plane client could not be created ({type(exc).__name__})"
        self.calls += 1
        try:
            response = client.get_inference_profile(inferenceProfileIdentifier=arn)
        except Exception as exc:
            return f"GetInferenceProfile failed ({_describe(exc)})"
        return _parse_response(arn, response)


def _describe(exc: BaseException) -> str:
    """A short, content-free description: error code or rule, never a message body."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    rule = getattr(exc, "rule", None)
    if rule:
        return f"{type(exc).__name__} {rule}"
    return type(exc).__name__


def _parse_response(arn: str, response: Any) -> ResolvedProfile | str:
    models = response.get("models") if isinstance(response, dict) else None
    if not isinstance(models, list) or not models:
        return "GetInferenceProfile returned no models"
    regions: list[str] = []
    model_ids: list[str] = []
    for entry in models:
        model_arn = entry.get("modelArn") if isinstance(entry, dict) else None
        ref = parse_model_id(model_arn) if isinstance(model_arn, str) else None
        if ref is None or ref.kind != "foundation-model" or not ref.region:
            return "GetInferenceProfile returned a model that is not a foundation-model ARN"
        assert ref.base_model_id is not None  # noqa: S101 -- set for every foundation model
        regions.append(ref.region)
        model_ids.append(ref.base_model_id)
    return ResolvedProfile(
        arn=arn,
        regions=tuple(dict.fromkeys(regions)),
        model_ids=tuple(dict.fromkeys(model_ids)),
    )


class _SameCredentials(botocore.credentials.CredentialProvider):
    """Hands the runtime client's own credentials object (refreshable ones keep refreshing)."""

    METHOD = "securebedrock-runtime-client"
    CANONICAL_NAME = "securebedrock-runtime-client"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


#: Credentials to resolve profiles with instead of the runtime client's own object, for
#: the look-up running in this context (``securebedrock.aio`` sets them: an aiobotocore
#: client's credentials are read with ``await``, which a sync control-plane client cannot).
override_credentials: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "securebedrock_control_plane_credentials", default=None
)


def control_plane_factory(runtime: BaseClient, policy: Policy, boto_session: Any) -> ClientFactory:
    """A factory (called lazily, at most once per resolver) of the ``bedrock`` client.

    Same region, credentials, CA bundle and proxy settings as ``runtime``; the
    endpoint rule is in the module docstring. Raises what the transport rules raise.
    """
    # Weak: the factory lives in the runtime client's own state, and a strong reference
    # back would make every secured client a reference cycle (docs/performance.md).
    runtime_ref = weakref.ref(runtime)

    def build() -> BaseClient:
        runtime = runtime_ref()
        if runtime is None:
            raise SecureBedrockError(
                "the bedrock-runtime client this profile resolution belongs to is gone",
                found="a profile resolution for a client that no longer exists",
                expected="a call made through a live securebedrock client",
                fix="keep the client while calling it",
            )
        # No endpoint_url here: prepare_client_kwargs routes to the policy's
        # network.control_plane_endpoint_url, or botocore's regional bedrock endpoint.
        kwargs: dict[str, Any] = {"region_name": runtime.meta.region_name}
        http_session = getattr(getattr(runtime, "_endpoint", None), "http_session", None)
        verify = getattr(http_session, "_verify", None)
        if verify is not None:
            kwargs["verify"] = verify
        runtime_config = runtime.meta.config
        copied = {
            name: getattr(runtime_config, name)
            for name in _COPIED_CONFIG
            if getattr(runtime_config, name, None) is not None
        }
        kwargs["config"] = Config(
            connect_timeout=_CONTROL_PLANE_TIMEOUT,
            read_timeout=_CONTROL_PLANE_TIMEOUT,
            retries={"mode": "standard", "max_attempts": 2},
            # Set in code, so botocore never prefers AWS_BEARER_TOKEN_BEDROCK over it.
            signature_version=_SIGV4,
            **copied,
        )
        # The named profile only when one was chosen (boto3 reports "default" otherwise,
        # which botocore refuses when no such profile exists).
        profile = getattr(getattr(boto_session, "_session", None), "profile", None)
        session = botocore.session.Session(profile=profile)
        # Share the application session's data loader: it has parsed the service
        # models and endpoint rules already (loading and parsing the bedrock model would
        # otherwise be paid on the first call of every secured client).
        parent = getattr(boto_session, "_session", None)
        if isinstance(parent, botocore.session.Session):
            session.register_component("data_loader", parent.get_component("data_loader"))
        credentials = override_credentials.get() or getattr(
            getattr(runtime, "_request_signer", None), "_credentials", None
        )
        if credentials is not None:
            session.register_component(
                "credential_provider",
                botocore.credentials.CredentialResolver(providers=[_SameCredentials(credentials)]),
            )
        prepared = _transport.prepare_client_kwargs(
            policy, kwargs, boto_session, service_name=CONTROL_PLANE_SERVICE_NAME
        )
        client: BaseClient = session.create_client(CONTROL_PLANE_SERVICE_NAME, **prepared)
        _transport.harden_client(client, policy)
        require_sigv4(client)
        return client

    return build


def _refuse_other_schemes(request: Any, **_: Any) -> None:
    """``before-send``: only a SigV4 ``Authorization`` header leaves for the control plane."""
    header = request.headers.get("Authorization") if request is not None else None
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    scheme = header.strip().split(None, 1)[0].lower() if isinstance(header, str) else ""
    if scheme == _SIGV4_SCHEME:
        return
    found = f"an 'Authorization: {scheme}' header" if scheme else "no Authorization header"
    raise PolicyViolation(
        rule="auth.api_key",
        operation="GetInferenceProfile",
        found=f"{found} on a control-plane request",
        expected="SigV4 (AWS4-HMAC-SHA256) on every control-plane request",
        fix="remove the code that changes the control-plane request's signature; "
        "securebedrock resolves inference profiles with IAM credentials only",
    )


def require_sigv4(client: BaseClient) -> None:
    """Make ``client`` (a control-plane client) sign with SigV4 and send nothing else.

    The client must have been created with ``signature_version="v4"`` in its
    ``Config``; this checks that, and registers a last ``before-send`` check that
    refuses any other ``Authorization`` scheme (a bearer token set by a handler).
    """
    signer = getattr(client, "_request_signer", None)
    if getattr(signer, "signature_version", None) != _SIGV4:
        raise PolicyViolation(
            rule="auth.api_key",
            operation="GetInferenceProfile",
            found="a control-plane client that does not sign with SigV4 "
            f"({getattr(signer, 'signature_version', None)!r})",
            expected="SigV4 (IAM credentials)",
            fix="report this as a securebedrock bug",
        )
    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_last(
        f"before-send.{service_id}", _refuse_other_schemes, unique_id=_SIGV4_HANDLER_ID
    )
