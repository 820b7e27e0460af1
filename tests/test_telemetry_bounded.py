"""Free text passed as an identifier never reaches telemetry, logs or error messages.

A prompt passed by mistake as ``modelId`` (or free text as a guardrail identifier,
guardrail version or service tier) is recorded as ``<unrecognised:xxxxxxxx>`` in span
names, attributes, events, the audit log and error messages, and as ``<unrecognised>``
in metric attributes (bounded cardinality). Recognised identifiers stay verbatim.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _telemetry_helpers import FAST_RETRY, Otel, events, make_otel
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from conftest import GUARDRAIL, MODEL_ID

import securebedrock
from securebedrock import _bounded
from securebedrock import _telemetry as T
from securebedrock import _telemetry_semconv as sc
from securebedrock._policy import GuardrailPolicy, ServiceTierPolicy
from securebedrock.testing import EmbeddedBedrock

MARKER = "SECRET-MARKER-4e1d"
#: What a developer might paste into the wrong argument.
SENTENCE = (
    "Please summarise the attached quarterly report for the board and keep the tone "
    f"neutral; the account password is {MARKER} so do not repeat it anywhere"
)
PLACEHOLDER = re.compile(r"<unrecognised:[0-9a-f]{8}>")
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello"}],
    }
)
MODES = pytest.mark.parametrize("mode", ["enforce", "log_only"])


@pytest.fixture
def otel() -> Otel:
    return make_otel()


class _Records:
    """The log records of the test's call phase (read when asked, not at setup)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return iter(self._caplog.records)


@pytest.fixture
def audit_records(caplog: pytest.LogCaptureFixture) -> _Records:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger propagates here
    return _Records(caplog)


def _policy(mode: str, **sections: Any) -> securebedrock.Policy:
    return dataclasses.replace(securebedrock.Policy.default(), mode=mode, **sections)


def _call(action: Callable[[], Any]) -> BaseException | None:
    """Run a call; the error it raised (a refusal, or the server's answer), if any."""
    try:
        result = action()
    except (securebedrock.SecureBedrockError, ClientError) as exc:
        return exc
    for key in ("stream", "body"):
        value = result.get(key)
        if hasattr(value, "__iter__") and not isinstance(value, bytes | str):
            list(value)
    return None


def _assert_marker_nowhere(
    otel: Otel, records: _Records, errors: list[BaseException | None], marker: str = MARKER
) -> None:
    spans = otel.all_spans()
    assert spans
    for span in spans:
        assert marker not in span.name
        assert marker not in span.to_json(), span.name
    assert marker not in otel.all_metric_text()
    audited = [r for r in records if r.name == "securebedrock.audit"]
    assert audited
    for record in records:
        # botocore's own DEBUG logs print whole requests, as in any boto3 app (see
        # docs/telemetry.md, Caveats); every other record, ours included, must be clean.
        if record.name.startswith(("botocore", "urllib3")) and record.levelno < logging.INFO:
            continue
        if record.name.startswith("securebedrock.testing"):
            continue  # the embedded endpoint's access log: the server's side, not ours
        assert marker not in record.getMessage(), record.name
        assert marker not in repr(record.__dict__), record.name
    for error in errors:
        if error is not None:
            assert marker not in str(error)
            assert marker not in repr(error)
            if isinstance(error, securebedrock.SecureBedrockError):
                assert marker not in error.diagnostics()


def _model_points(otel: Otel) -> list[Any]:
    return [
        point
        for name in (sc.GEN_AI_CLIENT_OPERATION_DURATION, sc.GEN_AI_CLIENT_TOKEN_USAGE)
        for point in otel.metric_points(name)
    ]


@MODES
def test_a_prompt_passed_as_model_id_is_never_recorded(
    secured_client: Callable[..., BaseClient],
    bedrock: EmbeddedBedrock,
    otel: Otel,
    audit_records: _Records,
    mode: str,
) -> None:
    client = secured_client(_policy(mode), retry=FAST_RETRY, **otel.kwargs())
    errors = [
        _call(lambda: client.converse(modelId=SENTENCE, messages=MESSAGES)),
        _call(lambda: client.converse_stream(modelId=SENTENCE, messages=MESSAGES)),
        _call(lambda: client.invoke_model(modelId=SENTENCE, body=BODY)),
        _call(lambda: client.invoke_model_with_response_stream(modelId=SENTENCE, body=BODY)),
        _call(lambda: client.count_tokens(modelId=SENTENCE, input={"converse": {}})),
    ]
    assert all(error is not None for error in errors)
    spans = otel.spans()
    assert len(spans) == 5
    expected = _bounded.placeholder(SENTENCE)
    assert PLACEHOLDER.fullmatch(expected)
    for span in spans:
        assert span.attributes["securebedrock.decision"] == (
            "deny" if mode == "enforce" else "log_only"
        )
        assert span.attributes[sc.GEN_AI_REQUEST_MODEL] == expected
        assert span.attributes[T.ATTR_MODEL_REQUESTED] == expected
        (violation,) = events(span, T.EVENT_VIOLATION)
        assert expected in violation[T.ATTR_FOUND]
    assert [s.name for s in spans[:4]] == [
        f"chat {expected}",
        f"chat {expected}",
        f"chat {expected}",
        f"chat {expected}",
    ]
    # Metrics get the digest-free placeholder: one series however many prompts are pasted.
    points = _model_points(otel)
    assert points
    assert {p.attributes[sc.GEN_AI_REQUEST_MODEL] for p in points} == {"<unrecognised>"}
    # The audit log and the error message name the same placeholder (they can be joined).
    audited = [r for r in audit_records if r.name == "securebedrock.audit"]
    assert {r.securebedrock["model_requested"] for r in audited} == {expected}  # type: ignore[attr-defined]
    if mode == "enforce":
        assert isinstance(errors[0], securebedrock.PolicyViolation)
        assert expected in str(errors[0])
        assert f"{len(SENTENCE)} characters" in str(errors[0])
        assert "contains whitespace" in str(errors[0])
        assert bedrock.requests == []
    else:
        assert len(bedrock.requests) == 5  # log_only sent them: the server refused them
    _assert_marker_nowhere(otel, audit_records, errors)


@MODES
def test_free_text_as_a_guardrail_is_never_recorded(
    secured_client: Callable[..., BaseClient],
    otel: Otel,
    audit_records: _Records,
    mode: str,
) -> None:
    mandated = _policy(
        mode, guardrail=GuardrailPolicy(identifier=GUARDRAIL.identifier, version="3")
    )
    free = _policy(mode)
    arn_shaped = f"arn:aws:bedrock:us-west-2:123456789012:guardrail/{SENTENCE}"
    errors: list[BaseException | None] = []
    for policy in (mandated, free):
        client = secured_client(policy, retry=FAST_RETRY, **otel.kwargs())
        for identifier, version in (
            (SENTENCE, "3"),
            (arn_shaped, "1"),
            (GUARDRAIL.identifier, SENTENCE),
        ):
            config = {"guardrailIdentifier": identifier, "guardrailVersion": version}
            errors.append(
                _call(
                    lambda client=client, config=config: client.converse(
                        modelId=MODEL_ID, messages=MESSAGES, guardrailConfig=config
                    )
                )
            )
            errors.append(
                _call(
                    lambda client=client, identifier=identifier, version=version: (
                        client.invoke_model(
                            modelId=MODEL_ID,
                            body=BODY,
                            guardrailIdentifier=identifier,
                            guardrailVersion=version,
                        )
                    )
                )
            )
        errors.append(
            _call(
                lambda client=client: client.apply_guardrail(
                    guardrailIdentifier=arn_shaped,
                    guardrailVersion="1",
                    source="INPUT",
                    content=[{"text": {"text": "hello"}}],
                )
            )
        )
    spans = otel.spans()
    assert len(spans) == 14
    recorded = [s.attributes.get(sc.AWS_BEDROCK_GUARDRAIL_ID) for s in spans]
    assert _bounded.placeholder(SENTENCE) in recorded
    assert _bounded.placeholder(arn_shaped) in recorded
    versions = {s.attributes.get(T.ATTR_GUARDRAIL_VERSION) for s in spans}
    assert _bounded.placeholder(SENTENCE) in versions
    # The mandated guardrail's conflict and the ARN's region are reported, content-free.
    found = [e[T.ATTR_FOUND] for s in spans for e in events(s, T.EVENT_VIOLATION)]
    assert any("guardrail <unrecognised:" in f for f in found)
    _assert_marker_nowhere(otel, audit_records, errors)


@MODES
@pytest.mark.parametrize(
    "identifier",
    [
        # Free text squeezed into the region or partition field of an ARN-shaped id:
        # the engine reads a region and a partition from it, and must not quote them.
        "arn:aws:bedrock:topsecret-4e1d-words:123456789012:guardrail/abc",
        "arn:aws-topsecret-4e1d:bedrock:us-east-1:123456789012:guardrail/abc",
    ],
)
def test_free_text_in_a_guardrail_arns_region_is_never_quoted(
    secured_client: Callable[..., BaseClient],
    otel: Otel,
    audit_records: _Records,
    mode: str,
    identifier: str,
) -> None:
    client = secured_client(_policy(mode), retry=FAST_RETRY, **otel.kwargs())
    config = {"guardrailIdentifier": identifier, "guardrailVersion": "1"}
    error = _call(
        lambda: client.converse(modelId=MODEL_ID, messages=MESSAGES, guardrailConfig=config)
    )
    span = otel.only_span()
    (violation,) = events(span, T.EVENT_VIOLATION)
    assert violation[T.ATTR_RULE] == "region.cross_region"
    if mode == "enforce":
        assert isinstance(error, securebedrock.PolicyViolation)
    _assert_marker_nowhere(otel, audit_records, [error], marker="topsecret")


@MODES
def test_free_text_as_a_service_tier_is_never_recorded(
    secured_client: Callable[..., BaseClient],
    otel: Otel,
    audit_records: _Records,
    mode: str,
) -> None:
    policy = _policy(mode, service_tier=ServiceTierPolicy(allowed=("default",)))
    client = secured_client(policy, retry=FAST_RETRY, **otel.kwargs())
    errors = [
        _call(
            lambda: client.converse(
                modelId=MODEL_ID, messages=MESSAGES, serviceTier={"type": SENTENCE}
            )
        ),
        _call(lambda: client.invoke_model(modelId=MODEL_ID, body=BODY, serviceTier=SENTENCE)),
    ]
    spans = otel.spans()
    assert len(spans) == 2
    for span in spans:
        (violation,) = events(span, T.EVENT_VIOLATION)
        assert violation[T.ATTR_RULE] == "service_tier.not_allowed"
        assert f"service tier {_bounded.placeholder(SENTENCE)}" in violation[T.ATTR_FOUND]
    if mode == "enforce":
        assert all(isinstance(e, securebedrock.PolicyViolation) for e in errors)
    _assert_marker_nowhere(otel, audit_records, errors)


def test_a_non_string_model_id_is_never_quoted(
    secured_client: Callable[..., BaseClient], otel: Otel, audit_records: _Records
) -> None:
    client = secured_client(retry=FAST_RETRY, **otel.kwargs())
    # The engine reads a non-string as its repr: the marker is in its first characters.
    error = _call(lambda: client.converse(modelId=[MARKER, SENTENCE], messages=MESSAGES))
    assert isinstance(error, securebedrock.PolicyViolation)
    _assert_marker_nowhere(otel, audit_records, [error])


def test_recognised_identifiers_stay_verbatim(
    secured_client: Callable[..., BaseClient], otel: Otel, audit_records: _Records
) -> None:
    client = secured_client(retry=FAST_RETRY, **otel.kwargs())
    config = {"guardrailIdentifier": GUARDRAIL.identifier, "guardrailVersion": GUARDRAIL.version}
    client.converse(
        modelId=MODEL_ID,
        messages=MESSAGES,
        guardrailConfig=config,
        serviceTier={"type": "default"},
    )
    span = otel.only_span()
    assert span.name == f"chat {MODEL_ID}"
    assert span.attributes[sc.GEN_AI_REQUEST_MODEL] == MODEL_ID
    assert span.attributes[sc.AWS_BEDROCK_GUARDRAIL_ID] == GUARDRAIL.identifier
    assert span.attributes[T.ATTR_GUARDRAIL_VERSION] == GUARDRAIL.version
    assert {p.attributes[sc.GEN_AI_REQUEST_MODEL] for p in _model_points(otel)} == {MODEL_ID}
    (record,) = [r for r in audit_records if r.name == "securebedrock.audit"]
    assert record.securebedrock["model_sent"] == MODEL_ID  # type: ignore[attr-defined]
    assert record.securebedrock["guardrail_id"] == GUARDRAIL.identifier  # type: ignore[attr-defined]


# -- the placeholder itself ---------------------------------------------------------------


def test_the_placeholder_is_stable_short_and_keyed() -> None:
    first = _bounded.placeholder(SENTENCE)
    assert PLACEHOLDER.fullmatch(first)
    assert _bounded.placeholder(SENTENCE) == first  # joins spans, logs and errors
    assert _bounded.placeholder(SENTENCE + ".") != first
    # Keyed: not the plain hash, so a short value cannot be found from a list of guesses.
    for guess in ("flex", "priority", SENTENCE):
        plain = hashlib.sha256(guess.encode()).hexdigest()[:8]
        assert _bounded.placeholder(guess) != f"<unrecognised:{plain}>"


@pytest.mark.parametrize(
    ("value", "recognised"),
    [
        (MODEL_ID, True),
        (f"us.{MODEL_ID}", True),
        ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6", True),
        ("anthropic claude", False),
        (f"{MODEL_ID}\n", False),
        ("x" * 3000, False),
    ],
)
def test_model_ids_are_shown_only_when_recognised(value: str, recognised: bool) -> None:
    shown = _bounded.model(value)
    assert shown == (value if recognised else _bounded.placeholder(value))
    assert _bounded.model(None) is None


@pytest.mark.parametrize(
    ("value", "recognised"),
    [
        ("gr1abc2def3g", True),
        ("arn:aws:bedrock:us-east-1:123456789012:guardrail/gr1abc2def3g", True),
        ("gr1abc2def3g\n", False),
        ("my guardrail", False),
        ("arn:aws:bedrock:us-east-1:123456789012:guardrail/two words", False),
    ],
)
def test_guardrail_ids_are_shown_only_when_recognised(value: str, recognised: bool) -> None:
    assert (_bounded.guardrail_id(value) == value) is recognised


def test_descriptions_say_why_without_quoting() -> None:
    text = _bounded.describe(SENTENCE)
    assert MARKER not in text
    assert f"{len(SENTENCE)} characters" in text
    assert "contains whitespace" in text
    assert "non-ASCII" in _bounded.describe("modèle")
    assert "control characters" in _bounded.describe("a\x00b")
    assert "longer than 2048" in _bounded.describe("a" * 2049)
    assert _bounded.describe(["x"]).endswith("(a list, not a string)")
    assert _bounded.quote_tier("flex") == "'flex'"
    assert _bounded.quote_tier(None) == "None"
    assert MARKER not in _bounded.quote_tier(SENTENCE)
