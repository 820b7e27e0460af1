"""Every error names what was found, what was expected and the fix."""

from __future__ import annotations

import pickle

from securebedrock import PolicyConfigError, PolicyViolation, TransportSecurityError
from securebedrock._rules import Violation


def test_policy_violation_message_and_attributes() -> None:
    err = PolicyViolation(
        rule="region.cross_region",
        operation="Converse",
        found="model 'us.anthropic.claude-3-haiku-20240307-v1:0' (geography us)",
        expected="a model served in us-east-1 only",
        fix="use the in-region model id or set regions.cross_region = true",
    )
    assert err.rule == "region.cross_region"
    assert err.operation == "Converse"
    text = str(err)
    assert "region.cross_region" in text
    assert "found:" in text and "expected:" in text and "fix:" in text
    assert "fix:" in err.diagnostics()


def test_policy_violation_pickles() -> None:
    err = PolicyViolation(
        rule="model.not_allowed", operation="InvokeModel", found="a", expected="b", fix="c"
    )
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 (our own bytes)
    assert isinstance(again, PolicyViolation)
    assert again.rule == err.rule and str(again) == str(err)


def test_config_error_prefixes_path() -> None:
    err = PolicyConfigError(
        "must be a string",
        path="guardrail.version",
        found="3",
        expected='a string such as "3"',
        fix="quote the value",
    )
    assert err.path == "guardrail.version"
    assert str(err).startswith("[guardrail.version] ")


def test_transport_error_names_host() -> None:
    err = TransportSecurityError(
        rule="tls.version",
        host="example.invalid",
        found="TLSv1.2",
        expected="TLSv1.3 or higher",
        fix="raise the server's TLS",
    )
    assert err.rule == "tls.version" and err.host == "example.invalid"
    assert "example.invalid" in str(err)


def test_policy_violation_for_several_violations_is_headed_by_the_first() -> None:
    violations = (
        Violation(rule="model.not_allowed", found="a", expected="b", fix="c"),
        Violation(rule="region.cross_region", found="d", expected="e", fix="f"),
    )
    err = PolicyViolation.refusing("Converse", violations)
    assert (err.rule, err.operation, err.found, err.expected, err.fix) == (
        "model.not_allowed",
        "Converse",
        "a",
        "b",
        "c",
    )
    assert err.violations == violations
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 (our own bytes)
    assert again.violations == violations
