"""A guardrail version change (several accepted versions) and models exempt from the
guardrail (embeddings), through the secured client against the embedded endpoint, in the
policy file, in merges and in the exported server-side policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient

from securebedrock import GuardrailPolicy, Policy, PolicyConfigError, PolicyViolation
from securebedrock._export import export_policy
from securebedrock.testing import EmbeddedBedrock, GuardrailSpec

Make = Callable[..., BaseClient]
MESSAGES = [{"role": "user", "content": [{"text": "Hello"}]}]
CHAT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
EMBED_MODEL = "amazon.titan-embed-text-v2:0"
GUARDRAIL_ID = "gr1abc2def3g"


@pytest.fixture
def bedrock() -> Any:
    """The embedded endpoint knows both versions of the guardrail being changed."""
    specs = [GuardrailSpec(identifier=GUARDRAIL_ID, version=v) for v in ("3", "4")]
    with EmbeddedBedrock(guardrails=specs) as server:
        yield server


def changing(**extra: Any) -> Policy:
    """Version 4 attached, version 3 still accepted from callers that name it."""
    return Policy(guardrail=GuardrailPolicy(identifier=GUARDRAIL_ID, version=["4", "3"], **extra))  # type: ignore[arg-type]


def test_the_first_listed_version_is_attached(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    client = secured_client(changing())
    client.converse(modelId=CHAT_MODEL, messages=MESSAGES)
    sent = bedrock.requests[-1].json["guardrailConfig"]
    assert (sent["guardrailIdentifier"], sent["guardrailVersion"]) == (GUARDRAIL_ID, "4")


@pytest.mark.parametrize("version", ["3", "4"])
def test_a_caller_may_name_any_listed_version(
    bedrock: EmbeddedBedrock, secured_client: Make, version: str
) -> None:
    client = secured_client(changing())
    config = {"guardrailIdentifier": GUARDRAIL_ID, "guardrailVersion": version}
    client.converse(modelId=CHAT_MODEL, messages=MESSAGES, guardrailConfig=config)
    assert bedrock.requests[-1].json["guardrailConfig"]["guardrailVersion"] == version
    client.invoke_model(
        modelId=CHAT_MODEL,
        body=json.dumps({"messages": MESSAGES, "anthropic_version": "bedrock-2023-05-31"}),
        guardrailIdentifier=GUARDRAIL_ID,
        guardrailVersion=version,
    )
    assert bedrock.requests[-1].headers["X-Amzn-Bedrock-GuardrailVersion"] == version


def test_an_unlisted_version_is_a_conflict_and_nothing_is_sent(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    client = secured_client(changing())
    config = {"guardrailIdentifier": GUARDRAIL_ID, "guardrailVersion": "2"}
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=CHAT_MODEL, messages=MESSAGES, guardrailConfig=config)
    assert raised.value.rule == "guardrail.conflict"
    assert bedrock.requests == []


def test_exempt_models_get_no_guardrail_and_others_still_do(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    client = secured_client(changing(exempt_models=("amazon.titan-embed-*",)))
    client.invoke_model(modelId=EMBED_MODEL, body=json.dumps({"inputText": "hello"}))
    embed = bedrock.requests[-1]
    assert embed.model_id == EMBED_MODEL
    assert "X-Amzn-Bedrock-GuardrailIdentifier" not in embed.headers
    client.invoke_model(
        modelId=CHAT_MODEL,
        body=json.dumps({"messages": MESSAGES, "anthropic_version": "bedrock-2023-05-31"}),
    )
    assert bedrock.requests[-1].headers["X-Amzn-Bedrock-GuardrailIdentifier"] == GUARDRAIL_ID
    # A geography profile of an exempt model is exempt too (its base model is named) ...
    assert Policy.from_toml(changing(exempt_models=("amazon.titan-embed-*",)).to_toml())


def test_an_application_profile_hides_its_model_so_it_is_never_exempt(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    profile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/embed01"
    model_arn = f"arn:aws:bedrock:us-east-1::foundation-model/{EMBED_MODEL}"
    bedrock.add_inference_profile(profile, [model_arn])
    client = secured_client(changing(exempt_models=("amazon.titan-embed-*",)))
    client.invoke_model(modelId=profile, body=json.dumps({"inputText": "hello"}))
    assert bedrock.requests[-1].headers["X-Amzn-Bedrock-GuardrailIdentifier"] == GUARDRAIL_ID


def test_an_app_cannot_exempt_models_the_org_does_not(
    bedrock: EmbeddedBedrock, secured_client: Make, tmp_path: Any, monkeypatch: Any
) -> None:
    org = tmp_path / "org.toml"
    org.write_text(
        f'version = 1\n[guardrail]\nidentifier = "{GUARDRAIL_ID}"\nversion = "4"\n'
        f'[network]\nendpoint_url = "{bedrock.endpoint_url}"\n'
    )
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(org))
    overlay = Policy(guardrail=GuardrailPolicy(exempt_models=("amazon.*",)))
    client = secured_client(overlay)
    client.invoke_model(modelId=EMBED_MODEL, body=json.dumps({"inputText": "hello"}))
    assert bedrock.requests[-1].headers["X-Amzn-Bedrock-GuardrailIdentifier"] == GUARDRAIL_ID


def test_merge_keeps_only_versions_both_accept() -> None:
    org = Policy.from_toml(
        f'version = 1\n[guardrail]\nidentifier = "{GUARDRAIL_ID}"\nversion = ["4", "3"]\n'
        'exempt_models = ["amazon.titan-embed-*", "cohere.embed-*"]\n'
    )
    assert org.merge(Policy.from_toml('version = 1\n[models]\nallow = ["*"]\n')).guardrail == (
        org.guardrail
    )
    narrowed = org.merge(
        Policy.from_toml(
            f'version = 1\n[guardrail]\nidentifier = "{GUARDRAIL_ID}"\nversion = "4"\n'
            'exempt_models = ["cohere.embed-*"]\n'
        )
    )
    assert narrowed.guardrail.accepted_versions == ("4",)
    assert narrowed.guardrail.exempt_models == ("cohere.embed-*",)
    with pytest.raises(PolicyConfigError, match=r"guardrail\.version"):
        org.merge(
            Policy.from_toml(
                f'version = 1\n[guardrail]\nidentifier = "{GUARDRAIL_ID}"\nversion = "3"\n'
            )
        )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[]", "must not be an empty list"),
        ('["4", "4"]', "lists a version twice"),
        ('["4", "three"]', "not a guardrail version"),
        ('["4", 3]', "not a guardrail version"),
        ('["4", "3\\n"]', "not a guardrail version"),
    ],
)
def test_bad_version_lists_name_the_key(value: str, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message) as raised:
        Policy.from_toml(f'version = 1\n[guardrail]\nidentifier = "g1"\nversion = {value}\n')
    assert raised.value.path == "guardrail.version"


def test_the_file_round_trips_and_old_digests_hold() -> None:
    text = f'version = 1\n[guardrail]\nidentifier = "{GUARDRAIL_ID}"\nversion = ["4", "3"]\n'
    policy = Policy.from_toml(text)
    assert policy.guardrail.version == "4"
    assert Policy.from_toml(policy.to_toml()) == policy
    assert 'version = ["4", "3"]' in policy.to_toml()
    single = Policy.from_toml(
        f'version = 1\n[guardrail]\nidentifier = "{GUARDRAIL_ID}"\nversion = "4"\n'
    )
    assert "exempt_models" not in single.to_toml()  # left out when empty: digests unchanged
    assert single.digest != policy.digest


def test_export_accepts_every_listed_version_and_exempts_the_exempt_models() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"
    policy = Policy(
        guardrail=GuardrailPolicy(
            identifier=arn,
            version=["4", "3"],  # type: ignore[arg-type]
            exempt_models=("amazon.titan-embed-*",),
        )
    )
    statement = next(
        s
        for s in export_policy(policy, "scp")["Statement"]
        if s["Sid"] == "SecureBedrockRequireGuardrail"
    )
    assert statement["Condition"] == {
        "StringNotEquals": {"bedrock:GuardrailIdentifier": [f"{arn}:3", f"{arn}:4"]}
    }
    assert statement["NotResource"] == [
        "arn:aws:bedrock:*:*:inference-profile/*.amazon.titan-embed-*",
        "arn:aws:bedrock:*::foundation-model/amazon.titan-embed-*",
    ]
    assert "Resource" not in statement
