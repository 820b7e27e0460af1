"""What every ``doctor`` check shares: its result, the options, and what earlier checks learnt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
import boto3.session

from . import _env, _transport, _urls
from ._constants import ENV_CA_BUNDLE
from ._errors import SecureBedrockError
from ._policy import Policy

__all__ = ["CheckResult", "Context", "DoctorOptions", "Status"]

Status = Literal["PASS", "WARN", "FAIL"]


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """The outcome of one check: ``fix`` says what to do when ``status`` is not PASS."""

    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True, kw_only=True)
class DoctorOptions:
    """What to check. Every ``None`` means "what a client on this host would use"."""

    region: str | None = None
    policy_file: str | None = None
    endpoint_url: str | None = None
    control_plane_endpoint_url: str | None = None
    ca_bundle: str | None = None
    timeout: float = 5.0
    environ: Mapping[str, str] = field(default_factory=_env.source)


class Context:
    """What earlier checks learnt, for the later ones."""

    def __init__(self, options: DoctorOptions) -> None:
        self.options = options
        self.policy: Policy = Policy.default()
        self.policy_ok = False
        self.session = boto3.session.Session(region_name=options.region)
        self.region: str | None = _transport.client_region(
            options.region, self.session, options.environ
        )
        self.endpoint_url: str | None = None
        self.client_kwargs: dict[str, Any] = {}

    @property
    def verify(self) -> str | bool:
        if self.options.ca_bundle:
            return self.options.ca_bundle
        env = _env.aws_setting(ENV_CA_BUNDLE, self.options.environ)
        if env:
            return env
        configured = self.session._session.get_config_variable("ca_bundle")
        return str(configured) if configured else True

    @property
    def host(self) -> str:
        parsed = _urls.read_endpoint(self.endpoint_url)
        return parsed.host if isinstance(parsed, _urls.EndpointURL) else ""

    @property
    def port(self) -> int:
        parsed = _urls.read_endpoint(self.endpoint_url)
        return parsed.port if isinstance(parsed, _urls.EndpointURL) else 443


def _pass(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, status="PASS", detail=detail)


def _warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name=name, status="WARN", detail=detail, fix=fix)


def _fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name=name, status="FAIL", detail=detail, fix=fix)


def _one_line(error: BaseException) -> str:
    text = error.diagnostics() if isinstance(error, SecureBedrockError) else str(error)
    return " ".join(part.strip() for part in text.splitlines())


def _severe(required: bool, name: str, detail: str, fix: str) -> CheckResult:
    return _fail(name, detail, fix) if required else _warn(name, detail, fix)
