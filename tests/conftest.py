"""Shared fixtures: machine isolation, and the embedded Bedrock endpoint.

Every test runs isolated from the machine it runs on (no AWS credentials,
profiles, endpoints, proxies, CA bundles or org policy file leak in), and
talks only to loopback. Others may add fixtures here: keep additions small
and documented.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.client import BaseClient

import securebedrock
from securebedrock import _discovery, _rollback, _trust
from securebedrock.testing import EmbeddedBedrock, GuardrailSpec
from securebedrock.testing._org import installed_org_policy

#: Prefixes of environment variables that change how AWS SDKs or we behave.
_ISOLATED_PREFIXES = ("AWS_", "SECUREBEDROCK_")
#: Single variables that change where connections go or which CAs are trusted.
_ISOLATED_NAMES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)

#: The guardrail the ``bedrock`` fixture configures.
GUARDRAIL = GuardrailSpec(identifier="gr1abc2def3g", version="3", blocked_words=("forbidden",))
#: A model id the embedded endpoint answers for (Anthropic-style bodies for InvokeModel).
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="session", autouse=True)
def _share_botocore_model_loader() -> Iterator[None]:
    """Share botocore's JSON model loader between the sessions tests create.

    Every test starts from a fresh boto3 session (isolation), and each new
    session re-reads and re-parses the service models: ~0.25 s per client.
    The loader only caches immutable model data keyed by the data path, so
    sharing it keeps isolation and makes a client ~4x cheaper to create.
    """
    original = botocore.session.create_loader
    botocore.session.create_loader = functools.lru_cache(maxsize=8)(original)  # type: ignore[assignment]
    yield
    botocore.session.create_loader = original  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def _isolate_from_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clear AWS/securebedrock/proxy/CA settings; point config files at empty files."""
    for name in list(os.environ):
        if name.startswith(_ISOLATED_PREFIXES) or name in _ISOLATED_NAMES:
            monkeypatch.delenv(name, raising=False)
    config = tmp_path / "aws-config"
    credentials = tmp_path / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    # Never read the machine's /etc/securebedrock/policy.toml: point the default
    # path at a missing file. (SECUREBEDROCK_POLICY_FILE stays unset: a set but
    # missing file is a PolicyConfigError, fail closed; only the default is optional.)
    monkeypatch.setattr(_discovery, "DEFAULT_POLICY_FILE", str(tmp_path / "no-org-policy.toml"))
    # Nor its trust anchor, nor its release state: a missing anchor, and a state
    # directory of the test's own (the state directory variable is cleared above).
    monkeypatch.setattr(_trust, "TRUSTED_KEYS_FILE", str(tmp_path / "no-trusted-keys.pem"))
    monkeypatch.setattr(_rollback, "DEFAULT_STATE_DIR", str(tmp_path / "securebedrock-state"))
    # No EC2/ECS metadata look-ups for credentials or region: loopback only.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    yield


@pytest.fixture(autouse=True)
def _no_install_leaks() -> Iterator[None]:
    """``securebedrock.install()`` is process-wide: undo it (and forget the cached
    org-policy-file look-up) around every test."""
    securebedrock.uninstall()
    yield
    securebedrock.uninstall()


@pytest.fixture
def bedrock() -> Iterator[EmbeddedBedrock]:
    """A started embedded Bedrock endpoint with :data:`GUARDRAIL` configured."""
    with EmbeddedBedrock(guardrails=[GUARDRAIL]) as server:
        yield server


@pytest.fixture
def secured_client(bedrock: EmbeddedBedrock) -> Callable[..., BaseClient]:
    """Factory: ``secured_client(policy=None, **kwargs)`` → a securebedrock client
    for the ``bedrock`` server, made under ``bedrock.org_policy(...)``.

    ``policy`` (default ``Policy.default()``), pinned to the server, is the org
    policy file. When the test installed an org file of its own
    (``SECUREBEDROCK_POLICY_FILE``, or the default path), that file pinned to the server is the org
    layer and ``policy`` the code layer merged over it.
    """

    def make(policy: securebedrock.Policy | None = None, **kwargs: Any) -> BaseClient:
        options = {**bedrock.client_kwargs(), **kwargs}
        org_file = _discovery.org_policy_path()
        if org_file is None:
            with bedrock.org_policy(policy):
                return securebedrock.client(**options)
        org = securebedrock.Policy.from_file(org_file)
        if org.network.endpoint_url == bedrock.endpoint_url:
            # The test's own org file pins the server (signed, with a release...): use it.
            return securebedrock.client(**options, policy=policy)
        with bedrock.org_policy(org):
            return securebedrock.client(**options, policy=policy)

    return make


@pytest.fixture
def raw_client(bedrock: EmbeddedBedrock) -> Callable[..., BaseClient]:
    """Factory: ``raw_client(**kwargs)`` → a plain boto3 bedrock-runtime client
    for the ``bedrock`` server (no securebedrock involved)."""

    def make(**kwargs: Any) -> BaseClient:
        options = {**bedrock.client_kwargs(), **kwargs}
        return boto3.client("bedrock-runtime", **options)

    return make


def org_client(*args: Any, policy: securebedrock.Policy, **kwargs: Any) -> BaseClient:
    """``securebedrock.client(*args, **kwargs)`` made with ``policy`` as the org policy
    file (no code layer): for tests whose policy pins a loopback endpoint, which only
    the org layer may do."""
    with installed_org_policy(policy):
        return securebedrock.client(*args, **kwargs)  # type: ignore[no-any-return]
