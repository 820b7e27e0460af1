"""Reusing the replaced session's SSL context when a client is made: hardened, and only unused.

``securebedrock.client()`` saves the cost of a second ``SSLContext`` by
hardening the context of the session it replaces, but only when no connection
used it and no certificate was loaded in it; a client handed to ``secure()``
always gets a new one, since its own may have been changed by the application.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from conftest import MODEL_ID

import securebedrock
from securebedrock import _transport
from securebedrock._constants import ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY
from securebedrock.testing import EmbeddedBedrock

HELLO = [{"role": "user", "content": [{"text": "hello"}]}]


def _ssl_context(client: Any) -> ssl.SSLContext:
    context = client._endpoint.http_session._manager.connection_pool_kw["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    return context


def test_a_reused_context_is_hardened_to_the_policy(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient]
) -> None:
    tls13 = securebedrock.Policy.from_toml('version = 1\n[tls]\nminimum_version = "1.3"\n')
    client = secured_client(tls13)
    context = _ssl_context(client)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    client.converse(modelId=MODEL_ID, messages=HELLO)
    assert bedrock.requests[-1].tls_version == "TLSv1.3"
    client.close()


def test_a_used_session_is_never_a_source_and_secure_makes_a_new_context(
    bedrock: EmbeddedBedrock,
    raw_client: Callable[..., BaseClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = raw_client()
    raw.converse(modelId=MODEL_ID, messages=HELLO)
    used = raw._endpoint.http_session  # type: ignore[attr-defined]
    # A session that has connected (a pool exists, the CA bundle is loaded) is never
    # a source of a context to reuse.
    assert _transport._spare_ssl_context(used) is None
    own_context = _ssl_context(raw)
    # secure() on an existing client never reuses its context, used or not. The
    # policy pinning the embedded server is the org policy file.
    org_file = tmp_path / "org-policy.toml"
    org_file.write_text(bedrock.pin().to_toml(), encoding="utf-8")
    monkeypatch.setenv(ENV_POLICY_FILE, str(org_file))
    monkeypatch.delenv(ENV_POLICY_PUBLIC_KEY, raising=False)
    securebedrock.secure(raw)
    hardened = _ssl_context(raw)
    assert hardened is not own_context
    assert hardened.verify_mode == ssl.CERT_REQUIRED
    assert hardened.check_hostname is True
    raw.close()
