"""Pure parts of the transport: address classes, CIDRs, endpoint host shapes, sources."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securebedrock import _netcheck, _transport
from securebedrock._errors import PolicyConfigError


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link_local"),
        ("fe80::1%eth0", "link_local"),
        ("52.94.1.1", "public"),
        ("::ffff:10.0.0.1", "private"),
        ("not-an-ip", "public"),
    ],
)
def test_address_class(ip: str, expected: str) -> None:
    assert _netcheck.address_class(ip) == expected


def test_ip_allowed() -> None:
    networks = _netcheck.parse_networks(["10.0.0.0/8", "fc00::/7"])
    assert _netcheck.ip_allowed("10.9.8.7", networks)
    assert _netcheck.ip_allowed("::ffff:10.9.8.7", networks)  # v4-mapped judged as v4
    mapped = _netcheck.parse_networks(["::ffff:10.0.0.0/104"])
    assert _netcheck.ip_allowed("::ffff:10.9.8.7", mapped)
    assert _netcheck.ip_allowed("fd12::1", networks)
    assert not _netcheck.ip_allowed("11.0.0.1", networks)
    assert not _netcheck.ip_allowed("garbage", networks)
    assert not _netcheck.ip_allowed("10.0.0.1", ())  # an empty list allows nothing


def test_bad_cidr_is_a_config_error() -> None:
    with pytest.raises(PolicyConfigError) as caught:
        _netcheck.parse_networks(["10.0.0.0/33"])
    assert caught.value.path == "network.allowed_cidrs"


@given(st.ip_addresses())
def test_every_address_is_in_its_own_host_network(address: object) -> None:
    ip = str(address)
    suffix = "/32" if ":" not in ip else "/128"
    networks = _netcheck.parse_networks([ip + suffix])
    assert _netcheck.ip_allowed(ip, networks)
    assert not _netcheck.ip_allowed(ip, ())


@pytest.mark.parametrize(
    ("host", "service", "expected"),
    [
        ("bedrock-runtime.us-east-1.amazonaws.com", "bedrock-runtime", ("us-east-1", False)),
        (
            "bedrock-runtime-fips.us-gov-west-1.amazonaws.com",
            "bedrock-runtime",
            ("us-gov-west-1", True),
        ),
        ("bedrock-runtime.eu-west-1.api.aws", "bedrock-runtime", ("eu-west-1", False)),
        ("bedrock-runtime-fips.us-east-2.api.aws", "bedrock-runtime", ("us-east-2", True)),
        ("bedrock-runtime.cn-north-1.amazonaws.com.cn", "bedrock-runtime", ("cn-north-1", False)),
        (
            "vpce-0abc123-xyz.bedrock-runtime.us-east-1.vpce.amazonaws.com",
            "bedrock-runtime",
            ("us-east-1", False),
        ),
        ("BEDROCK-RUNTIME.US-EAST-1.AMAZONAWS.COM.", "bedrock-runtime", ("us-east-1", False)),
        ("bedrock.us-east-1.amazonaws.com", "bedrock", ("us-east-1", False)),
        ("bedrock-fips.ca-central-1.amazonaws.com", "bedrock", ("ca-central-1", True)),
        ("bedrock.us-east-1.amazonaws.com", "bedrock-runtime", None),
        ("bedrock-runtime.us-east-1.amazonaws.com", "bedrock", None),
        ("bedrock-runtime.us-east-1.amazonaws.com.evil.example", "bedrock-runtime", None),
        ("evilbedrock-runtime.us-east-1.amazonaws.com", "bedrock-runtime", None),
        ("bedrock-runtime.us-east-1.example.com", "bedrock-runtime", None),
        ("127.0.0.1", "bedrock-runtime", None),
    ],
)
def test_classify_service_host(host: str, service: str, expected: tuple[str, bool] | None) -> None:
    assert _netcheck.classify_service_host(host, service) == expected


def test_same_endpoint_compares_scheme_host_and_port() -> None:
    assert _netcheck.same_endpoint("https://h.example", "https://H.example:443/")
    assert not _netcheck.same_endpoint("https://h.example:8443", "https://h.example")
    assert not _netcheck.same_endpoint("http://h.example:443", "https://h.example")
    assert not _netcheck.same_endpoint("https://h.example", "")


def test_endpoint_source_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _transport.endpoint_source() == (None, "botocore default")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://global.example")
    assert _transport.endpoint_source() == (
        "https://global.example",
        "environment variable AWS_ENDPOINT_URL",
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "https://service.example")
    assert _transport.endpoint_source()[1] == (
        "environment variable AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
    )
    assert _transport.endpoint_source(service_name="bedrock")[0] == "https://global.example"
    assert _transport.endpoint_source("https://arg.example") == (
        "https://arg.example",
        "endpoint_url argument",
    )
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert _transport.endpoint_source() == (None, "botocore default")
