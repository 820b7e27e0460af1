"""The model-id classifier: a matrix of real identifier forms, and property tests."""

from __future__ import annotations

import re

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securebedrock._modelid import GEOGRAPHIES, ModelRef, parse_model_id, region_geographies

ACCT = "123456789012"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"

# (identifier, kind, base_model_id, geography, region, partition, account, resource_id)
MATRIX: list[tuple[str, str, str | None, str | None, str | None, str | None, str | None]] = [
    # foundation model ids, as sent
    (SONNET, "foundation-model", SONNET, None, None, None, None),
    ("amazon.nova-pro-v1:0", "foundation-model", "amazon.nova-pro-v1:0", None, None, None, None),
    (
        "meta.llama3-70b-instruct-v1:0",
        "foundation-model",
        "meta.llama3-70b-instruct-v1:0",
        None,
        None,
        None,
        None,
    ),
    ("cohere.command-r-v1:0", "foundation-model", "cohere.command-r-v1:0", None, None, None, None),
    (
        "amazon.titan-embed-text-v2:0",
        "foundation-model",
        "amazon.titan-embed-text-v2:0",
        None,
        None,
        None,
        None,
    ),
    (
        "anthropic.claude-3-sonnet-20240229-v1:0:200k",
        "foundation-model",
        "anthropic.claude-3-sonnet-20240229-v1:0:200k",
        None,
        None,
        None,
        None,
    ),
    (
        "amazon.titan-text-express-v1",
        "foundation-model",
        "amazon.titan-text-express-v1",
        None,
        None,
        None,
        None,
    ),
    (
        "ai21.jamba-1-5-large-v1:0",
        "foundation-model",
        "ai21.jamba-1-5-large-v1:0",
        None,
        None,
        None,
        None,
    ),
    (
        "mistral.mistral-large-2407-v1:0",
        "foundation-model",
        "mistral.mistral-large-2407-v1:0",
        None,
        None,
        None,
        None,
    ),
    (
        "stability.sd3-5-large-v1:0",
        "foundation-model",
        "stability.sd3-5-large-v1:0",
        None,
        None,
        None,
        None,
    ),
    ("deepseek.r1-v1:0", "foundation-model", "deepseek.r1-v1:0", None, None, None, None),
    (
        "openai.gpt-oss-120b-1:0",
        "foundation-model",
        "openai.gpt-oss-120b-1:0",
        None,
        None,
        None,
        None,
    ),
    (
        "amazon.nova-sonic-v1:0",
        "foundation-model",
        "amazon.nova-sonic-v1:0",
        None,
        None,
        None,
        None,
    ),
    # system (geographic / global) inference profile ids
    (f"us.{SONNET}", "inference-profile", SONNET, "us", None, None, None),
    (f"eu.{SONNET}", "inference-profile", SONNET, "eu", None, None, None),
    (f"apac.{SONNET}", "inference-profile", SONNET, "apac", None, None, None),
    (f"jp.{SONNET}", "inference-profile", SONNET, "jp", None, None, None),
    (f"au.{SONNET}", "inference-profile", SONNET, "au", None, None, None),
    (f"ca.{SONNET}", "inference-profile", SONNET, "ca", None, None, None),
    (f"us-gov.{SONNET}", "inference-profile", SONNET, "us-gov", None, None, None),
    (
        "global.anthropic.claude-sonnet-4-20250514-v1:0",
        "inference-profile",
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "global",
        None,
        None,
        None,
    ),
    (
        "us.amazon.nova-pro-v1:0",
        "inference-profile",
        "amazon.nova-pro-v1:0",
        "us",
        None,
        None,
        None,
    ),
    (
        "us.meta.llama3-2-90b-instruct-v1:0",
        "inference-profile",
        "meta.llama3-2-90b-instruct-v1:0",
        "us",
        None,
        None,
        None,
    ),
    # foundation-model ARNs, every partition
    (
        f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}",
        "foundation-model",
        SONNET,
        None,
        "us-east-1",
        "aws",
        None,
    ),
    (
        f"arn:aws:bedrock:eu-central-1::foundation-model/{SONNET}",
        "foundation-model",
        SONNET,
        None,
        "eu-central-1",
        "aws",
        None,
    ),
    (
        f"arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/{SONNET}",
        "foundation-model",
        SONNET,
        None,
        "us-gov-west-1",
        "aws-us-gov",
        None,
    ),
    (
        "arn:aws-cn:bedrock:cn-north-1::foundation-model/amazon.nova-pro-v1:0",
        "foundation-model",
        "amazon.nova-pro-v1:0",
        None,
        "cn-north-1",
        "aws-cn",
        None,
    ),
    (
        "arn:aws-iso:bedrock:us-iso-east-1::foundation-model/amazon.nova-pro-v1:0",
        "foundation-model",
        "amazon.nova-pro-v1:0",
        None,
        "us-iso-east-1",
        "aws-iso",
        None,
    ),
    (
        "arn:aws-iso-b:bedrock:us-isob-east-1::foundation-model/amazon.nova-pro-v1:0",
        "foundation-model",
        "amazon.nova-pro-v1:0",
        None,
        "us-isob-east-1",
        "aws-iso-b",
        None,
    ),
    (
        "arn:aws-iso-e:bedrock:eu-isoe-west-1::foundation-model/amazon.nova-pro-v1:0",
        "foundation-model",
        "amazon.nova-pro-v1:0",
        None,
        "eu-isoe-west-1",
        "aws-iso-e",
        None,
    ),
    (
        "arn:aws-iso-f:bedrock:us-isof-south-1::foundation-model/amazon.nova-pro-v1:0",
        "foundation-model",
        "amazon.nova-pro-v1:0",
        None,
        "us-isof-south-1",
        "aws-iso-f",
        None,
    ),
    # inference-profile ARNs
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/us.{SONNET}",
        "inference-profile",
        SONNET,
        "us",
        "us-east-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:eu-west-1:{ACCT}:inference-profile/eu.{SONNET}",
        "inference-profile",
        SONNET,
        "eu",
        "eu-west-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/global.amazon.nova-pro-v1:0",
        "inference-profile",
        "amazon.nova-pro-v1:0",
        "global",
        "us-east-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/custom-profile-1",
        "inference-profile",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6",
        "application-inference-profile",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws-us-gov:bedrock:us-gov-west-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6",
        "application-inference-profile",
        None,
        None,
        "us-gov-west-1",
        "aws-us-gov",
        ACCT,
    ),
    # models an account owns
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:provisioned-model/abc123def456",
        "provisioned-model",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:custom-model/amazon.titan-text-express-v1:0:8k/"
        "abc123def456",
        "custom-model",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:us-west-2:{ACCT}:custom-model-deployment/abc123def456",
        "custom-model-deployment",
        None,
        None,
        "us-west-2",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:imported-model/abc123def456",
        "imported-model",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    # prompts and routers
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:prompt/PROMPT1234",
        "prompt",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:prompt/PROMPT1234:3",
        "prompt",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:prompt-router/my-router",
        "prompt-router",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:default-prompt-router/anthropic.claude:1",
        "default-prompt-router",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    # SageMaker endpoints
    (
        f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint/my-endpoint-1",
        "sagemaker-endpoint",
        None,
        None,
        "us-east-1",
        "aws",
        ACCT,
    ),
    # unknown forms: the engine fails closed on them
    ("my-model", "unknown", None, None, None, None, None),
    ("xx.anthropic.claude-v2", "unknown", None, None, None, None, None),
    ("Anthropic.Claude-v2", "unknown", None, None, None, None, None),
    ("", "unknown", None, None, None, None, None),
    ("arn:aws:bedrock:us-east-1::foundation-model/", "unknown", None, None, None, None, None),
    (
        f"arn:aws:bedrock:us-east-1:{ACCT}:foundation-model/{SONNET}",
        "unknown",
        None,
        None,
        None,
        None,
        None,
    ),
    (
        "arn:aws:bedrock:us-east-1::provisioned-model/abc123def456",
        "unknown",
        None,
        None,
        None,
        None,
        None,
    ),
    (f"arn:aws:bedrock:us-east-1:{ACCT}:guardrail/abc123", "unknown", None, None, None, None, None),
    (f"arn:aws:s3:us-east-1:{ACCT}:bucket/x", "unknown", None, None, None, None, None),
    (
        f"arn:aws:bedrock:not_a_region:{ACCT}:imported-model/abc123def456",
        "unknown",
        None,
        None,
        None,
        None,
        None,
    ),
    ("us.", "unknown", None, None, None, None, None),
]


def test_matrix_is_large_enough() -> None:
    assert len(MATRIX) >= 40


@pytest.mark.parametrize(
    ("raw", "kind", "base", "geography", "region", "partition", "account"),
    MATRIX,
    ids=[row[0] or "<empty>" for row in MATRIX],
)
def test_classifies(
    raw: str,
    kind: str,
    base: str | None,
    geography: str | None,
    region: str | None,
    partition: str | None,
    account: str | None,
) -> None:
    ref = parse_model_id(raw)
    assert ref.raw == raw
    assert ref.kind == kind
    assert ref.base_model_id == base
    assert ref.geography == geography
    if kind != "unknown":
        assert ref.region == region
        assert ref.partition == partition
        assert ref.account == account
        assert ref.resource_id
        assert ref.is_arn == raw.startswith("arn:")
    assert ref.is_inference_profile == (
        kind in ("inference-profile", "application-inference-profile")
    )


def test_botocore_pattern_accepts_every_known_form() -> None:
    """Every classified (non-unknown) identifier of the matrix is one botocore admits."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    pattern = model.shape_for("InvokeModelRequest").members["modelId"].metadata["pattern"]
    compiled = re.compile(pattern)
    for raw, kind, *_ in MATRIX:
        if kind != "unknown":
            assert compiled.search(raw), raw


def test_region_geographies() -> None:
    assert region_geographies("us-east-1") == {"us"}
    assert region_geographies("us-gov-west-1") == {"us-gov"}
    assert region_geographies("eu-central-1") == {"eu"}
    assert region_geographies("ap-northeast-1") == {"apac", "jp"}
    assert region_geographies("ap-southeast-2") == {"apac", "au"}
    assert region_geographies("ap-south-1") == {"apac"}
    assert region_geographies("ca-central-1") == {"ca"}
    assert region_geographies("sa-east-1") == frozenset()


# --- property tests ---------------------------------------------------------------------

_segment = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
_suffix = st.lists(st.from_regex(r"[a-z0-9-]{1,6}", fullmatch=True), max_size=2)
foundation_ids = st.builds(
    lambda provider, name, suffixes: (
        ".".join((provider, name)) + "".join(":" + s for s in suffixes)
    ),
    _segment.filter(lambda s: s not in GEOGRAPHIES),
    _segment,
    _suffix,
)
regions = st.from_regex(
    r"(us|eu|ap|ca|sa|me|af|il|mx|cn)-(east|west|north|south|central)-[1-9]", fullmatch=True
)
partitions = st.sampled_from(
    ["aws", "aws-us-gov", "aws-cn", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f"]
)
accounts = st.from_regex(r"[0-9]{12}", fullmatch=True)
resource12 = st.from_regex(r"[a-z0-9]{12}", fullmatch=True)


@settings(max_examples=60)
@given(foundation_ids)
def test_foundation_id_round_trip(model_id: str) -> None:
    ref = parse_model_id(model_id)
    assert ref.kind == "foundation-model"
    assert ref.base_model_id == model_id


@settings(max_examples=60)
@given(st.sampled_from(GEOGRAPHIES), foundation_ids)
def test_geo_profile_round_trip(geography: str, model_id: str) -> None:
    ref = parse_model_id(f"{geography}.{model_id}")
    assert (ref.kind, ref.geography, ref.base_model_id) == (
        "inference-profile",
        geography,
        model_id,
    )


@settings(max_examples=60)
@given(partitions, regions, foundation_ids)
def test_foundation_arn_round_trip(partition: str, region: str, model_id: str) -> None:
    arn = f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"
    ref = parse_model_id(arn)
    assert (ref.kind, ref.partition, ref.region, ref.base_model_id, ref.account) == (
        "foundation-model",
        partition,
        region,
        model_id,
        None,
    )


@settings(max_examples=60)
@given(
    partitions,
    regions,
    accounts,
    st.sampled_from(
        [
            "provisioned-model",
            "imported-model",
            "custom-model-deployment",
            "application-inference-profile",
        ]
    ),
    resource12,
)
def test_account_arn_round_trip(
    partition: str, region: str, account: str, kind: str, resource_id: str
) -> None:
    ref = parse_model_id(f"arn:{partition}:bedrock:{region}:{account}:{kind}/{resource_id}")
    assert ref == ModelRef(
        kind=kind,  # type: ignore[arg-type]
        raw=ref.raw,
        region=region,
        partition=partition,
        account=account,
        resource_id=resource_id,
    )


@settings(max_examples=60)
@given(partitions, regions, accounts, st.sampled_from(GEOGRAPHIES), foundation_ids)
def test_profile_arn_round_trip(
    partition: str, region: str, account: str, geography: str, model_id: str
) -> None:
    arn = f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{geography}.{model_id}"
    ref = parse_model_id(arn)
    assert (ref.kind, ref.geography, ref.base_model_id, ref.region) == (
        "inference-profile",
        geography,
        model_id,
        region,
    )


@settings(max_examples=200)
@given(
    st.one_of(st.text(max_size=300), st.text(alphabet="arn:aws-bedrock/.0123456789", max_size=120))
)
def test_never_raises_on_arbitrary_text(text: str) -> None:
    ref = parse_model_id(text)
    assert isinstance(ref, ModelRef)
    if ref.kind == "unknown":
        assert ref.base_model_id is None


def test_never_raises_on_non_strings() -> None:
    assert parse_model_id(None).kind == "unknown"  # type: ignore[arg-type]
    assert parse_model_id("a." * 2000).kind == "unknown"
