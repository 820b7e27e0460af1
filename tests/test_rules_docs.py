"""docs/rules.md stays true: its refusal examples and per-operation table are generated
from the real engine. After changing a message, regenerate with

    /work/venv/bin/python tests/test_rules_docs.py
"""

from __future__ import annotations

import re
from pathlib import Path

from securebedrock._adapter import BEARER_HEADER_VIOLATION, _violation_error
from securebedrock._operations import OPERATIONS
from securebedrock._policy import (
    AuthPolicy,
    GuardrailPolicy,
    InferenceProfilePolicy,
    ModelsPolicy,
    Policy,
    RegionsPolicy,
    ServiceTierPolicy,
)
from securebedrock._rules import RULE_IDS, Call, Decision, evaluate
from securebedrock._transport_refusals import TRANSPORT_RULE_IDS

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
ACCT = "123456789012"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
GUARDED = GuardrailPolicy(identifier="gr1abc2def3g", version="3")
APP = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
PROMPT = "PROMPT-TEXT-MUST-NOT-LEAK"
MESSAGES = [{"role": "user", "content": [{"text": PROMPT}]}]


def _call(op: str = "Converse", **params: object) -> Call:
    extra = {}
    for key in ("auth", "unresolved_profiles"):
        if key in params:
            extra[key] = params.pop(key)
    return Call(operation=op, region="us-east-1", params=params, **extra)  # type: ignore[arg-type]


# (title, policy, call): one refusal per rule, and a few notable variants.
EXAMPLES: list[tuple[str, Policy, Call]] = [
    (
        "guardrail.missing — the mandated guardrail cannot be attached",
        Policy(guardrail=GUARDED),
        _call(modelId=SONNET, messages=MESSAGES, guardrailConfig=["not", "a", "structure"]),
    ),
    (
        "guardrail.conflict — the call names another guardrail",
        Policy(guardrail=GUARDED),
        _call(
            modelId=SONNET,
            messages=MESSAGES,
            guardrailConfig={"guardrailIdentifier": "other1234567", "guardrailVersion": "1"},
        ),
    ),
    (
        "guardrail.unsupported_operation — an operation that cannot carry it",
        Policy(guardrail=GUARDED),
        _call("StartAsyncInvoke", modelId="amazon.nova-reel-v1:1", modelInput={}),
    ),
    (
        "inference_profile.required",
        Policy(inference_profile=InferenceProfilePolicy(required=True)),
        _call(modelId=SONNET, messages=MESSAGES),
    ),
    (
        "region.not_allowed",
        Policy(regions=RegionsPolicy(allowed=("eu-central-1",))),
        _call(modelId=SONNET, messages=MESSAGES),
    ),
    (
        "region.cross_region — a geographic system profile",
        Policy(),
        _call(modelId=f"us.{SONNET}", messages=MESSAGES),
    ),
    (
        "region.cross_region — a geography that is not allowed",
        Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("eu",))),
        _call(modelId=f"global.{SONNET}", messages=MESSAGES),
    ),
    (
        "region.cross_region — an application profile that could not be resolved",
        Policy(),
        _call(
            modelId=APP,
            messages=MESSAGES,
            unresolved_profiles={APP: "GetInferenceProfile failed (AccessDeniedException)"},
        ),
    ),
    (
        "model.not_allowed",
        Policy(models=ModelsPolicy(allow=("amazon.nova-*",))),
        _call(modelId=f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}", messages=MESSAGES),
    ),
    (
        "model.not_allowed — a model whose base model cannot be determined",
        Policy(models=ModelsPolicy(allow=("anthropic.*",))),
        _call(
            modelId=f"arn:aws:bedrock:us-east-1:{ACCT}:provisioned-model/abc123def456",
            messages=MESSAGES,
        ),
    ),
    (
        "service_tier.not_allowed",
        Policy(service_tier=ServiceTierPolicy(allowed=("default", "priority"))),
        _call("InvokeModel", modelId=SONNET, body=b"{}", serviceTier="flex"),
    ),
    (
        "auth.api_key — the client signs with a Bedrock API key",
        Policy(auth=AuthPolicy(allow_api_keys=False)),
        _call(modelId=SONNET, messages=MESSAGES, auth="bearer"),
    ),
]


def _diagnostics(decision: Decision) -> str:
    return _violation_error(decision).diagnostics()


def rule_examples() -> str:
    """The generated markdown of the refusal examples."""
    out: list[str] = []
    for title, policy, call in EXAMPLES:
        decision = evaluate(policy, call)
        assert decision.violations, title
        out += [f"#### {title}", "", "```text", _diagnostics(decision), "```", ""]
    header_error = _violation_error(
        Decision(operation="Converse", params={}, violations=(BEARER_HEADER_VIOLATION,))
    )
    out += [
        "#### auth.api_key — a bearer header set by other code (checked on the prepared request)",
        "",
        "```text",
        header_error.diagnostics(),
        "```",
        "",
    ]
    out += [
        "#### wire.mismatch — an event handler rewrote the model after the decision",
        "",
        "```text",
        _wire_example().diagnostics(),
        "```",
        "",
    ]
    return "\n".join(out).rstrip() + "\n"


def _wire_example() -> Exception:
    """The real wire check's refusal of a request whose model was rewritten to a profile."""
    from botocore.awsrequest import AWSPreparedRequest

    from securebedrock import _wire

    endpoint = "https://bedrock-runtime.us-east-1.amazonaws.com"
    check = _wire.WireCheck(Policy(), endpoint, kind="runtime")
    context = _wire.CallContext(audit=None, wire=check, enforce=True)
    context.expected = check.expect("Converse", {"modelId": SONNET, "messages": MESSAGES})
    request = AWSPreparedRequest(
        method="POST",
        url=f"{endpoint}/model/us.{SONNET.replace(':', '%3A')}/converse",
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=..."},
        body=b"{}",
        stream_output=False,
    )
    token = _wire.current_call.set(context)
    try:
        check.check(request)
    except Exception as exc:  # noqa: BLE001 - the refusal is the example
        return exc
    finally:
        _wire.current_call.reset(token)
    raise AssertionError("the wire check let a rewritten model through")


def operations_table() -> str:
    """The generated markdown table of what applies to each operation."""
    guardrail = {
        "converse": "attached (`guardrailConfig`)",
        "invoke": "attached (`X-Amzn-Bedrock-Guardrail*` headers)",
        "incapable": "refused unless in `operations.allow_without_guardrail`",
        "none": "—",
    }
    tier = {"structure": "`serviceTier.type`", "string": "`serviceTier`", "none": "—"}
    rows = [
        "| operation | guardrail (when mandated) | profile map / required | model rules "
        "| region rules | service tier | auth |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in sorted(OPERATIONS):
        op = OPERATIONS[name]
        regions = "client region"
        if op.model_param:
            regions += " + model/profile routes"
        if op.arn_params:
            regions += " + " + ", ".join(f"`{p}` ARN" for p in op.arn_params)
        if op.guardrail in ("converse", "invoke"):
            regions += " + caller's guardrail ARN"
        carried = guardrail[op.guardrail]
        if op.guardrail == "incapable" and not op.generates_content:
            carried = "not needed: generates nothing (allowed by default)"
        rows.append(
            f"| {name} | {carried} | {'yes' if op.inference else '—'} | "
            f"{'yes' if op.model_param else '—'} | {regions} | {tier[op.tier]} | yes |"
        )
    return "\n".join(rows) + "\n"


_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)"
    r"(<!-- END GENERATED: (?P=name) -->)",
    re.DOTALL,
)
GENERATORS = {"rule-examples": rule_examples, "operations": operations_table}


def render(text: str) -> str:
    """``text`` with every generated block replaced by fresh output."""
    return _BLOCK.sub(lambda m: m[1] + GENERATORS[m["name"]]() + m[4], text)


def test_docs_blocks_are_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = {m["name"] for m in _BLOCK.finditer(text)}
    assert names == set(GENERATORS), names
    assert render(text) == text, "docs/rules.md is stale: run python tests/test_rules_docs.py"


def test_docs_name_every_rule() -> None:
    text = DOC.read_text(encoding="utf-8")
    for rule in (*RULE_IDS, *TRANSPORT_RULE_IDS):
        assert f"`{rule}`" in text, rule
    assert "transport.md" in text
    examples = rule_examples()
    for rule in RULE_IDS:
        assert f"[{rule}]" in examples, rule


def test_examples_hold_no_prompt_content() -> None:
    assert PROMPT not in rule_examples()


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"regenerated {DOC}")
