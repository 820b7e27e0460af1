"""The embedded endpoint's SigV4 verifier against botocore's own signer.

Whatever botocore signs must verify; any change to what was signed must not.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from securebedrock.testing._server import RecordedHeaders
from securebedrock.testing._sigv4 import SignatureError, verify

KEY, SECRET = "AKIAEXAMPLEKEY000000", "example-secret"
CREDENTIALS = {KEY: SECRET}
ARN_PATH = (
    "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
    "application-inference-profile%2Fab12cd34/converse"
)


def _signed(
    method: str = "POST",
    url: str = "https://127.0.0.1:8443/model/anthropic.claude-v2%3A1/converse",
    body: bytes = b'{"messages": []}',
    service: str = "bedrock",
    region: str = "us-east-1",
    secret: str = SECRET,
) -> tuple[AWSRequest, dict[str, str]]:
    request = AWSRequest(
        method=method, url=url, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(KEY, secret), service, region).add_auth(request)
    headers = {"host": urlsplit(url).netloc, **dict(request.headers.items())}
    return request, headers


def _verify(request: AWSRequest, headers: dict[str, str], **overrides: object) -> str:
    parts = urlsplit(request.url)
    arguments: dict[str, object] = {
        "method": request.method,
        "raw_path": parts.path,
        "raw_query": parts.query,
        "headers": RecordedHeaders(headers.items()),
        "body": request.body or b"",
        "credentials": CREDENTIALS,
        "region": "us-east-1",
    }
    arguments.update(overrides)
    return verify(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "https://127.0.0.1:8443/model/anthropic.claude-v2%3A1/converse", b"{}"),
        ("POST", f"https://127.0.0.1:8443{ARN_PATH}", b'{"x": "\xc3\xa9"}'),
        ("GET", "https://127.0.0.1:8443/async-invoke?maxResults=2&nextToken=YWI%3D", b""),
        ("GET", "https://localhost:8443/guardrails/gr1?guardrailVersion=DRAFT", b""),
    ],
)
def test_botocore_signatures_verify(method: str, url: str, body: bytes) -> None:
    request, headers = _signed(method, url, body)
    assert _verify(request, headers) == KEY


def test_tampering_is_detected() -> None:
    request, headers = _signed()
    with pytest.raises(SignatureError, match="does not match"):
        _verify(request, headers, body=b'{"messages": [1]}')
    with pytest.raises(SignatureError, match="does not match"):
        _verify(request, headers, raw_path="/model/anthropic.claude-v2%3A2/converse")
    with pytest.raises(SignatureError, match="does not match"):
        _verify(request, headers, method="PUT")
    with pytest.raises(SignatureError, match="does not match"):
        _verify(request, {**headers, "host": "127.0.0.1:9999"})
    with pytest.raises(SignatureError, match="does not match"):
        _verify(request, {**headers, "Content-Type": "text/plain"})


def test_query_tampering_is_detected() -> None:
    request, headers = _signed("GET", "https://127.0.0.1:8443/async-invoke?maxResults=2", b"")
    with pytest.raises(SignatureError, match="does not match"):
        _verify(request, headers, raw_query="maxResults=3")


def test_wrong_secret_unknown_key_scope_and_expiry() -> None:
    request, headers = _signed(secret="other-secret")
    with pytest.raises(SignatureError) as raised:
        _verify(request, headers)
    assert raised.value.error_type == "InvalidSignatureException"

    request, headers = _signed()
    with pytest.raises(SignatureError) as raised:
        _verify(request, headers, credentials={"AKIAOTHER": SECRET})
    assert raised.value.error_type == "UnrecognizedClientException"

    for service, region in (("s3", "us-east-1"), ("bedrock", "eu-west-1")):
        request, headers = _signed(service=service, region=region)
        with pytest.raises(SignatureError, match="scoped"):
            _verify(request, headers)

    request, headers = _signed()
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)
    with pytest.raises(SignatureError, match="expired"):
        _verify(request, headers, now=later)


def test_missing_or_malformed_authorization() -> None:
    request, headers = _signed()
    without = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    with pytest.raises(SignatureError) as raised:
        _verify(request, without)
    assert raised.value.error_type == "MissingAuthenticationTokenException"
    with pytest.raises(SignatureError) as raised:
        _verify(request, {**without, "Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    assert raised.value.error_type == "IncompleteSignatureException"
    mismatched = {**headers, "x-amz-content-sha256": "0" * 64}
    with pytest.raises(SignatureError, match="x-amz-content-sha256"):
        _verify(request, mismatched)
