"""Endpoint URLs are read by the parser that opens the socket (urllib3), and only plain ones pass.

Every test goes through the public API against the embedded endpoint. A URL
that urllib3 and ``urllib.parse`` read differently (the backslash trick), or
that carries user info, a query, a fragment, a percent-escape, control
characters or a bad port, is refused at construction, from every configuration
source, with its credentials masked, and the embedded server receives nothing.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.client import BaseClient
from conftest import org_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

import securebedrock
from securebedrock import PolicyConfigError, SecureBedrockError, TransportSecurityError
from securebedrock._doctor import DoctorOptions, run_checks
from securebedrock.testing import EmbeddedBedrock

BEDROCK_HOST = "bedrock-runtime.us-east-1.amazonaws.com"
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
SECRET = "s3cretPW"


def converse(client: Any) -> Any:
    return client.converse(modelId=MODEL_ID, messages=MESSAGES)


def backslash_url(server: EmbeddedBedrock) -> str:
    """urllib.parse: user info "127.0.0.1:PORT\\" and a Bedrock host; urllib3: 127.0.0.1:PORT."""
    return f"https://127.0.0.1:{server.port}\\@{BEDROCK_HOST}"


def org_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    path = tmp_path / "org-policy.toml"
    path.write_text("version = 1\n" + body)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))


def assert_refused_as_ambiguous(error: TransportSecurityError, *, leaked: str = "") -> None:
    assert error.rule == "network.endpoint_override"
    assert "endpoint URL refused" in str(error)
    if leaked:
        assert leaked not in str(error)


# --- the backslash trick, from every configuration source ------------------------------------


def test_backslash_endpoint_argument_is_refused(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient]
) -> None:
    url = backslash_url(bedrock)
    with pytest.raises(TransportSecurityError) as caught:
        # Before: accepted as a Bedrock host, and the call reached 127.0.0.1.
        converse(secured_client(endpoint_url=url))
    assert_refused_as_ambiguous(caught.value, leaked=f"127.0.0.1:{bedrock.port}")
    assert "backslash" in str(caught.value) and "endpoint_url argument" in str(caught.value)
    assert f"https://***@{BEDROCK_HOST}" in str(caught.value)
    # The same through a securebedrock.Session.
    with bedrock.org_policy():
        session = securebedrock.Session(
            aws_access_key_id=bedrock.access_key,
            aws_secret_access_key=bedrock.secret_key,
            region_name=bedrock.region,
        )
    with pytest.raises(TransportSecurityError) as caught:
        converse(session.client("bedrock-runtime", endpoint_url=url, verify=bedrock.ca_bundle))
    assert_refused_as_ambiguous(caught.value)
    assert bedrock.requests == []


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"])
def test_backslash_endpoint_from_environment_is_refused(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, backslash_url(bedrock))
    with pytest.raises(TransportSecurityError) as caught:
        converse(secured_client(endpoint_url=None))
    assert_refused_as_ambiguous(caught.value)
    assert f"environment variable {variable}" in str(caught.value)
    assert bedrock.requests == []


@pytest.mark.parametrize(
    "config_text",
    [
        "[default]\nendpoint_url = {url}\n",
        "[default]\nservices = local\n[services local]\n"
        "bedrock_runtime =\n  endpoint_url = {url}\n",
    ],
    ids=["profile", "services-section"],
)
def test_backslash_endpoint_from_config_file_is_refused(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config_text: str,
) -> None:
    config = tmp_path / "config-with-endpoint"
    config.write_text(config_text.format(url=backslash_url(bedrock)))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    with pytest.raises(TransportSecurityError) as caught:
        converse(secured_client(endpoint_url=None))
    assert_refused_as_ambiguous(caught.value)
    assert "config file" in str(caught.value)
    assert bedrock.requests == []


def test_backslash_endpoint_on_an_existing_client_is_refused_by_secure(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    raw = raw_client(endpoint_url=backslash_url(bedrock))
    with pytest.raises(TransportSecurityError) as caught:
        with bedrock.org_policy():
            converse(securebedrock.secure(raw))
    assert_refused_as_ambiguous(caught.value)
    assert bedrock.requests == []


# --- other shapes: plain ones are accepted, ambiguous ones refused ---------------------------

REFUSED = [
    # (template; {port} is the embedded server's, {host} the Bedrock host; expected phrase)
    ("https://127.0.0.1:{port}\\@{host}", "backslash"),
    ("https://127.0.0.1:{port}\\", "backslash"),
    ("https://user:pw@127.0.0.1:{port}", "user info"),
    ("https://@127.0.0.1:{port}", "user info"),
    ("https://{host}%2f@127.0.0.1:{port}", "percent-escape"),
    ("https://127.0.0.1:{port}#@{host}", "fragment"),
    ("https://127.0.0.1:{port}?@{host}", "query"),
    ("https://127.0.0.1:{port}/?x=1", "query"),
    ("https://%31%32%37.0.0.1:{port}", "percent-escape"),
    ("https://127.0.0.1%3a{port}", "percent-escape"),
    ("https://[::1%25lo]:{port}", "percent-escape"),
    ("https://127.0.0.1:{port}\t", "control or whitespace"),
    ("https://127.0.0.1:{port}\n", "control or whitespace"),
    (" https://127.0.0.1:{port}", "control or whitespace"),
    ("https://127.0.0.1:{port}\x00", "control or whitespace"),
    ("https://127.0.0.1:{port}\u200b", "non-ASCII"),
    ("https://127.0.0.1:{port}\uff0f@{host}", "non-ASCII"),
    ("https://127.0.0.1.:{port}", "canonical IPv4"),
    ("https://2130706433:{port}", "canonical IPv4"),
    ("https://127.1:{port}", "canonical IPv4"),
    ("https://0x7f.0.0.1:{port}", "canonical IPv4"),
    ("https://127.0.0.1:{port}:{port}", "not a valid URL"),
    ("https://127.0.0.1:99999", "Port out of range"),
    ("https://127.0.0.1:0", "port 0"),
    ("https://127.0.0.1:+{port}", "not a valid URL"),
    ("https:\\\\127.0.0.1:{port}", "backslash"),
    ("https:/127.0.0.1:{port}", "no scheme or no host"),
    ("127.0.0.1:{port}", "no scheme or no host"),
    ("https://[::1]x:{port}", "urllib3 can connect to"),
    ("https://{host}..", "not a plain DNS name"),
    ("https://a_b.{host}", "not a plain DNS name"),
    ("", "empty string"),
]


@pytest.mark.parametrize(("template", "phrase"), REFUSED)
def test_ambiguous_or_malformed_endpoints_are_refused(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    template: str,
    phrase: str,
) -> None:
    url = template.format(port=bedrock.port, host=BEDROCK_HOST)
    with pytest.raises(TransportSecurityError) as caught:
        converse(secured_client(endpoint_url=url))
    assert_refused_as_ambiguous(caught.value, leaked="user:pw")
    assert phrase in str(caught.value)
    assert bedrock.requests == []


@pytest.mark.parametrize(
    "template",
    [
        "HTTPS://127.0.0.1:{port}",  # upper-case scheme
        "https://127.0.0.1:{port}/",  # trailing slash
        "https://127.0.0.1:0{port}",  # a leading zero in the port: the same number to both
        "https://LOCALHOST:{port}",  # upper-case host (the server's certificate names localhost)
    ],
)
def test_plain_variants_of_the_pinned_endpoint_are_accepted_and_reach_it(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    url = template.format(port=bedrock.port)
    pin = "https://localhost" if "LOCALHOST" in template else "https://127.0.0.1"
    org_file(tmp_path, monkeypatch, f'[network]\nendpoint_url = "{pin}:{bedrock.port}"\n')
    client = securebedrock.client(**{**bedrock.client_kwargs(), "endpoint_url": url})
    converse(client)
    assert len(bedrock.requests) == 1


def test_bracketed_ipv6_endpoint_is_accepted_and_reaches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            pass
    except OSError:
        pytest.skip("no IPv6 loopback on this host")
    with EmbeddedBedrock(host="::1") as server:
        assert server.endpoint_url == f"https://[::1]:{server.port}"
        org_file(tmp_path, monkeypatch, f'[network]\nendpoint_url = "{server.endpoint_url}"\n')
        converse(securebedrock.client(**server.client_kwargs()))
        assert len(server.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        f"https://{BEDROCK_HOST.upper()}",
        f"https://{BEDROCK_HOST}.",
        f"https://{BEDROCK_HOST}:443/",
        f"https://{BEDROCK_HOST}:0443",
    ],
)
def test_plain_variants_of_a_bedrock_host_are_accepted(url: str) -> None:
    # Construction only: nothing is sent anywhere.
    client = securebedrock.client(region_name="us-east-1", endpoint_url=url)
    assert client.meta.endpoint_url == url


@pytest.mark.parametrize(
    "url",
    [
        f"https://{BEDROCK_HOST}:99999",
        f"https://{BEDROCK_HOST}:65536",
        f"https://{BEDROCK_HOST}:0",
        f"https://{BEDROCK_HOST}:-1",
        f"https://{BEDROCK_HOST}:4a3",
        f"https://[{'::1'}]:99999",
    ],
)
def test_bad_ports_are_a_clear_error(url: str) -> None:
    # Before: port 99999 on a Bedrock host raised a raw ValueError.
    with pytest.raises(TransportSecurityError) as caught:
        securebedrock.client(region_name="us-east-1", endpoint_url=url)
    assert_refused_as_ambiguous(caught.value)
    assert "port" in str(caught.value).lower()


@pytest.mark.parametrize("value", [b"https://127.0.0.1:1", 443, 0, 1.5, ["https://x"], True])
def test_endpoint_that_is_not_a_string_is_a_clear_error(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient], value: object
) -> None:
    with pytest.raises(TransportSecurityError) as caught:
        secured_client(endpoint_url=value)
    assert_refused_as_ambiguous(caught.value)
    assert "not a string" in str(caught.value)
    assert bedrock.requests == []


class _LyingURL(str):
    """A str whose ``str()`` names a Bedrock host while its text is something else."""

    def __str__(self) -> str:
        return f"https://{BEDROCK_HOST}"


def test_a_str_subclass_is_checked_and_sent_by_its_text(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    url = _LyingURL(bedrock.endpoint_url)
    with pytest.raises(TransportSecurityError) as caught:
        converse(securebedrock.client(**{**bedrock.client_kwargs(), "endpoint_url": url}))
    assert caught.value.rule == "network.endpoint_override"
    assert bedrock.endpoint_url in str(caught.value)
    with pytest.raises(TransportSecurityError):
        converse(securebedrock.secure(raw_client(endpoint_url=url)))
    assert bedrock.requests == []


# --- credentials are never echoed ------------------------------------------------------------


def test_credentials_in_the_endpoint_are_masked_in_the_error(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"https://admin:{SECRET}@127.0.0.1:{bedrock.port}"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TransportSecurityError) as caught:
        converse(secured_client(endpoint_url=url))
    text = f"{caught.value}\n{caught.value.diagnostics()}"
    assert f"https://***@127.0.0.1:{bedrock.port}" in text
    assert SECRET not in text and "admin" not in text
    assert SECRET not in caplog.text
    assert bedrock.requests == []


def test_credentials_are_refused_and_masked_in_log_only_mode_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: log_only logged "would refuse: ... 'https://admin:<password>@...'" and carried on.
    org_file(tmp_path, monkeypatch, 'mode = "log_only"\n')
    caplog.set_level(logging.DEBUG)
    url = f"https://admin:{SECRET}@bedrock-runtime.eu-west-1.amazonaws.com"
    with pytest.raises(TransportSecurityError) as caught:
        securebedrock.client(region_name="us-east-1", endpoint_url=url)
    assert caught.value.rule == "network.endpoint_override"
    assert "https://***@bedrock-runtime.eu-west-1.amazonaws.com" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in caplog.text


def test_log_only_endpoint_warning_quotes_a_plain_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    org_file(tmp_path, monkeypatch, 'mode = "log_only"\n')
    caplog.set_level(logging.WARNING)
    url = "https://bedrock-runtime.eu-west-1.amazonaws.com"
    securebedrock.client(region_name="us-east-1", endpoint_url=url)
    assert "would refuse" in caplog.text and "network.endpoint_override" in caplog.text
    assert url in caplog.text


def test_credentials_in_a_proxy_are_masked_in_log_only_warnings(
    bedrock: EmbeddedBedrock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    org_file(
        tmp_path,
        monkeypatch,
        'mode = "log_only"\n[network]\nrequire_private_endpoint = true\n'
        f'allowed_cidrs = ["127.0.0.0/8"]\nendpoint_url = "{bedrock.endpoint_url}"\n',
    )
    monkeypatch.setenv("HTTPS_PROXY", f"http://admin:{SECRET}@127.0.0.3:9")
    caplog.set_level(logging.WARNING)
    securebedrock.client(**bedrock.client_kwargs())
    assert "network.proxy" in caplog.text and "http://127.0.0.3:9" in caplog.text
    assert SECRET not in caplog.text and "admin" not in caplog.text


def test_credentials_in_the_policy_files_endpoint_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_file(tmp_path, monkeypatch, f'[network]\nendpoint_url = "https://u:{SECRET}@h.example"\n')
    with pytest.raises(PolicyConfigError) as caught:
        securebedrock.client(region_name="us-east-1")
    assert caught.value.path == "network.endpoint_url"
    assert "https://***@h.example" in str(caught.value) and SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "pin",
    [
        "https://127.0.0.1:1\\@bedrock-runtime.us-east-1.amazonaws.com",
        "https://127.0.0.1:1#@bedrock-runtime.us-east-1.amazonaws.com",
        "https://%31%32%37.0.0.1:1",
        "https://h.example:99999",
        "https://h.example\n",
    ],
)
def test_policy_file_endpoint_uses_the_same_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pin: str
) -> None:
    org_file(tmp_path, monkeypatch, f"[network]\nendpoint_url = {pin!r}\n".replace("'", '"'))
    with pytest.raises(PolicyConfigError) as caught:
        securebedrock.client(region_name="us-east-1")
    assert caught.value.path == "network.endpoint_url"


def test_doctor_masks_credentials_in_a_refused_endpoint(bedrock: EmbeddedBedrock) -> None:
    url = f"https://admin:{SECRET}@127.0.0.1:{bedrock.port}"
    results = run_checks(DoctorOptions(region="us-east-1", endpoint_url=url, environ={}))
    endpoint = next(result for result in results if result.name == "endpoint")
    assert endpoint.status == "FAIL"
    assert f"https://***@127.0.0.1:{bedrock.port}" in endpoint.detail
    assert all(SECRET not in f"{result.detail} {result.fix}" for result in results)
    assert bedrock.requests == []


# --- property: any endpoint value gives a securebedrock error or a safe client ---------------

_PIECES = st.tuples(
    st.sampled_from(
        ["https://", "HTTPS://", "http://", "", "//", "https:/", "https:\\\\", "ftp://"]
    ),
    st.sampled_from(["", "user:pw@", "@", "127.0.0.1:{port}\\@", "x%40y@", "127.0.0.1:{port}#@"]),
    st.sampled_from(
        [
            BEDROCK_HOST,
            BEDROCK_HOST.upper(),
            BEDROCK_HOST + ".",
            "bedrock-runtime-fips.us-east-1.amazonaws.com",
            "bedrock-runtime.eu-west-1.amazonaws.com",
            BEDROCK_HOST + ".evil.example",
            "127.0.0.1",
            "[::1]",
            "[::1%25lo]",
            "evil.example",
            "%31%32%37.0.0.1",
            "2130706433",
            "xn--bdrock-bva.com",
            "bédrock.com",
            "",
        ]
    ),
    st.sampled_from(["", ":443", ":{port}", ":99999", ":0", ":-1", ":+1", ":08", ":", ":1:2"]),
    st.sampled_from(
        ["", "/", "/prefix/", "\\@evil", "#@evil", "?@evil", "%2f@evil", "\t", "\x00", "\u3002"]
    ),
)
_ENDPOINTS = st.one_of(
    _PIECES.map("".join),
    st.text(max_size=40),
    st.text(alphabet="htps:/\\@#?%[]:.1270abc-", max_size=40),
    st.binary(max_size=20),
    st.integers(),
    st.none(),
    st.floats(allow_nan=True),
)


def _agreed_origin(url: str) -> tuple[str, str, int]:
    socket_view, split_view = parse_url(url), urlsplit(url)
    host = (socket_view.host or "").strip("[]").rstrip(".")
    assert host == (split_view.hostname or "").rstrip(".")
    assert socket_view.port == split_view.port
    assert socket_view.auth is None and split_view.username is None
    return (str(socket_view.scheme), host, socket_view.port or 443)


@pytest.fixture
def quiet_bedrock(bedrock: EmbeddedBedrock) -> Iterator[EmbeddedBedrock]:
    yield bedrock
    assert bedrock.requests == []


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_ENDPOINTS)
def test_any_endpoint_value_gives_a_securebedrock_error_or_an_agreed_allowed_host(
    quiet_bedrock: EmbeddedBedrock, value: object
) -> None:
    if isinstance(value, str):
        value = value.replace("{port}", str(quiet_bedrock.port))
    kwargs = {**quiet_bedrock.client_kwargs(), "endpoint_url": value}
    try:
        client = org_client(**kwargs, policy=quiet_bedrock.pin())
    except SecureBedrockError as error:
        assert "user:pw" not in str(error)
        return
    # Constructed: the URL must be one both parsers read the same way, and allowed.
    if value is None:
        return
    assert isinstance(value, str)
    scheme, host, port = _agreed_origin(value)
    assert _agreed_origin(str(client.meta.endpoint_url)) == (scheme, host, port)
    assert scheme == "https"
    pinned = ("https", "127.0.0.1", quiet_bedrock.port)
    assert (scheme, host, port) == pinned or host in (
        BEDROCK_HOST,
        "bedrock-runtime-fips.us-east-1.amazonaws.com",
    )


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.sampled_from(["https://", "HTTPS://", "https:/", "https:\\\\", "//", "", "https:"]),
    user=st.text(alphabet="abcXYZ019-._~!$&'()*+,;=:%\\", max_size=12),
    host=st.sampled_from([BEDROCK_HOST, "127.0.0.1:8443", "[::1]", "evil.example", ""]),
    tail=st.sampled_from(["", "/", "/p@x", "?a@b", "#@c", "\\@d"]),
)
def test_user_info_never_reaches_the_error_text(
    prefix: str, user: str, host: str, tail: str
) -> None:
    url = f"{prefix}{user}SECRET{user}@{host}{tail}"
    with pytest.raises(SecureBedrockError) as caught:
        securebedrock.client(region_name="us-east-1", endpoint_url=url)
    assert "SECRET" not in f"{caught.value}\n{caught.value.diagnostics()}"
