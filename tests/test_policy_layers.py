"""The two policy layers end to end: the org file is the floor, a code policy an overlay.

- a code policy takes part in the merge only with the keys it sets, so an
  application that adds one key keeps every org allowance it does not mention;
- only the org layer may pin an endpoint outside AWS: a code pin must be a
  Bedrock host (of the client's region) or the org's own pin;
- ``EmbeddedBedrock.org_policy`` runs a block under an org policy file that
  pins the embedded server, isolated from the machine's own org file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import GUARDRAIL, MODEL_ID

import securebedrock
from securebedrock import (
    GuardrailPolicy,
    ModelsPolicy,
    NetworkPolicy,
    Policy,
    PolicyConfigError,
    PolicyViolation,
    TransportSecurityError,
    _discovery,
)
from securebedrock.testing import EmbeddedBedrock

MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
US_PROFILE = "us.anthropic.claude-3-haiku-20240307-v1:0"

#: An org policy a platform team ships: loopback stands in for a non-RFC 1918 VPC
#: range, the us geography is approved, and the rollout is still log-only.
ORG = """
version = 1
mode = "log_only"

[network]
require_private_endpoint = true
allowed_cidrs = ["127.0.0.0/8"]

[regions]
cross_region = true
allowed_geographies = ["us"]
"""
APP = 'version = 1\n[models]\nallow = ["anthropic.*"]\n'


def org_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "org.toml"
    path.write_text(text)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))
    return path


# --------------------------------------------------------------------------- overlays


def test_a_partial_code_policy_keeps_every_org_allowance_it_does_not_mention(
    bedrock: EmbeddedBedrock,
) -> None:
    with bedrock.org_policy(Policy.from_toml(ORG)):
        client = securebedrock.client(**bedrock.client_kwargs(), policy=Policy.from_toml(APP))
    effective = client._securebedrock_state.policy  # type: ignore[attr-defined]
    assert effective.network.allowed_cidrs == ("127.0.0.0/8",)
    assert effective.regions.cross_region and effective.regions.allowed_geographies == ("us",)
    assert effective.mode == "log_only"
    assert effective.models.allow == ("anthropic.*",)
    # The org's approved geography and its non-RFC 1918 range are still usable ...
    client.converse(modelId=US_PROFILE, messages=MESSAGES)
    assert [r.model_id for r in bedrock.requests] == [US_PROFILE]
    # ... and the rollout is still log-only: what the app's key refuses is recorded, sent.
    client.converse(modelId="amazon.nova-pro-v1:0", messages=MESSAGES)
    assert bedrock.requests[-1].model_id == "amazon.nova-pro-v1:0"


def test_a_code_policy_built_in_python_is_an_overlay_too(bedrock: EmbeddedBedrock) -> None:
    app = Policy(models=ModelsPolicy(allow=("anthropic.*",)))
    assert app.set_keys == {"models.allow"}
    with bedrock.org_policy(Policy.from_toml(ORG)):
        client = securebedrock.client(**bedrock.client_kwargs(), policy=app)
    client.converse(modelId=US_PROFILE, messages=MESSAGES)
    assert len(bedrock.requests) == 1


def test_the_keys_a_code_policy_sets_still_only_tighten(bedrock: EmbeddedBedrock) -> None:
    org = Policy.from_toml(ORG.replace('mode = "log_only"', 'mode = "enforce"'))
    app = Policy.from_toml(
        'version = 1\nmode = "log_only"\n[regions]\ncross_region = false\n'
        '[network]\nallowed_cidrs = ["127.0.0.0/8", "0.0.0.0/0"]\n'
    )
    with bedrock.org_policy(org):
        client = securebedrock.client(**bedrock.client_kwargs(), policy=app)
    effective = client._securebedrock_state.policy  # type: ignore[attr-defined]
    assert effective.mode == "enforce"  # log_only in code does not loosen the org
    assert effective.network.allowed_cidrs == ("127.0.0.0/8",)  # intersected, not widened
    with pytest.raises(PolicyViolation) as refused:
        client.converse(modelId=US_PROFILE, messages=MESSAGES)  # the app turned it off
    assert refused.value.rule == "region.cross_region"
    assert bedrock.requests == []


def test_a_code_guardrail_trace_alone_keeps_the_org_guardrail(bedrock: EmbeddedBedrock) -> None:
    org = Policy(guardrail=GuardrailPolicy(identifier=GUARDRAIL.identifier, version="3"))
    app = Policy(guardrail=GuardrailPolicy(trace="enabled_full"))
    with bedrock.org_policy(org):
        client = securebedrock.client(**bedrock.client_kwargs(), policy=app)
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    sent = bedrock.requests[-1].json["guardrailConfig"]
    assert sent["guardrailIdentifier"] == GUARDRAIL.identifier
    assert sent["guardrailVersion"] == "3" and sent["trace"] == "enabled_full"


def test_explain_labels_only_the_keys_code_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_file(tmp_path, monkeypatch, ORG)
    explained = _discovery.explain(Policy.from_toml(APP))
    assert explained.sources["models.allow"] == "code"
    assert explained.sources["network.allowed_cidrs"].startswith("org file")
    assert explained.sources["mode"].startswith("org file")


# --------------------------------------------------------------------------- endpoint pins


def test_a_code_policy_may_not_pin_a_host_outside_aws(bedrock: EmbeddedBedrock) -> None:
    """Nothing pins the endpoint in the org layer (no org file): code cannot either."""
    pinned = Policy(network=NetworkPolicy(endpoint_url=bedrock.endpoint_url))
    kwargs = bedrock.client_kwargs()
    without_argument = {k: v for k, v in kwargs.items() if k != "endpoint_url"}
    attempts: list[Callable[[], Any]] = [
        lambda: securebedrock.client(**kwargs, policy=pinned),
        lambda: securebedrock.client(**without_argument, policy=pinned),
        lambda: securebedrock.Session(region_name="us-east-1", policy=pinned),
        lambda: securebedrock.secure(
            __import__("boto3").client("bedrock-runtime", **kwargs), policy=pinned
        ),
    ]
    for attempt in attempts:
        with pytest.raises(PolicyConfigError) as refused:
            attempt()
        error = refused.value
        assert error.path == "network.endpoint_url"
        assert bedrock.endpoint_url in str(error.found) and "nothing" in str(error.found)
        assert "org policy file" in str(error.fix) and "org_policy()" in str(error.fix)
    assert bedrock.requests == []


def test_a_code_pin_is_refused_when_the_org_file_pins_nothing(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_file(tmp_path, monkeypatch, "version = 1\n")
    with pytest.raises(PolicyConfigError) as refused:
        securebedrock.client(
            **bedrock.client_kwargs(),
            policy=Policy(network=NetworkPolicy(endpoint_url=bedrock.endpoint_url)),
        )
    assert refused.value.path == "network.endpoint_url"
    assert bedrock.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "https://bedrock-runtime.us-east-1.amazonaws.com.attacker.example",
        "https://bedrock-runtime.us-east-1.amazonaws.com.",
        "https://BEDROCK-RUNTIME.us-east-1.example.com",
        "https://bedrock.us-east-1.amazonaws.com",  # the control plane, not the runtime
        "https://vpce-0abc.s3.us-east-1.vpce.amazonaws.com",
        "https://127.0.0.1:8443",
        "https://[::1]:8443",
    ],
)
def test_odd_code_pins_are_refused(url: str) -> None:
    if url.endswith(".com."):
        # A trailing dot names the same host: it is a Bedrock host, so it passes.
        _discovery.effective_policy(Policy(network=NetworkPolicy(endpoint_url=url)))
        return
    with pytest.raises(PolicyConfigError) as refused:
        _discovery.effective_policy(Policy(network=NetworkPolicy(endpoint_url=url)))
    assert refused.value.path == "network.endpoint_url"


def test_a_url_with_user_info_cannot_be_a_pin_at_all() -> None:
    with pytest.raises(PolicyConfigError) as refused:
        NetworkPolicy(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com@127.0.0.1")
    assert refused.value.path == "network.endpoint_url"


def test_a_code_pin_in_the_per_region_table_is_checked_against_its_region() -> None:
    vpce_west = "https://vpce-0abc-xyz.bedrock-runtime.us-west-2.vpce.amazonaws.com"
    ok = Policy(network=NetworkPolicy(endpoint_urls={"us-west-2": vpce_west}))
    assert _discovery.effective_policy(ok).network.endpoint_for("us-west-2") == vpce_west
    for table in ({"us-east-1": vpce_west}, {"us-east-1": "https://gateway.example"}):
        with pytest.raises(PolicyConfigError) as refused:
            _discovery.effective_policy(Policy(network=NetworkPolicy(endpoint_urls=table)))
        assert refused.value.path == "network.endpoint_urls.us-east-1"


def test_a_code_pin_to_a_bedrock_host_is_accepted_and_routes_the_client() -> None:
    vpce = "https://vpce-0abc-xyz.bedrock-runtime.us-east-1.vpce.amazonaws.com"
    client = securebedrock.client(
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",  # noqa: S106 (test value)
        policy=Policy(network=NetworkPolicy(endpoint_url=vpce)),
    )
    assert client.meta.endpoint_url == vpce  # construction only: nothing is sent


def test_a_code_pin_to_another_regions_bedrock_host_is_refused_for_the_client() -> None:
    west = "https://bedrock-runtime.us-west-2.amazonaws.com"
    with pytest.raises(TransportSecurityError) as refused:
        securebedrock.client(
            region_name="us-east-1", policy=Policy(network=NetworkPolicy(endpoint_url=west))
        )
    assert refused.value.rule == "network.endpoint_override"
    assert "us-west-2" in str(refused.value.found) and "us-east-1" in str(refused.value.found)
    assert "endpoint_urls" in str(refused.value.fix)


def test_code_may_repeat_the_org_pin(bedrock: EmbeddedBedrock) -> None:
    same = Policy(network=NetworkPolicy(endpoint_url=bedrock.endpoint_url))
    with bedrock.org_policy():
        client = securebedrock.client(**bedrock.client_kwargs(), policy=same)
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 1


def test_pin_is_an_org_policy_and_refused_in_code(bedrock: EmbeddedBedrock) -> None:
    assert bedrock.pin().network.endpoint_url == bedrock.endpoint_url
    with pytest.raises(PolicyConfigError, match="org_policy"):
        securebedrock.client(**bedrock.client_kwargs(), policy=bedrock.pin())
    assert bedrock.requests == []


# --------------------------------------------------------------------------- org_policy()


def test_org_policy_installs_a_pinned_file_and_restores_the_environment(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", "/host/key.pem")
    org = Policy(models=ModelsPolicy(deny=("amazon.*",)))
    with bedrock.org_policy(org) as path:
        assert os.environ["SECUREBEDROCK_POLICY_FILE"] == str(path)
        assert "SECUREBEDROCK_POLICY_PUBLIC_KEY" not in os.environ
        installed = Policy.from_file(path)
        assert installed.network.endpoint_url == bedrock.endpoint_url
        assert installed.models.deny == ("amazon.*",)
    assert not path.exists()
    assert "SECUREBEDROCK_POLICY_FILE" not in os.environ
    assert os.environ["SECUREBEDROCK_POLICY_PUBLIC_KEY"] == "/host/key.pem"


def test_org_policy_isolates_a_test_from_the_machines_org_file(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = tmp_path / "etc-policy.toml"
    host.write_text('version = 1\n[models]\nallow = ["meta.*"]\n')
    monkeypatch.setattr(_discovery, "DEFAULT_POLICY_FILE", str(host))
    with pytest.raises(TransportSecurityError):  # the host's file does not pin the server
        securebedrock.client(**bedrock.client_kwargs())
    with bedrock.org_policy():
        client = securebedrock.client(**bedrock.client_kwargs())
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 1


def test_org_policy_blocks_nest_and_may_end_out_of_order_across_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", "/host/policy.toml")
    with EmbeddedBedrock() as one, EmbeddedBedrock() as two:
        outer = one.org_policy()
        outer_path = outer.__enter__()
        entered = threading.Event()
        leave = threading.Event()
        seen: list[str] = []

        def worker() -> None:
            with two.org_policy() as inner_path:
                seen.append(str(inner_path))
                entered.set()
                leave.wait(5)

        thread = threading.Thread(target=worker)
        thread.start()
        assert entered.wait(5)
        assert os.environ["SECUREBEDROCK_POLICY_FILE"] == seen[0]  # the newest open block
        outer.__exit__(None, None, None)  # the older block ends first
        assert os.environ["SECUREBEDROCK_POLICY_FILE"] == seen[0]
        assert not outer_path.exists()
        leave.set()
        thread.join(5)
    assert os.environ["SECUREBEDROCK_POLICY_FILE"] == "/host/policy.toml"
