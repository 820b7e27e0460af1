"""``securebedrock policy export``: valid, deterministic IAM/SCP/endpoint policy JSON."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securebedrock._cli import export, main
from securebedrock._errors import PolicyConfigError
from securebedrock._export import (
    MODEL_INFERENCE_ACTIONS,
    ExportOptions,
    client_only_rules,
    export_policy,
    vpce_id_from_url,
)
from securebedrock._policy import (
    AuthPolicy,
    GuardrailPolicy,
    InferenceProfilePolicy,
    ModelsPolicy,
    NetworkPolicy,
    OperationsPolicy,
    Policy,
    RegionsPolicy,
    ServiceTierPolicy,
    TLSPolicy,
)

GUARDRAIL_ARN = "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"
VPCE_URL = "https://vpce-0a1b2c3d4e5f60718-abcdefgh.bedrock-runtime.us-east-1.vpce.amazonaws.com"


def strict_policy() -> Policy:
    return Policy(
        tls=TLSPolicy(minimum_version="1.3"),
        network=NetworkPolicy(require_private_endpoint=True, endpoint_url=VPCE_URL),
        guardrail=GuardrailPolicy(identifier=GUARDRAIL_ARN, version="3"),
        inference_profile=InferenceProfilePolicy(required=True),
        regions=RegionsPolicy(allowed=("us-east-1", "us-west-2")),
        models=ModelsPolicy(allow=("anthropic.claude-*", "amazon.nova-*"), deny=("*-opus-*",)),
        service_tier=ServiceTierPolicy(allowed=("default", "flex")),
        auth=AuthPolicy(allow_api_keys=False),
        operations=OperationsPolicy(allow_without_guardrail=("CountTokens",)),
    )


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in document["Statement"]}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.mark.parametrize("fmt", ["iam", "scp", "vpce"])
def test_every_format_is_valid_policy_json(fmt: str) -> None:
    document = export_policy(strict_policy(), fmt)
    parsed = json.loads(json.dumps(document))
    assert parsed["Version"] == "2012-10-17"
    assert parsed["Statement"]
    sids = [statement["Sid"] for statement in parsed["Statement"]]
    assert len(sids) == len(set(sids)), "Sids must be unique"
    for statement in parsed["Statement"]:
        assert set(statement) <= {
            "Sid",
            "Effect",
            "Principal",
            "Action",
            "Resource",
            "NotResource",
            "Condition",
        }
        assert statement["Effect"] in ("Allow", "Deny")
        assert ("Resource" in statement) != ("NotResource" in statement)
        assert all(
            action.count(":") == 1 or action == "*" for action in as_list(statement["Action"])
        )
        assert statement["Sid"].isalnum()
        # Endpoint policies need a Principal; identity policies and SCPs must not have one.
        assert ("Principal" in statement) == (fmt == "vpce")


def test_output_is_deterministic() -> None:
    first = json.dumps(export_policy(strict_policy(), "scp"))
    assert first == json.dumps(export_policy(strict_policy(), "scp"))


def test_guardrail_is_required_with_arn_and_version() -> None:
    statement = by_sid(export_policy(strict_policy(), "iam"))["SecureBedrockRequireGuardrail"]
    assert statement["Effect"] == "Deny"
    assert set(statement["Action"]) == {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    }
    # StringNotEquals also matches an absent key: no guardrail at all is denied too.
    assert statement["Condition"] == {
        "StringNotEquals": {"bedrock:GuardrailIdentifier": f"{GUARDRAIL_ARN}:3"}
    }


def test_bare_guardrail_id_matches_any_region_and_account() -> None:
    policy = Policy(guardrail=GuardrailPolicy(identifier="abc123", version="DRAFT"))
    statement = by_sid(export_policy(policy, "iam"))["SecureBedrockRequireGuardrail"]
    assert statement["Condition"] == {
        "StringNotLike": {"bedrock:GuardrailIdentifier": "arn:aws:bedrock:*:*:guardrail/abc123"}
    }


def test_operations_that_cannot_carry_a_guardrail_are_denied_unless_listed() -> None:
    statement = by_sid(export_policy(strict_policy(), "scp"))[
        "SecureBedrockDenyOperationsWithoutGuardrail"
    ]
    actions = set(as_list(statement["Action"]))
    assert "bedrock:CountTokens" not in actions  # listed in allow_without_guardrail
    assert actions == {"bedrock:StartAsyncInvoke", "bedrock:InvokeModelWithBidirectionalStream"}


def test_inference_profile_required_uses_a_null_check() -> None:
    statement = by_sid(export_policy(strict_policy(), "scp"))[
        "SecureBedrockRequireInferenceProfile"
    ]
    assert statement["Resource"] == "arn:aws:bedrock:*::foundation-model/*"
    assert statement["Condition"] == {"Null": {"bedrock:InferenceProfileArn": "true"}}


def test_model_allow_list_is_a_not_resource_deny() -> None:
    statements = by_sid(export_policy(strict_policy(), "iam"))
    allow = statements["SecureBedrockModelAllowList"]
    assert set(as_list(allow["Action"])) == set(MODEL_INFERENCE_ACTIONS)
    assert "arn:aws:bedrock:*::foundation-model/anthropic.claude-*" in allow["NotResource"]
    assert "arn:aws:bedrock:*::foundation-model/amazon.nova-*" in allow["NotResource"]
    deny = statements["SecureBedrockModelDenyList"]
    assert "arn:aws:bedrock:*::foundation-model/*-opus-*" in as_list(deny["Resource"])


def test_empty_model_allow_list_denies_every_model() -> None:
    policy = Policy(models=ModelsPolicy(allow=()))
    statement = by_sid(export_policy(policy, "iam"))["SecureBedrockNoModelAllowed"]
    assert statement["Resource"] == "*"


def test_service_tier_default_allows_an_absent_tier() -> None:
    statement = by_sid(export_policy(strict_policy(), "iam"))["SecureBedrockServiceTiers"]
    assert statement["Condition"] == {
        "StringNotEquals": {"bedrock:ServiceTier": ["default", "flex"]},
        "Null": {"bedrock:ServiceTier": "false"},
    }
    only_flex = Policy(service_tier=ServiceTierPolicy(allowed=("flex",)))
    statement = by_sid(export_policy(only_flex, "iam"))["SecureBedrockServiceTiers"]
    assert statement["Condition"] == {"StringNotEquals": {"bedrock:ServiceTier": ["flex"]}}


def test_regions_and_cross_region() -> None:
    statements = by_sid(export_policy(strict_policy(), "scp"))
    assert statements["SecureBedrockRegions"]["Condition"] == {
        "StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}
    }
    refused = statements["SecureBedrockCrossRegion"]["Resource"]
    assert "arn:aws:bedrock:*:*:inference-profile/us.*" in refused
    assert "arn:aws:bedrock:*:*:inference-profile/global.*" in refused


def test_allowed_geographies_are_not_denied() -> None:
    policy = Policy(regions=RegionsPolicy(cross_region=True, allowed_geographies=("us",)))
    refused = by_sid(export_policy(policy, "scp"))["SecureBedrockCrossRegion"]["Resource"]
    assert "arn:aws:bedrock:*:*:inference-profile/us.*" not in refused
    assert "arn:aws:bedrock:*:*:inference-profile/eu.*" in refused
    # cross_region with no list: only "global" stays refused (it must be named).
    anywhere = Policy(regions=RegionsPolicy(cross_region=True))
    statement = by_sid(export_policy(anywhere, "scp"))["SecureBedrockCrossRegion"]
    assert statement["Resource"] == "arn:aws:bedrock:*:*:inference-profile/global.*"


def test_vpc_endpoint_pinned_from_endpoint_url_in_an_identity_policy_only() -> None:
    statement = by_sid(export_policy(strict_policy(), "iam"))["SecureBedrockNetworkPerimeter"]
    assert statement["Condition"] == {
        "StringNotEquals": {"aws:SourceVpce": ["vpce-0a1b2c3d4e5f60718"]}
    }
    # An SCP spans accounts, each with its own endpoint: one host's URL pins nothing.
    scp = by_sid(export_policy(strict_policy(), "scp"))
    assert "SecureBedrockNetworkPerimeter" not in scp
    assert scp["SecureBedrockRequireVpcEndpoint"]["Condition"] == {
        "Null": {"aws:SourceVpce": "true"}
    }
    note = {n.rule: n.reason for n in client_only_rules(strict_policy(), "scp")}
    assert "--vpce-org-id" in note["network.endpoint_override"]


def test_an_organisation_wide_scp_perimeter() -> None:
    options = ExportOptions(
        vpce_org_id="o-a1b2c3d4e5",
        vpce_accounts=("111122223333",),
        source_vpcs=("vpc-0123456789abcdef0",),
        vpce_ids=("vpce-11112222333344445",),
    )
    statement = by_sid(export_policy(strict_policy(), "scp", options))[
        "SecureBedrockNetworkPerimeter"
    ]
    # The keys of one condition are ANDed: denied unless the call matches one of them.
    assert statement["Condition"] == {
        "StringNotEquals": {
            "aws:SourceVpc": ["vpc-0123456789abcdef0"],
            "aws:SourceVpce": ["vpce-11112222333344445"],
            "aws:VpceAccount": ["111122223333"],
            "aws:VpceOrgID": ["o-a1b2c3d4e5"],
        }
    }
    assert "network.endpoint_override" not in {
        n.rule for n in client_only_rules(strict_policy(), "scp", options)
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vpce_ids", ("vpc-123",)),
        ("source_vpcs", ("vpce-0123456789abcdef0",)),
        ("vpce_accounts", ("1234",)),
        ("vpce_org_id", "org-1"),
        ("org_id", "o-"),
        ("exempt_principal_arns", ("role/admin",)),
        ("exempt_principal_arns", ("arn:aws:iam::123456789012:role/a b",)),
    ],
)
def test_bad_export_options_name_the_option(field: str, value: object) -> None:
    with pytest.raises(PolicyConfigError, match="invalid --"):
        ExportOptions(**{field: value})  # type: ignore[arg-type]


def test_exempt_principals_are_left_alone_by_every_deny() -> None:
    exempt = (
        "arn:aws:iam::*:role/break-glass",
        "arn:aws:iam::*:role/service-role/AmazonBedrockExecutionRoleForAgents_*",
    )
    for fmt in ("iam", "scp", "vpce"):
        document = export_policy(strict_policy(), fmt, ExportOptions(exempt_principal_arns=exempt))
        for statement in document["Statement"]:
            if statement["Effect"] != "Deny":
                continue
            assert statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == sorted(exempt)
    # Merged with an existing ArnNotLike block, not replacing it.
    policy = Policy(
        regions=RegionsPolicy(
            allowed=("us-east-1",), cross_region=True, allowed_geographies=("us",)
        )
    )
    regions = by_sid(export_policy(policy, "scp", ExportOptions(exempt_principal_arns=exempt)))[
        "SecureBedrockRegions"
    ]
    assert set(regions["Condition"]["ArnNotLike"]) == {
        "aws:PrincipalArn",
        "bedrock:InferenceProfileArn",
    }


def test_endpoint_policy_allow_is_scoped_to_the_organisation() -> None:
    document = export_policy(strict_policy(), "vpce", ExportOptions(org_id="o-a1b2c3d4e5"))
    allow = by_sid(document)["SecureBedrockAllowThroughEndpoint"]
    assert allow["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}


PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/ab12cd34"


def test_mandated_profiles_are_enforced_server_side() -> None:
    policy = Policy(
        inference_profile=InferenceProfilePolicy(
            required=True, map={"anthropic.claude-3-haiku-20240307-v1:0": PROFILE_ARN}
        ),
        regions=RegionsPolicy(
            allowed=("us-east-1",), cross_region=True, allowed_geographies=("us",)
        ),
    )
    statements = by_sid(export_policy(policy, "scp"))
    assert "SecureBedrockRequireInferenceProfile" not in statements
    statement = statements["SecureBedrockRequireOrgInferenceProfiles"]
    # ArnNotLike also matches an absent key: no profile at all is denied too.
    assert statement["Condition"] == {
        "ArnNotLike": {
            "bedrock:InferenceProfileArn": [
                "arn:aws:bedrock:us-east-1:*:inference-profile/us.*",
                PROFILE_ARN,
            ]
        }
    }
    # Without cross-region inference only the org's own profiles remain.
    in_region = Policy(
        inference_profile=InferenceProfilePolicy(
            required=True, map={"anthropic.claude-3-haiku-20240307-v1:0": PROFILE_ARN}
        )
    )
    statement = by_sid(export_policy(in_region, "iam"))["SecureBedrockRequireOrgInferenceProfiles"]
    assert statement["Condition"] == {"ArnNotLike": {"bedrock:InferenceProfileArn": PROFILE_ARN}}


def test_private_endpoint_without_known_vpce_requires_any_vpce() -> None:
    policy = Policy(network=NetworkPolicy(require_private_endpoint=True))
    statement = by_sid(export_policy(policy, "iam"))["SecureBedrockRequireVpcEndpoint"]
    assert statement["Condition"] == {"Null": {"aws:SourceVpce": "true"}}
    pinned = export_policy(policy, "iam", ExportOptions(vpce_ids=("vpce-11112222333344445",)))
    assert "SecureBedrockNetworkPerimeter" in by_sid(pinned)


def test_bad_vpce_id_is_rejected() -> None:
    with pytest.raises(PolicyConfigError):
        export_policy(Policy(), "iam", ExportOptions(vpce_ids=("vpc-123",)))


def test_endpoint_policy_has_its_allow_and_no_source_vpce() -> None:
    statements = by_sid(export_policy(strict_policy(), "vpce"))
    allow = statements["SecureBedrockAllowThroughEndpoint"]
    assert allow == {
        "Sid": "SecureBedrockAllowThroughEndpoint",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "*",
        "Resource": "*",
    }
    assert "SecureBedrockSourceVpce" not in statements


def test_api_keys_denied_in_use_and_creation() -> None:
    statements = by_sid(export_policy(strict_policy(), "scp"))
    assert statements["SecureBedrockDenyApiKeys"]["Action"] == [
        "bedrock-mantle:CallWithBearerToken",
        "bedrock:CallWithBearerToken",
    ]
    creation = statements["SecureBedrockDenyApiKeyCreation"]
    assert creation["Action"] == "iam:CreateServiceSpecificCredential"
    assert creation["Condition"] == {
        "StringEquals": {"iam:ServiceSpecificCredentialServiceName": "bedrock.amazonaws.com"}
    }
    # The bedrock-runtime endpoint only sees its own action, and no IAM calls.
    endpoint = by_sid(export_policy(strict_policy(), "vpce"))
    assert endpoint["SecureBedrockDenyApiKeys"]["Action"] == "bedrock:CallWithBearerToken"
    assert "SecureBedrockDenyApiKeyCreation" not in endpoint
    assert "SecureBedrockDenyApiKeys" not in by_sid(export_policy(Policy(), "scp"))


def test_partition_follows_the_guardrail_arn() -> None:
    policy = Policy(
        guardrail=GuardrailPolicy(
            identifier="arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:guardrail/g1",
            version="1",
        ),
    )
    text = json.dumps(export_policy(policy, "iam"))
    assert "arn:aws:" not in text
    assert "arn:aws-us-gov:bedrock:*:*:inference-profile/us.*" in text


def test_nothing_to_export_is_an_error() -> None:
    policy = Policy(
        regions=RegionsPolicy(
            cross_region=True,
            allowed_geographies=(
                "apac",
                "au",
                "ca",
                "eu",
                "global",
                "jp",
                "us",
                "us-gov",
            ),
        )
    )
    with pytest.raises(PolicyConfigError):
        export_policy(policy, "iam")


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(PolicyConfigError):
        export_policy(Policy(), "terraform")


def test_client_only_rules_are_listed() -> None:
    rules = {note.rule for note in client_only_rules(strict_policy(), "iam")}
    assert {"tls.version", "network.private_endpoint", "network.proxy"} <= rules
    assert "mode" in {note.rule for note in client_only_rules(Policy(mode="log_only"), "iam")}


def test_vpce_id_from_url() -> None:
    assert vpce_id_from_url(VPCE_URL) == "vpce-0a1b2c3d4e5f60718"
    zonal = "https://vpce-0a1b2c3d4e5f60718-abcdefgh-us-east-1a.bedrock-runtime.us-east-1.vpce.amazonaws.com"
    assert vpce_id_from_url(zonal) == "vpce-0a1b2c3d4e5f60718"
    assert vpce_id_from_url("https://bedrock-runtime.us-east-1.amazonaws.com") is None


def run_export(*argv: str) -> int:
    """Run ``policy export`` through its own registration (the policy command registers it)."""
    parser = argparse.ArgumentParser(prog="securebedrock policy")
    export.register(parser.add_subparsers(dest="policy_command"))
    args = parser.parse_args(["export", *argv])
    result: int = args.func(args)
    return result


POLICY_TOML = f"""
version = 1
[tls]
minimum_version = "1.3"
[guardrail]
identifier = "{GUARDRAIL_ARN}"
version = "3"
[auth]
allow_api_keys = false
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY_TOML)
    return str(path)


def test_cli_prints_the_policy_and_notes(
    policy_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_export("--format", "scp", "--policy-file", policy_file) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["Version"] == "2012-10-17"
    statements = by_sid(document)
    assert statements["SecureBedrockRequireGuardrail"]["Condition"] == {
        "StringNotEquals": {"bedrock:GuardrailIdentifier": f"{GUARDRAIL_ARN}:3"}
    }
    assert "SecureBedrockDenyApiKeys" in statements
    assert "tls.version" in captured.err


def test_cli_uses_the_effective_org_policy(
    policy_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", policy_file)
    assert run_export("--format", "iam") == 0
    assert "SecureBedrockRequireGuardrail" in by_sid(json.loads(capsys.readouterr().out))


def test_cli_through_the_policy_command(
    policy_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "export", "--format", "vpce", "--policy-file", policy_file]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["Statement"][0]["Sid"] == "SecureBedrockAllowThroughEndpoint"


def test_cli_json_wraps_policy_and_notes(
    policy_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_export("--format", "iam", "--json", "--policy-file", policy_file) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["format"] == "iam"
    assert payload["policy"]["Version"] == "2012-10-17"
    assert {"rule": "network.proxy", "reason": "proxy use is invisible to AWS"} in payload[
        "not_exported"
    ]


def test_docs_examples_are_what_the_command_prints() -> None:
    """docs/export.md shows statements of the strict example policy's SCP: keep them true."""
    root = Path(__file__).resolve().parent.parent
    page = (root / "docs" / "export.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", page, flags=re.DOTALL)
    assert len(blocks) == 3
    policy = Policy.from_file(root / "examples" / "policies" / "strict-regulated.toml")
    document = export_policy(policy, "scp")
    assert "produces ten statements" in page and len(document["Statement"]) == 10
    statements = by_sid(document)
    for block in blocks:
        shown = json.loads(block)
        assert statements[shown["Sid"]] == shown


_TIERS = ("default", "flex", "priority", "reserved")
_GLOBS = ("anthropic.claude-*", "amazon.nova-*", "meta.llama3-*", "*-opus-*")


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Policies over the keys export reads (each section present or absent)."""
    guardrail = draw(
        st.sampled_from(
            [
                GuardrailPolicy(),
                GuardrailPolicy(identifier=GUARDRAIL_ARN, version="3"),
                GuardrailPolicy(identifier="abc123", version="DRAFT"),
            ]
        )
    )
    geographies = draw(st.lists(st.sampled_from(["us", "eu", "global", "apac"]), unique=True))
    return Policy(
        mode=draw(st.sampled_from(["enforce", "log_only"])),
        guardrail=guardrail,
        inference_profile=InferenceProfilePolicy(required=draw(st.booleans())),
        regions=RegionsPolicy(
            allowed=draw(st.one_of(st.none(), st.just(("us-east-1",)))),
            cross_region=bool(geographies) or draw(st.booleans()),
            allowed_geographies=tuple(geographies),
        ),
        models=ModelsPolicy(
            allow=draw(
                st.one_of(st.none(), st.lists(st.sampled_from(_GLOBS), unique=True).map(tuple))
            ),
            deny=tuple(draw(st.lists(st.sampled_from(_GLOBS), unique=True))),
        ),
        service_tier=ServiceTierPolicy(
            allowed=draw(
                st.one_of(
                    st.none(), st.lists(st.sampled_from(_TIERS), unique=True, min_size=1).map(tuple)
                )
            )
        ),
        network=NetworkPolicy(require_private_endpoint=draw(st.booleans())),
        auth=AuthPolicy(allow_api_keys=draw(st.booleans())),
    )


@settings(max_examples=150, deadline=None)
@given(policy=policies(), fmt=st.sampled_from(["iam", "scp", "vpce"]))
def test_export_is_always_valid_and_only_denies(policy: Policy, fmt: str) -> None:
    # Some geography is always refused here, so there is always something to export.
    document = export_policy(policy, fmt)
    assert json.loads(json.dumps(document)) == document
    assert document["Version"] == "2012-10-17"
    sids = [statement["Sid"] for statement in document["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in document["Statement"]:
        if statement["Sid"] == "SecureBedrockAllowThroughEndpoint":
            assert fmt == "vpce"
            continue
        # Everything the policy adds only ever removes permissions.
        assert statement["Effect"] == "Deny"
        for block in statement.get("Condition", {}).values():
            assert all(key.startswith(("bedrock:", "aws:", "iam:")) for key in block)
    assert export_policy(policy, fmt) == document  # deterministic


def test_region_deny_exempts_allowed_cross_region_hops() -> None:
    # A "us." profile called from us-east-1 is authorized again in each destination region,
    # with that region as aws:RequestedRegion: the region deny must not break it.
    policy = Policy(
        regions=RegionsPolicy(
            allowed=("us-east-1",), cross_region=True, allowed_geographies=("us",)
        )
    )
    statement = by_sid(export_policy(policy, "scp"))["SecureBedrockRegions"]
    assert statement["Condition"]["StringNotEquals"] == {"aws:RequestedRegion": ["us-east-1"]}
    # Application profiles get no blanket exemption: one made from a geography profile
    # could route anywhere. Only the profiles the policy names are exempt.
    assert statement["Condition"]["ArnNotLike"] == {
        "bedrock:InferenceProfileArn": ["arn:aws:bedrock:us-east-1:*:inference-profile/us.*"]
    }
    named = Policy(
        regions=policy.regions,
        inference_profile=InferenceProfilePolicy(
            map={"anthropic.claude-3-haiku-20240307-v1:0": PROFILE_ARN}
        ),
    )
    statement = by_sid(export_policy(named, "scp"))["SecureBedrockRegions"]
    assert statement["Condition"]["ArnNotLike"] == {
        "bedrock:InferenceProfileArn": [
            "arn:aws:bedrock:us-east-1:*:inference-profile/us.*",
            PROFILE_ARN,
        ]
    }
    # Without cross-region inference there is no hop to exempt.
    in_region = Policy(regions=RegionsPolicy(allowed=("us-east-1",)))
    statement = by_sid(export_policy(in_region, "scp"))["SecureBedrockRegions"]
    assert "ArnNotLike" not in statement["Condition"]


def test_size_quotas_and_minify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from securebedrock._export_size import check_size, render

    many = ",".join(f'"vendor{i:03d}.model-*"' for i in range(150))
    path = tmp_path / "big.toml"
    path.write_text(f"version = 1\n[models]\nallow = [{many}]\n")
    # Over the SCP quota even minified: a clear error.
    with pytest.raises(PolicyConfigError, match="too large for a service control policy") as err:
        check_size(render(export_policy(Policy.from_file(path), "scp"), minify=True), "scp")
    assert "5120" in str(err.value) and "narrow the policy" in str(err.value)
    # A policy that fits only when minified says so.
    fits = Policy(models=ModelsPolicy(allow=tuple(f"vendor{i:03d}.model-*" for i in range(34))))
    pretty = render(export_policy(fits, "scp"), minify=False)
    minified = render(export_policy(fits, "scp"), minify=True)
    assert len(minified) <= 5120 < len(pretty)
    with pytest.raises(PolicyConfigError, match="--minify"):
        check_size(pretty, "scp")
    check_size(minified, "scp")
    # IAM does not count white space.
    check_size(render(export_policy(fits, "iam"), minify=False), "iam")


def test_cli_minify_and_size_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(POLICY_TOML)
    assert (
        main(["policy", "export", "--format", "scp", "--minify", "--policy-file", str(path)]) == 0
    )
    out = capsys.readouterr().out.strip()
    assert " " not in out.split('"Sid"')[0] and json.loads(out)["Version"] == "2012-10-17"
    many = ",".join(f'"vendor{i:03d}.model-*"' for i in range(150))
    path.write_text(f"version = 1\n[models]\nallow = [{many}]\n")
    assert main(["policy", "export", "--format", "scp", "--policy-file", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "too large for a service control policy" in captured.err


def test_cli_perimeter_and_exemption_options(
    policy_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--format",
        "scp",
        "--policy-file",
        policy_file,
        "--vpce-org-id",
        "o-a1b2c3d4e5",
        "--exempt-principal-arn",
        "arn:aws:iam::*:role/break-glass",
    ]
    assert main(["policy", "export", *argv]) == 0
    statements = by_sid(json.loads(capsys.readouterr().out))
    guardrail = statements["SecureBedrockRequireGuardrail"]
    assert guardrail["Condition"]["ArnNotLike"] == {
        "aws:PrincipalArn": "arn:aws:iam::*:role/break-glass"
    }
    assert main(["policy", "export", *argv[:4], "--vpce-org-id", "x"]) == 1
    assert "invalid --vpce-org-id" in capsys.readouterr().err
