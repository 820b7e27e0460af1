"""securebedrock.tools: real cedarpy evaluations of tool calls, policy loading and its errors."""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_TOOL_CALL_ID,
    GEN_AI_TOOL_NAME,
)

import securebedrock
from securebedrock.tools import (
    DECISION_EVENT,
    CedarNotInstalledError,
    Principal,
    ToolDecision,
    ToolGate,
    ToolGateError,
    ToolPolicy,
    ToolPolicyError,
    denied_tool_result,
)

GATEWAY = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/refunds"

#: The policy from the reference text (bedrock-security-model.txt), with the gateway ARN
#: filled in: permitted only for amounts under 500 and the billing-agent role.
REFERENCE_POLICY = f"""
permit (
  principal is AgentCore::OAuthUser,
  action == AgentCore::Action::"ProcessRefund__execute",
  resource == AgentCore::Gateway::"{GATEWAY}"
)
when {{
  context.input.amount < 500 &&
  principal.getTag("role") == "billing-agent"
}};
"""

POLICIES = f"""
@id("refund-under-500")
permit (
  principal is AgentCore::OAuthUser,
  action == AgentCore::Action::"ProcessRefund__execute",
  resource == AgentCore::Gateway::"{GATEWAY}"
)
when {{
  context.input.amount < 500 &&
  principal.hasTag("role") &&
  principal.getTag("role") == "billing-agent"
}};

@id("lookup")
permit (principal, action == AgentCore::Action::"LookupOrder__execute", resource);

@id("no-blocked-orders")
forbid (principal, action, resource)
when {{ context.input has orderId && context.input.orderId == "BLOCKED-1" }};

@id("channel-must-be-web")
forbid (principal, action == AgentCore::Action::"LookupOrder__execute", resource)
unless {{ context has channel && context.channel == "web" }};
"""

SCHEMA = """
namespace AgentCore {
  entity OAuthUser tags String;
  entity Gateway;
  action "ProcessRefund__execute" appliesTo {
    principal: [OAuthUser], resource: [Gateway],
    context: { input: { orderId: String, amount: Long } }
  };
  action "LookupOrder__execute" appliesTo {
    principal: [OAuthUser], resource: [Gateway],
    context: { input: { orderId: String }, channel?: String }
  };
}
"""

BILLING = Principal(id="alice", tags={"role": "billing-agent"})
SUPPORT = Principal(id="bob", tags={"role": "support"})


def refund(amount: Any, *, order: str = "A-1", tool_use_id: str = "tooluse_1") -> dict[str, Any]:
    return {
        "toolUseId": tool_use_id,
        "name": "ProcessRefund__execute",
        "input": {"orderId": order, "amount": amount},
    }


@pytest.fixture(scope="module")
def policy() -> ToolPolicy:
    return ToolPolicy.from_text(POLICIES, source="policies.cedar")


@pytest.fixture
def gate(policy: ToolPolicy) -> ToolGate:
    return ToolGate(policy=policy, gateway=GATEWAY)


# -- the reference example, permit, default deny, forbid ------------------------------------


@pytest.mark.parametrize(
    ("amount", "principal", "allowed"),
    [
        (120, BILLING, True),
        (499, BILLING, True),
        (500, BILLING, False),  # "under 500"
        (120, SUPPORT, False),  # wrong role
    ],
)
def test_reference_refund_policy_works_as_written(
    amount: int, principal: Principal, allowed: bool
) -> None:
    gate = ToolGate(policy=ToolPolicy.from_text(REFERENCE_POLICY), gateway=GATEWAY)
    decision = gate.evaluate(refund(amount), principal=principal)
    assert decision.allowed is allowed
    assert decision.blocked is not allowed
    assert decision.determining_policies == (("policy0",) if allowed else ())
    assert decision.errors == ()


def test_permit_names_the_determining_policy(gate: ToolGate) -> None:
    decision = gate.evaluate(refund(120), principal=BILLING)
    assert decision == ToolDecision(
        tool_name="ProcessRefund__execute",
        tool_use_id="tooluse_1",
        allowed=True,
        mode="enforce",
        determining_policies=("refund-under-500",),
        policy_digest=gate.policy.digest,
    )
    assert decision.outcome == "allow"


def test_default_deny_for_a_tool_no_policy_mentions(gate: ToolGate) -> None:
    decision = gate.evaluate(
        {"toolUseId": "t9", "name": "DeleteAllRecords", "input": {}}, principal=BILLING
    )
    assert not decision.allowed and decision.blocked
    assert decision.determining_policies == () and decision.errors == ()
    assert decision.outcome == "deny"


def test_default_deny_for_another_gateway(policy: ToolPolicy) -> None:
    decision = ToolGate(policy=policy, gateway="other").evaluate(refund(1), principal=BILLING)
    assert not decision.allowed


def test_gate_warns_when_a_policy_names_another_gateway(
    policy: ToolPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="securebedrock.tools"):
        ToolGate(policy=policy, gateway="other")
    assert "policies.cedar:6" in caplog.text and "never matches" in caplog.text


def test_forbid_overrides_permit(gate: ToolGate) -> None:
    decision = gate.evaluate(refund(120, order="BLOCKED-1"), principal=BILLING)
    assert not decision.allowed
    assert decision.determining_policies == ("no-blocked-orders",)


def test_context_conditions_on_tool_input_and_caller_context(gate: ToolGate) -> None:
    lookup = {"toolUseId": "t2", "name": "LookupOrder__execute", "input": {"orderId": "A-1"}}
    assert gate.evaluate(lookup, principal=SUPPORT, context={"channel": "web"}).allowed
    denied = gate.evaluate(lookup, principal=SUPPORT, context={"channel": "phone"})
    assert denied.determining_policies == ("channel-must-be-web",)
    assert not gate.evaluate(lookup, principal=SUPPORT).allowed


def test_principal_tags_and_attributes() -> None:
    policy = ToolPolicy.from_text(
        """
        @id("tagged") permit (principal, action, resource)
        when { principal.hasTag("scope") && principal.getTag("scope") like "*refunds:write*" };
        @id("attr") permit (principal, action, resource)
        when { principal has department && principal.department == "finance" };
        """
    )
    gate = ToolGate(policy=policy)
    use = {"toolUseId": "t", "name": "Anything", "input": {}}
    tagged = Principal(id="u1", tags={"scope": "openid refunds:write"})
    assert gate.evaluate(use, principal=tagged).determining_policies == ("tagged",)
    attributed = Principal(id="u2", attributes={"department": "finance"})
    assert gate.evaluate(use, principal=attributed).determining_policies == ("attr",)
    assert not gate.evaluate(use, principal=Principal(id="u3")).allowed
    iam = Principal(id="arn:aws:iam::123456789012:role/agent", type="AgentCore::IamEntity")
    assert not gate.evaluate(use, principal=iam).allowed


# -- fail closed -----------------------------------------------------------------------------


def test_evaluation_error_denies_and_records_the_error_without_the_value(gate: ToolGate) -> None:
    decision = gate.evaluate(refund("a-secret-amount"), principal=BILLING)
    assert not decision.allowed and decision.blocked
    assert decision.errors, "the type error must be recorded"
    assert "refund-under-500" in decision.errors[0]
    assert "a-secret-amount" not in repr(decision)


def test_an_erroring_forbid_still_denies() -> None:
    # Cedar alone skips a policy whose condition errors: the permit would win.
    policy = ToolPolicy.from_text(
        """
        @id("all") permit (principal, action, resource);
        @id("big") forbid (principal, action, resource) when { context.input.amount > 100 };
        """
    )
    decision = ToolGate(policy=policy).evaluate(
        {"toolUseId": "t", "name": "X", "input": {"other": 1}}, principal=BILLING
    )
    assert not decision.allowed
    assert decision.determining_policies == ()
    assert any("big" in error for error in decision.errors)


@pytest.mark.parametrize(
    ("tool_input", "fragment"),
    [
        ({"orderId": "A", "amount": 12.5}, "input.amount: a number with a fractional part"),
        ({"orderId": "A", "amount": None}, "input.amount: null"),
        ({"orderId": "A", "amount": 2**63}, "input.amount: integer outside"),
        (
            {"orderId": {"__entity": {"type": "AgentCore::OAuthUser", "id": "admin"}}, "amount": 1},
            "input.orderId: the key '__entity' is reserved",
        ),
    ],
)
def test_input_cedar_cannot_represent_faithfully_is_denied(
    gate: ToolGate, tool_input: dict[str, Any], fragment: str
) -> None:
    use = {"toolUseId": "t", "name": "ProcessRefund__execute", "input": tool_input}
    decision = gate.evaluate(use, principal=BILLING)
    assert not decision.allowed
    assert decision.errors[0].startswith(fragment)


def test_integral_float_is_the_integer_it_equals(gate: ToolGate) -> None:
    assert gate.evaluate(refund(120.0), principal=BILLING).allowed


@pytest.mark.parametrize(
    "block",
    [
        {"toolUseId": "t", "input": {}},
        {"name": "ProcessRefund__execute", "input": {}},
        {"toolUseId": "t", "name": 7, "input": {}},
        "not a block",
    ],
)
def test_malformed_tool_use_is_denied(gate: ToolGate, block: Any) -> None:
    decision = gate.evaluate(block, principal=BILLING)
    assert not decision.allowed and decision.errors[0].startswith("malformed toolUse block")


def test_schema_rejects_unexpected_input_at_request_time() -> None:
    policy = ToolPolicy.from_text(POLICIES, schema=SCHEMA)
    gate = ToolGate(policy=policy, gateway=GATEWAY)
    assert gate.evaluate(refund(120), principal=BILLING).allowed
    extra = refund(120)
    extra["input"]["note"] = "a-secret-note"
    decision = gate.evaluate(extra, principal=BILLING)
    assert not decision.allowed and decision.errors
    assert "a-secret-note" not in repr(decision)
    wrong_type = gate.evaluate(refund("120"), principal=BILLING)
    assert not wrong_type.allowed and wrong_type.errors
    assert all("120" not in error for error in wrong_type.errors)


def test_caller_context_may_not_define_input(gate: ToolGate) -> None:
    with pytest.raises(ToolGateError, match="tools.context"):
        gate.evaluate(refund(1), principal=BILLING, context={"input": {"amount": 1}})


def test_principal_is_checked_when_built() -> None:
    with pytest.raises(ToolGateError, match="principal entity type"):
        Principal(id="x", type="not a type")
    with pytest.raises(ToolGateError, match="tags"):
        Principal(id="x", tags={"n": 1.5})
    with pytest.raises(ToolGateError, match="principal id"):
        Principal(id="")
    principal = Principal(id='we"ird', tags={"role": "r"})
    assert principal.uid == 'AgentCore::OAuthUser::"we\\"ird"'
    with pytest.raises(TypeError):
        principal.tags["role"] = "admin"  # type: ignore[index]


def test_gate_arguments_are_checked(policy: ToolPolicy) -> None:
    with pytest.raises(ToolGateError, match="tools.mode"):
        ToolGate(policy=policy, mode="audit")  # type: ignore[arg-type]
    with pytest.raises(ToolGateError, match="tools.policy"):
        ToolGate(policy=POLICIES)  # type: ignore[arg-type]


# -- modes -----------------------------------------------------------------------------------


def test_log_only_records_the_real_decision_and_blocks_nothing(policy: ToolPolicy) -> None:
    gate = ToolGate(policy=policy, mode="log_only", gateway=GATEWAY)
    denied = gate.evaluate(refund(900), principal=BILLING)
    assert denied.allowed is False
    assert denied.blocked is False and denied.enforced is False
    assert denied.outcome == "log_only"
    allowed = gate.evaluate(refund(100), principal=BILLING)
    assert allowed.allowed and not allowed.blocked and allowed.outcome == "allow"


def test_environment_enforce_tightens_log_only(
    policy: ToolPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_MODE", "enforce")
    gate = ToolGate(policy=policy, mode="log_only", gateway=GATEWAY)
    assert gate.mode == "enforce"
    assert gate.evaluate(refund(900), principal=BILLING).blocked
    monkeypatch.setenv("SECUREBEDROCK_MODE", "log_only")
    assert ToolGate(policy=policy, mode="enforce").mode == "enforce"  # never loosens
    monkeypatch.setenv("SECUREBEDROCK_MODE", "off")
    with pytest.raises(securebedrock.PolicyConfigError, match="SECUREBEDROCK_MODE"):
        ToolGate(policy=policy)


# -- Converse responses and toolResult blocks ------------------------------------------------


def test_check_decides_every_tool_use_of_a_converse_response(gate: ToolGate) -> None:
    response = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "Let me do both."},
                    {"toolUse": refund(120, tool_use_id="a")},
                    {"toolUse": refund(9000, tool_use_id="b")},
                ],
            }
        },
        "stopReason": "tool_use",
    }
    decisions = gate.check(response, principal=BILLING)
    assert [(d.tool_use_id, d.allowed) for d in decisions] == [("a", True), ("b", False)]
    assert gate.check(response["output"]["message"], principal=BILLING) == decisions
    no_tools = {"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}}
    assert gate.check(no_tools, principal=BILLING) == ()
    with pytest.raises(ToolGateError, match="tools.check"):
        gate.check({"output": {}}, principal=BILLING)
    with pytest.raises(ToolGateError, match="assembler"):
        gate.check({"stream": object()}, principal=BILLING)


def test_denied_tool_result_names_the_denial_never_the_input(gate: ToolGate) -> None:
    decision = gate.evaluate(refund(987654, order="ORDER-SECRET"), principal=BILLING)
    block = denied_tool_result(decision)
    assert block["toolResult"]["toolUseId"] == "tooluse_1"
    assert block["toolResult"]["status"] == "error"
    text = block["toolResult"]["content"][0]["text"]
    assert "denied" in text and "ProcessRefund__execute" in text
    assert "987654" not in text and "ORDER-SECRET" not in text
    forbidden = gate.evaluate(refund(1, order="BLOCKED-1"), principal=BILLING)
    assert "no-blocked-orders" in denied_tool_result(forbidden)["toolResult"]["content"][0]["text"]
    with pytest.raises(ToolGateError):
        denied_tool_result(gate.evaluate(refund(1), principal=BILLING))


# -- telemetry: span events and audit records, no content ------------------------------------


def test_each_decision_is_a_span_event_without_input_values(gate: ToolGate) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("agent turn"):
        gate.evaluate(refund(120, order="ORDER-SECRET"), principal=BILLING)
        gate.evaluate(refund(777777), principal=BILLING)
    (span,) = exporter.get_finished_spans()
    events = [event for event in span.events if event.name == DECISION_EVENT]
    assert [dict(e.attributes or {})["securebedrock.decision"] for e in events] == [
        "allow",
        "deny",
    ]
    first = dict(events[0].attributes or {})
    assert {GEN_AI_TOOL_NAME, GEN_AI_TOOL_CALL_ID} <= set(first)  # the semconv names
    assert first["gen_ai.tool.name"] == "ProcessRefund__execute"
    assert first["gen_ai.tool.call.id"] == "tooluse_1"
    assert first["securebedrock.mode"] == "enforce"
    assert tuple(first["securebedrock.tool.policy_ids"]) == ("refund-under-500",)  # type: ignore[arg-type]
    dumped = json.dumps([dict(e.attributes or {}) for e in events], default=list)
    assert "ORDER-SECRET" not in dumped and "777777" not in dumped


def test_telemetry_never_raises(gate: ToolGate, monkeypatch: pytest.MonkeyPatch) -> None:
    from securebedrock.tools import _gate

    def broken() -> Any:
        raise RuntimeError("exporter down")

    monkeypatch.setattr(_gate.trace, "get_current_span", broken)
    monkeypatch.setattr(_gate._audit_log, "isEnabledFor", lambda level: 1 / 0)
    assert gate.evaluate(refund(120), principal=BILLING).allowed


def test_each_decision_is_an_audit_record_without_content(
    gate: ToolGate, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="securebedrock.audit"):
        gate.evaluate(refund(900, order="ORDER-SECRET"), principal=BILLING)
    (record,) = [r for r in caplog.records if r.name == "securebedrock.audit"]
    fields = record.securebedrock  # type: ignore[attr-defined]
    assert fields["decision"] == "deny" and fields["tool"] == "ProcessRefund__execute"
    assert fields["policy_digest"] == gate.policy.digest
    assert "ORDER-SECRET" not in json.dumps(fields) + record.getMessage()
    assert "900" not in json.dumps(fields) + record.getMessage()


# -- loading policies: parse once, clear errors ----------------------------------------------


def test_policies_and_schema_are_parsed_once_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    import cedarpy

    policy = ToolPolicy.from_text(POLICIES, schema=SCHEMA)
    gate = ToolGate(policy=policy, gateway=GATEWAY)
    seen: list[tuple[Any, Any]] = []
    real = cedarpy.is_authorized

    def spy(request: Any, policies: Any, entities: Any, schema: Any = None, **kw: Any) -> Any:
        seen.append((policies, schema))
        return real(request, policies, entities, schema=schema, **kw)

    def no_parsing(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed during evaluation")

    monkeypatch.setattr(cedarpy, "is_authorized", spy)
    monkeypatch.setattr(cedarpy, "PolicySet", type("P", (), {"from_str": no_parsing}))
    monkeypatch.setattr(cedarpy, "Schema", type("S", (), {"from_str": no_parsing}))
    assert gate.evaluate(refund(1), principal=BILLING).allowed
    assert gate.evaluate(refund(2), principal=BILLING).allowed
    # The same pre-parsed handles every time, never text to re-parse.
    assert len(seen) == 2 and seen[0][0] is seen[1][0] and seen[0][1] is seen[1][1]
    assert not isinstance(seen[0][0], str) and not isinstance(seen[0][1], str)


def test_policy_ids_lines_and_digest(policy: ToolPolicy) -> None:
    assert policy.policy_ids == (
        "refund-under-500",
        "lookup",
        "no-blocked-orders",
        "channel-must-be-web",
    )
    assert policy.line_of("refund-under-500") == 2
    assert policy.line_of("lookup") == 14
    again = ToolPolicy.from_text(POLICIES)
    assert again.digest == policy.digest
    assert ToolPolicy.from_text(POLICIES, schema=SCHEMA).digest != policy.digest


def test_syntax_error_points_at_line_and_column() -> None:
    text = (
        "permit (principal, action, resource);\n\n// a; comment\n"
        "forbid (principal, action, resource)\n  when { context.input.amount < };\n"
    )
    with pytest.raises(ToolPolicyError) as caught:
        ToolPolicy.from_text(text, source="bad.cedar")
    error = caught.value
    assert (error.source, error.line, error.column, error.policy_id) == (
        "bad.cedar",
        5,
        33,
        "policy1",
    )
    assert isinstance(error, securebedrock.PolicyConfigError)
    message = str(error)
    assert message.startswith("bad.cedar:5:33: cannot parse the Cedar policies")
    assert "unexpected token `}`" in message
    assert "when { context.input.amount < };" in error.diagnostics()
    assert "fix:" in error.diagnostics()
    assert pickle.loads(pickle.dumps(error)).line == 5  # noqa: S301 - our own bytes


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("permit (principal, action, resource)", 1, 37, "must end with `;`"),
        ('permit (principal, action, resource)\n when { context.x == "abc };', 2, 22, "string"),
        ("permit (principal, action == Foo, resource);", 1, 30, "found name `Foo`"),
        (
            'permit (principal, action, resource)\nwhen { principal.getTag("r") = "x" };',
            2,
            30,
            "'=' is not a valid operator",
        ),
    ],
)
def test_more_syntax_errors_with_positions(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(ToolPolicyError) as caught:
        ToolPolicy.from_text(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert fragment in str(caught.value)


def test_duplicate_ids_templates_and_empty_text_are_refused() -> None:
    with pytest.raises(ToolPolicyError, match="duplicate policy id") as caught:
        ToolPolicy.from_text(
            '@id("a") permit (principal, action, resource);\n'
            '@id("a") forbid (principal, action, resource);'
        )
    assert caught.value.line == 2
    with pytest.raises(ToolPolicyError, match="templates are not supported"):
        ToolPolicy.from_text("permit (principal == ?principal, action, resource);")
    with pytest.raises(ToolPolicyError, match="no Cedar policies"):
        ToolPolicy.from_text("// nothing here\n")


def test_schema_validation_failures_name_every_policy_and_line() -> None:
    text = textwrap.dedent(
        """\
        @id("typo")
        permit (principal, action == AgentCore::Action::"ProcessRefund__execute", resource)
        when { context.input.amout < 500 };
        @id("unknown-tool")
        permit (principal, action == AgentCore::Action::"Nope", resource);
        """
    )
    with pytest.raises(ToolPolicyError, match="do not validate against the schema") as caught:
        ToolPolicy.from_text(text, schema=SCHEMA, source="p.cedar")
    problems = caught.value.problems
    assert {p.policy_id for p in problems} == {"typo", "unknown-tool"}
    typo = next(p for p in problems if p.policy_id == "typo")
    assert (typo.line, typo.column) == (3, 16)  # at `input.amout`
    assert "input.amout" in typo.message
    assert caught.value.line == 3


def test_reference_policy_needs_has_tag_under_a_schema() -> None:
    # Cedar's validator cannot prove getTag("role") safe without hasTag("role").
    with pytest.raises(ToolPolicyError, match="tag"):
        ToolPolicy.from_text(REFERENCE_POLICY, schema=SCHEMA)


def test_schema_syntax_errors_have_positions() -> None:
    with pytest.raises(ToolPolicyError, match="cannot parse the Cedar schema") as caught:
        ToolPolicy.from_text(POLICIES, schema="namespace AgentCore {\n  entity ;\n}")
    assert (caught.value.source, caught.value.line, caught.value.column) == ("<schema>", 2, 10)
    with pytest.raises(ToolPolicyError, match="JSON schema") as caught:
        ToolPolicy.from_text(POLICIES, schema='{"AgentCore": {', schema_source="s.json")
    assert caught.value.source == "s.json" and caught.value.line == 1


def test_json_schema_as_mapping_works() -> None:
    schema = {
        "AgentCore": {
            "entityTypes": {"OAuthUser": {}, "Gateway": {}},
            "actions": {
                "LookupOrder__execute": {
                    "appliesTo": {
                        "principalTypes": ["OAuthUser"],
                        "resourceTypes": ["Gateway"],
                        "context": {"type": "Record", "attributes": {}},
                    }
                }
            },
        }
    }
    policy = ToolPolicy.from_text(
        'permit (principal, action == AgentCore::Action::"LookupOrder__execute", resource);',
        schema=schema,
    )
    decision = ToolGate(policy=policy).evaluate(
        {"toolUseId": "t", "name": "LookupOrder__execute", "input": {}}, principal=Principal(id="u")
    )
    # context.input is not in this schema's context: Cedar refuses the request; fail closed.
    assert not decision.allowed and decision.errors


def test_from_file_reads_policy_and_schema(tmp_path: Path) -> None:
    (tmp_path / "p.cedar").write_text(POLICIES)
    (tmp_path / "s.cedarschema").write_text(SCHEMA)
    policy = ToolPolicy.from_file(tmp_path / "p.cedar", schema_file=tmp_path / "s.cedarschema")
    assert policy.source == str(tmp_path / "p.cedar")
    assert policy.schema_source == str(tmp_path / "s.cedarschema")
    with pytest.raises(ToolPolicyError, match="cannot read the Cedar policy file") as caught:
        ToolPolicy.from_file(tmp_path / "missing.cedar")
    assert caught.value.source == str(tmp_path / "missing.cedar")


# -- without the extra -----------------------------------------------------------------------


def test_using_the_gate_without_cedarpy_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cedarpy", None)  # what an absent package looks like
    with pytest.raises(CedarNotInstalledError) as caught:
        ToolPolicy.from_text(POLICIES)
    assert isinstance(caught.value, securebedrock.SecureBedrockError)
    assert "pip install 'securebedrock[cedar]'" in str(caught.value)


def test_gate_built_earlier_fails_clearly_without_cedarpy(
    policy: ToolPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cedarpy", None)
    with pytest.raises(CedarNotInstalledError, match="cedar"):
        ToolGate(policy=policy)


def test_importing_works_without_cedarpy() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["cedarpy"] = None
        import securebedrock, securebedrock.tools, securebedrock._cli
        from securebedrock.tools import CedarNotInstalledError, ToolPolicy
        try:
            ToolPolicy.from_text("permit (principal, action, resource);")
        except CedarNotInstalledError as exc:
            print("refused:", exc.fix)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "refused: pip install 'securebedrock[cedar]'" in result.stdout


def test_a_cedarpy_without_pre_parsed_handles_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    old = types.ModuleType("cedarpy")  # what cedarpy 4.8.0 looks like: no Schema handle
    old.is_authorized = lambda *a, **k: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cedarpy", old)
    with pytest.raises(CedarNotInstalledError, match=r"cedarpy>=4\.8\.7 is required"):
        ToolPolicy.from_text(POLICIES)
