"""Many regions in one policy file: per-region endpoint pins and profile mappings.

``[network.endpoint_urls]`` (region -> URL) and
``[inference_profile.regional_map."<region>"]`` (model -> profile) apply to a
client of that region; the single-region keys keep working for the others. A
pinned Bedrock host of another region than the client's is refused at
construction, and ``doctor`` says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MODEL_ID

import securebedrock
from securebedrock import Policy, PolicyConfigError, PolicyViolation, TransportSecurityError
from securebedrock._doctor import DoctorOptions, run_checks
from securebedrock.testing import EmbeddedBedrock

MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
EAST = "us-east-1"
WEST = "us-west-2"
ACCOUNT = "123456789012"


def profile(region: str, name: str) -> str:
    return f"arn:aws:bedrock:{region}:{ACCOUNT}:application-inference-profile/{name}"


def fm(region: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{MODEL_ID}"


@pytest.fixture
def servers() -> Iterator[tuple[EmbeddedBedrock, EmbeddedBedrock]]:
    """One embedded endpoint per region (each verifies SigV4 for its own region)."""
    with EmbeddedBedrock(region=EAST) as east, EmbeddedBedrock(region=WEST) as west:
        yield east, west


def install_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Policy:
    path = tmp_path / "org.toml"
    path.write_text(text)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))
    return Policy.from_file(path)


def two_region_policy(east: EmbeddedBedrock, west: EmbeddedBedrock) -> str:
    return f"""
version = 1

[network.endpoint_urls]
"{EAST}" = "{east.endpoint_url}"
"{WEST}" = "{west.endpoint_url}"

[inference_profile]
map = {{ "{MODEL_ID}" = "{profile(EAST, "east1")}" }}

[inference_profile.regional_map."{WEST}"]
"{MODEL_ID}" = "{profile(WEST, "west1")}"

[inference_profile.known."{profile(EAST, "east1")}"]
models = ["{fm(EAST)}"]

[inference_profile.known."{profile(WEST, "west1")}"]
models = ["{fm(WEST)}"]
"""


def client_for(server: EmbeddedBedrock) -> securebedrock.client:  # type: ignore[valid-type]
    kwargs = server.client_kwargs()
    del kwargs["endpoint_url"]  # the policy routes each client to its region's endpoint
    return securebedrock.client(**kwargs)


def test_a_two_region_policy_routes_each_client_to_its_regions_endpoint(
    servers: tuple[EmbeddedBedrock, EmbeddedBedrock],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    east, west = servers
    install_org(tmp_path, monkeypatch, two_region_policy(east, west))
    east_client, west_client = client_for(east), client_for(west)
    assert east_client.meta.endpoint_url == east.endpoint_url
    assert west_client.meta.endpoint_url == west.endpoint_url
    east_client.converse(modelId=MODEL_ID, messages=MESSAGES)
    west_client.converse(modelId=MODEL_ID, messages=MESSAGES)
    west_client.converse(modelId=MODEL_ID, messages=MESSAGES)
    # Each endpoint got its own region's calls, mapped to its own region's profile.
    assert [r.model_id for r in east.requests] == [profile(EAST, "east1")]
    assert [r.model_id for r in west.requests] == [profile(WEST, "west1")] * 2
    assert {r.access_key for r in (*east.requests, *west.requests)} == {east.access_key}


def test_a_region_without_an_entry_uses_the_single_keys(
    servers: tuple[EmbeddedBedrock, EmbeddedBedrock],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    east, west = servers
    install_org(
        tmp_path,
        monkeypatch,
        f'version = 1\n[network]\nendpoint_url = "{east.endpoint_url}"\n'
        f'[network.endpoint_urls]\n"{WEST}" = "{west.endpoint_url}"\n',
    )
    assert client_for(east).meta.endpoint_url == east.endpoint_url
    assert client_for(west).meta.endpoint_url == west.endpoint_url


def test_a_model_mapped_to_another_regions_profile_names_the_mapping(
    servers: tuple[EmbeddedBedrock, EmbeddedBedrock],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The single-region map under a second region: a clear region finding, not a
    misleading ``model.not_allowed``."""
    east, west = servers
    text = two_region_policy(east, west).split("[inference_profile.regional_map")[0]
    install_org(tmp_path, monkeypatch, text + '[models]\nallow = ["anthropic.*"]\n')
    client = client_for(west)
    with pytest.raises(PolicyViolation) as refused:
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    error = refused.value
    assert error.rule == "region.cross_region"
    assert [v.rule for v in error.violations] == ["region.cross_region"]  # type: ignore[attr-defined]
    assert "inference_profile.map" in str(error.found) and EAST in str(error.found)
    assert f'regional_map."{WEST}"' in str(error.fix)
    assert west.requests == [] and east.requests == []


def test_a_pin_of_another_regions_bedrock_host_is_refused_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vpce = "https://vpce-0abc-1234.bedrock-runtime.us-east-1.vpce.amazonaws.com"
    install_org(tmp_path, monkeypatch, f'version = 1\n[network]\nendpoint_url = "{vpce}"\n')
    with pytest.raises(TransportSecurityError) as refused:
        securebedrock.client(region_name=WEST)
    error = refused.value
    assert error.rule == "network.endpoint_override"
    assert "region us-east-1" in str(error.found) and WEST in str(error.found)
    assert "endpoint_urls" in str(error.fix)
    # The pin's own region is fine (construction only: nothing is sent).
    assert securebedrock.client(region_name=EAST).meta.endpoint_url == vpce


@pytest.mark.parametrize("mode", ["enforce", "log_only"])
def test_doctor_fails_a_pin_of_another_region(tmp_path: Path, mode: str) -> None:
    vpce = "https://vpce-0abc-1234.bedrock-runtime.us-east-1.vpce.amazonaws.com"
    path = tmp_path / "policy.toml"
    path.write_text(f'version = 1\nmode = "{mode}"\n[network]\nendpoint_url = "{vpce}"\n')
    results = run_checks(DoctorOptions(region=WEST, policy_file=str(path), environ={}))
    endpoint = next(r for r in results if r.name == "endpoint")
    assert endpoint.status == "FAIL"
    assert "us-east-1" in endpoint.detail and WEST in endpoint.detail
    assert "endpoint_urls" in endpoint.fix
    assert not any(r.name in ("dns", "tls") for r in results)  # nothing resolved or dialled


def test_doctor_passes_the_regions_own_pin(
    servers: tuple[EmbeddedBedrock, EmbeddedBedrock], tmp_path: Path
) -> None:
    east, west = servers
    path = tmp_path / "policy.toml"
    path.write_text(two_region_policy(east, west).split("[inference_profile]")[0])
    results = run_checks(
        DoctorOptions(region=WEST, policy_file=str(path), ca_bundle=west.ca_bundle, environ={})
    )
    endpoint = next(r for r in results if r.name == "endpoint")
    assert endpoint.status == "PASS", endpoint
    assert west.endpoint_url in endpoint.detail and f'endpoint_urls."{WEST}"' in endpoint.detail


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('[network.endpoint_urls]\n"us-east-1" = ""\n', "network.endpoint_urls.us-east-1"),
        ('[network.endpoint_urls]\n"US East" = "https://x.example"\n', "network.endpoint_urls"),
        ('[network.endpoint_urls]\n"us-east-1" = "http://x.example"\n', "network.endpoint_urls"),
        ('[inference_profile.regional_map."us-west-2"]\n"m.x" = "not-a-profile"\n', "regional"),
        ('[inference_profile.regional_map]\n"eu central" = {}\n', "regional_map"),
    ],
)
def test_bad_per_region_tables_are_errors_naming_the_key(text: str, path: str) -> None:
    with pytest.raises(PolicyConfigError) as refused:
        Policy.from_toml("version = 1\n" + text)
    assert path in (refused.value.path or "")


def test_per_region_tables_round_trip_and_merge() -> None:
    a = Policy.from_toml(
        'version = 1\n[network.endpoint_urls]\n"us-east-1" = "https://a.example"\n'
        '[inference_profile.regional_map."us-west-2"]\n'
        f'"m.a" = "{profile(WEST, "p1")}"\n'
    )
    assert Policy.from_toml(a.to_toml()) == a
    b = Policy.from_toml(
        'version = 1\n[network.endpoint_urls]\n"us-west-2" = "https://b.example"\n'
    )
    merged = a.merge(b)
    assert dict(merged.network.endpoint_urls) == {
        "us-east-1": "https://a.example",
        "us-west-2": "https://b.example",
    }
    clash = Policy.from_toml('version = 1\n[network]\nendpoint_url = "https://c.example"\n')
    with pytest.raises(PolicyConfigError) as refused:
        a.merge(clash)  # us-east-1 clients would go to two different places
    assert refused.value.path == "network.endpoint_urls.us-east-1"
    other_map = Policy.from_toml(
        f'version = 1\n[inference_profile]\nmap = {{ "m.a" = "{profile(WEST, "p2")}" }}\n'
    )
    with pytest.raises(PolicyConfigError) as refused:
        a.merge(other_map)  # m.a in us-west-2: p1 or p2?
    assert "regional_map" in (refused.value.path or "")
    # Policies that do not use the tables keep their digest (the empty tables are omitted).
    assert "endpoint_urls" not in Policy().to_dict()["network"]


def test_a_per_region_control_plane_pin_resolves_that_regions_profiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = profile(WEST, "w1")
    with EmbeddedBedrock(region=WEST) as runtime, EmbeddedBedrock(region=WEST) as plane:
        plane.add_inference_profile(app, models=[fm(WEST)])
        install_org(
            tmp_path,
            monkeypatch,
            f'version = 1\n[network.endpoint_urls]\n"{WEST}" = "{runtime.endpoint_url}"\n'
            f'[network.control_plane_endpoint_urls]\n"{WEST}" = "{plane.endpoint_url}"\n',
        )
        client = client_for(runtime)
        client.converse(modelId=app, messages=MESSAGES)
        assert [r.operation for r in plane.requests] == ["GetInferenceProfile"]
        assert [r.operation for r in runtime.requests] == ["Converse"]


def test_control_plane_tables_merge_and_bind_code_like_the_runtime_ones() -> None:
    vpce = "https://vpce-0abc-1234.bedrock.us-west-2.vpce.amazonaws.com"
    table = Policy.from_toml(
        f'version = 1\n[network.control_plane_endpoint_urls]\n"{WEST}" = "{vpce}"\n'
    )
    assert Policy.from_toml(table.to_toml()) == table
    assert table.network.control_plane_endpoint_for(WEST) == vpce
    assert table.network.control_plane_endpoint_for(EAST) == ""
    single = Policy.from_toml(
        'version = 1\n[network]\ncontrol_plane_endpoint_url = "https://other.example"\n'
    )
    with pytest.raises(PolicyConfigError) as refused:
        table.merge(single)
    assert refused.value.path == f"network.control_plane_endpoint_urls.{WEST}"
    from securebedrock import _discovery

    assert _discovery.effective_policy(table) == table  # a bedrock vpce host of its region
    loopback = Policy.from_toml(
        f'version = 1\n[network.control_plane_endpoint_urls]\n"{WEST}" = "https://127.0.0.1:9"\n'
    )
    with pytest.raises(PolicyConfigError) as refused:
        _discovery.effective_policy(loopback)  # only the org layer pins outside AWS
    assert refused.value.path == f"network.control_plane_endpoint_urls.{WEST}"
