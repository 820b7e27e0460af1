"""Environment settings: one rule for empty values, the same for every reader.

securebedrock's own variables (``SECUREBEDROCK_*``): unset means "not configured"; set
but empty or white space is a ``PolicyConfigError`` naming the variable (fail closed: a
templating slip never drops a security setting). AWS variables are read as botocore
reads them: empty is unset. See ``docs/environment.md``.
"""

from __future__ import annotations

import ast
import dataclasses
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient

import securebedrock
from securebedrock import _digest, _discovery, _env, _rollback, _signing, _transport
from securebedrock._cli.doctor import render_table
from securebedrock._constants import (
    ENV_ALLOW_LEGACY_SIGNATURES,
    ENV_AUDIT_HMAC_KEY,
    ENV_MODE,
    ENV_POLICY_FILE,
    ENV_POLICY_PUBLIC_KEY,
    ENV_STATE_DIR,
    ENVIRONMENT_VARIABLES,
)
from securebedrock._doctor import CheckResult
from securebedrock.testing import EmbeddedBedrock
from securebedrock.tools import ToolGate, ToolPolicy

PolicyConfigError = securebedrock.PolicyConfigError

_DIGEST_POLICY = dataclasses.replace(
    securebedrock.Policy.default(),
    audit=dataclasses.replace(securebedrock.Policy.default().audit, content="digest"),
)

#: Each of securebedrock's own variables -> the real code that reads it.
READERS: dict[str, Callable[[Mapping[str, str]], object]] = {
    ENV_POLICY_FILE: _discovery.org_policy_path,
    ENV_POLICY_PUBLIC_KEY: lambda env: _discovery.effective_policy(None, environ=env),
    ENV_MODE: lambda env: _discovery.effective_policy(None, environ=env),
    ENV_AUDIT_HMAC_KEY: lambda env: _digest.load_key(_DIGEST_POLICY, env),
    ENV_STATE_DIR: _rollback.state_dir,
    ENV_ALLOW_LEGACY_SIGNATURES: _signing.allow_legacy,
}

TOOL_POLICY = "permit (principal, action, resource);\n"


def test_every_variable_has_an_empty_value_case() -> None:
    assert set(READERS) == set(ENVIRONMENT_VARIABLES)


@pytest.mark.parametrize("name", sorted(READERS))
@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_a_set_but_empty_setting_fails_closed(name: str, blank: str) -> None:
    with pytest.raises(PolicyConfigError) as info:
        READERS[name]({name: blank})
    message = str(info.value)
    assert message.startswith(f"[{name}] set but empty; found: {name} is set to ")
    assert f"unset {name}" in (info.value.fix or "") or "unset it" in (info.value.fix or "")
    assert info.value.path == name


def test_unset_settings_take_their_defaults() -> None:
    empty: dict[str, str] = {}
    assert _rollback.state_dir(empty) == Path(_rollback.DEFAULT_STATE_DIR)
    assert _signing.allow_legacy(empty) is False
    assert _discovery.effective_policy(None, environ=empty).mode == "enforce"
    # A digest policy needs the key: unset is its own error, not a silent "no digest".
    with pytest.raises(PolicyConfigError, match="not set"):
        _digest.load_key(_DIGEST_POLICY, empty)
    assert _digest.load_key(securebedrock.Policy.default(), {ENV_AUDIT_HMAC_KEY: ""}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("0", False), ("false", False), ("No", False)],
)
def test_legacy_switch_values(value: str, expected: bool) -> None:
    assert _signing.allow_legacy({ENV_ALLOW_LEGACY_SIGNATURES: value}) is expected


def test_legacy_switch_refuses_other_values() -> None:
    with pytest.raises(PolicyConfigError) as info:
        _signing.allow_legacy({ENV_ALLOW_LEGACY_SIGNATURES: "maybe"})
    assert "'maybe'" in (info.value.found or "")


# --------------------------------------------------------------------------- SECUREBEDROCK_MODE


@pytest.fixture
def tool_policy() -> ToolPolicy:
    return ToolPolicy.from_text(TOOL_POLICY, source="all.cedar")


@pytest.mark.parametrize("value", ["", " ", "ENFORCE", "off", "log-only"])
def test_client_and_tool_gate_refuse_the_same_mode_values(
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tool_policy: ToolPolicy,
) -> None:
    monkeypatch.setenv(ENV_MODE, value)
    with pytest.raises(PolicyConfigError) as client_error:
        secured_client()
    with pytest.raises(PolicyConfigError) as gate_error:
        ToolGate(policy=tool_policy, mode="log_only")
    assert bedrock.requests == []
    assert repr(value) in (client_error.value.found or "")
    assert repr(value) in (gate_error.value.found or "")
    assert client_error.value.path == gate_error.value.path == ENV_MODE


@pytest.mark.parametrize(
    ("value", "gate_mode", "expected"),
    [
        ("enforce", "log_only", "enforce"),
        ("enforce", "enforce", "enforce"),
        ("apply", "log_only", "log_only"),  # a gate has no apply stage; apply < enforce
        ("log_only", "enforce", "enforce"),  # never loosens
    ],
)
def test_tool_gate_accepts_every_mode_the_client_accepts(
    value: str,
    gate_mode: Any,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    tool_policy: ToolPolicy,
) -> None:
    monkeypatch.setenv(ENV_MODE, value)
    assert ToolGate(policy=tool_policy, mode=gate_mode).mode == expected


def test_mode_reader_returns_each_stage() -> None:
    assert _env.mode({}) is None
    for stage in ("log_only", "apply", "enforce"):
        assert _env.mode({ENV_MODE: stage}) == stage


# --------------------------------------------------------------------------- AWS variables


def test_empty_aws_region_is_unset() -> None:
    assert _transport.client_region(None, None, {"AWS_REGION": ""}) is None
    assert _transport.client_region(None, None, {"AWS_REGION": "eu-west-1"}) == "eu-west-1"


@pytest.mark.parametrize("name", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"])
def test_empty_endpoint_variables_are_unset_as_for_botocore(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, "")
    assert _transport.endpoint_source() == (None, "botocore default")
    monkeypatch.setenv(name, "https://bedrock-runtime.us-east-1.amazonaws.com")
    assert _transport.endpoint_source() == (
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        f"environment variable {name}",
    )


@pytest.mark.parametrize(("value", "ignored"), [("true", True), ("TRUE", True), ("", False)])
def test_ignore_configured_endpoints_switch(
    value: str, ignored: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://bedrock-runtime.us-east-1.amazonaws.com")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", value)
    url, _ = _transport.endpoint_source()
    assert (url is None) is ignored


# --------------------------------------------------------------------------- NO_COLOR


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("value", "coloured"), [(None, True), ("", True), ("1", False)])
def test_no_color_counts_only_when_non_empty(
    value: str | None, coloured: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", value)
    out = _Terminal()
    render_table([CheckResult(name="tls", status="FAIL", detail="TLSv1.1")], out)
    assert ("\033[" in out.getvalue()) is coloured


# --------------------------------------------------------------------------- one reader


#: Modules that set (and restore) variables for an embedded endpoint; they read no setting.
_WRITERS = {"_demo.py", "testing/_org.py"}


def test_only_the_settings_helper_reads_the_environment() -> None:
    package = Path(securebedrock.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative == "_env.py" or relative in _WRITERS:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and node.attr in {"environ", "environb", "getenv", "getenvb"}
            ) or (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and any(alias.name in {"environ", "getenv"} for alias in node.names)
            ):
                found.append(f"{relative}:{node.lineno}")
    assert not found, f"read environment settings through securebedrock._env: {found}"
