"""Facts several modules need are defined once and shared, not copied."""

from __future__ import annotations

import ssl

import pytest

from securebedrock import _export, _modelid, _policy, _toml, _transport_session
from securebedrock._cli import policy as cli_policy


def test_geographies_have_one_home() -> None:
    assert _policy.GEOGRAPHIES is _modelid.GEOGRAPHIES
    assert _export.GEOGRAPHY_PREFIXES == tuple(sorted(_modelid.GEOGRAPHIES))
    # Every geography parses as a profile prefix, us-gov included (not read as "us").
    for geography in _modelid.GEOGRAPHIES:
        ref = _modelid.parse_model_id(f"{geography}.anthropic.claude-3-haiku-20240307-v1:0")
        assert ref.geography == geography


@pytest.mark.parametrize("version", _policy.TLS_VERSIONS)
def test_every_policy_tls_version_maps_to_an_ssl_version(version: str) -> None:
    floor = _transport_session.tls_version(version)
    assert isinstance(floor, ssl.TLSVersion)
    assert floor.name == "TLSv" + version.replace(".", "_")
    context = _transport_session.tls_context(version)
    assert context.minimum_version == floor
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_toml_is_written_by_one_module() -> None:
    assert cli_policy.toml_value is _toml.toml_value
    assert _policy._toml_value is _toml.toml_value
    # A key that is not a bare TOML key is quoted the same way everywhere.
    assert _toml.toml_key("inference_profile.known", "arn:x/y") == (
        'inference_profile.known."arn:x/y"'
    )
