"""``securebedrock doctor`` against the embedded endpoint: passing and failing hosts.

Loopback only: every run passes ``--endpoint-url`` of the embedded server and a
policy file that pins it, so nothing else is ever resolved or connected to.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from securebedrock import _signing
from securebedrock._cli import main
from securebedrock._cli.doctor import render_table
from securebedrock._doctor import CheckResult, DoctorOptions, run_checks
from securebedrock.testing import EmbeddedBedrock, GuardrailSpec

GUARDRAIL = GuardrailSpec(identifier="gr1doctor001", version="3")


def policy_text(server: EmbeddedBedrock, extra: str = "", *, loopback_allowed: bool = True) -> str:
    cidrs = '["127.0.0.0/8"]' if loopback_allowed else '["10.0.0.0/8"]'
    return f"""
version = 1
[tls]
minimum_version = "1.3"
[network]
require_private_endpoint = true
allowed_cidrs = {cidrs}
endpoint_url = "{server.endpoint_url}"
control_plane_endpoint_url = "{server.endpoint_url}"
[guardrail]
identifier = "{GUARDRAIL.identifier}"
version = "{GUARDRAIL.version}"
{extra}
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> EmbeddedBedrock:
    with EmbeddedBedrock(guardrails=[GUARDRAIL]) as started:
        # SigV4 credentials the embedded endpoint accepts (for GetGuardrail).
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", started.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", started.secret_key)
        yield started


def write_policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


def doctor(server: EmbeddedBedrock, policy_file: str) -> dict[str, CheckResult]:
    results = run_checks(
        DoctorOptions(
            region="us-east-1",
            policy_file=policy_file,
            endpoint_url=server.endpoint_url,
            control_plane_endpoint_url=server.endpoint_url,
            ca_bundle=server.ca_bundle,
            timeout=5.0,
        )
    )
    by_name: dict[str, CheckResult] = {}
    for result in results:
        by_name.setdefault(result.name, result)
    return by_name


def cli_args(server: EmbeddedBedrock, policy_file: str) -> list[str]:
    return [
        "doctor",
        "--region", "us-east-1",
        "--policy", policy_file,
        "--endpoint-url", server.endpoint_url,
        "--control-plane-endpoint-url", server.endpoint_url,
        "--ca-bundle", server.ca_bundle,
    ]  # fmt: skip


def test_compliant_host_passes(
    server: EmbeddedBedrock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_file = write_policy(tmp_path, policy_text(server))
    checks = doctor(server, policy_file)
    assert {name: check.status for name, check in checks.items()} == {
        "policy": "WARN",  # unsigned: no public key configured
        "policy.files": "PASS",
        "region": "PASS",
        "endpoint": "PASS",
        "dns": "PASS",
        "tls": "PASS",
        "fips": "PASS",
        "proxy": "PASS",
        "credentials": "PASS",
        "auth.api_key": "PASS",
        "control_plane": "PASS",
        "control_plane.dns": "PASS",
        "control_plane.tls": "PASS",
        "guardrail": "PASS",
        "inference_profile": "PASS",
        "client": "PASS",
    }
    assert "TLSv1.3" in checks["tls"].detail
    assert "peer 127.0.0.1" in checks["tls"].detail
    assert "expires" in checks["tls"].detail
    assert "from endpoint_url argument" in checks["endpoint"].detail
    assert checks["credentials"].detail == "SigV4 credentials from env"
    assert server.access_key not in json.dumps([c.__dict__ for c in checks.values()])
    assert server.secret_key not in json.dumps([c.__dict__ for c in checks.values()])
    # Every non-pass says how to fix it.
    assert all(check.fix for check in checks.values() if check.status != "PASS")

    assert main(cli_args(server, policy_file)) == 0
    out = capsys.readouterr().out
    assert "PASS  tls" in out
    assert "\033[" not in out  # not a terminal: no colour


def test_signed_policy_passes(
    server: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_file = write_policy(tmp_path, policy_text(server))
    private_pem, public_pem = _signing.generate_keypair()
    signature = _signing.sign(
        Path(policy_file).read_bytes(), _signing.load_private_key(private_pem)
    )
    _signing.signature_path(policy_file).write_bytes(signature)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", public_pem.decode())
    check = doctor(server, policy_file)["policy"]
    assert check.status == "PASS"
    assert "signature verified" in check.detail


def test_tampered_policy_fails(
    server: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_file = write_policy(tmp_path, policy_text(server))
    private_pem, public_pem = _signing.generate_keypair()
    signature = _signing.sign(
        Path(policy_file).read_bytes(), _signing.load_private_key(private_pem)
    )
    _signing.signature_path(policy_file).write_bytes(signature)
    Path(policy_file).write_text(policy_text(server).replace('"1.3"', '"1.2"'))
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", public_pem.decode())
    check = doctor(server, policy_file)["policy"]
    assert check.status == "FAIL"
    assert check.fix


def test_tls_floor_above_server_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EmbeddedBedrock(guardrails=[GUARDRAIL], tls_max_version="1.2") as capped:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", capped.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", capped.secret_key)
        policy_file = write_policy(tmp_path, policy_text(capped))
        checks = doctor(capped, policy_file)
        assert checks["tls"].status == "FAIL"
        assert "floor TLS 1.3" in checks["tls"].detail
        assert "TLS 1.3" in checks["tls"].fix
        assert main(cli_args(capped, policy_file)) == 1


def test_private_endpoint_without_loopback_fails(
    server: EmbeddedBedrock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_file = write_policy(tmp_path, policy_text(server, loopback_allowed=False))
    checks = doctor(server, policy_file)
    assert checks["dns"].status == "FAIL"
    assert "127.0.0.1 (loopback, not in allowed_cidrs)" in checks["dns"].detail
    assert checks["client"].status == "FAIL"

    assert main([*cli_args(server, policy_file), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is False
    statuses = {check["name"]: check["status"] for check in payload["checks"]}
    assert statuses["dns"] == "FAIL"
    assert set(payload["checks"][0]) == {"name", "status", "detail", "fix"}


def test_missing_guardrail_fails_and_access_denied_warns(
    server: EmbeddedBedrock, tmp_path: Path
) -> None:
    text = policy_text(server).replace(GUARDRAIL.identifier, "gr0missing00")
    missing = doctor(server, write_policy(tmp_path, text))["guardrail"]
    assert missing.status == "FAIL", missing

    policy_file = write_policy(tmp_path, policy_text(server))
    server.faults.access_denied(1, operation="GetGuardrail")
    denied = doctor(server, policy_file)["guardrail"]
    assert denied.status == "WARN"
    assert "AccessDenied" in denied.detail


def test_api_key_refused_by_policy_fails(
    server: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "not-a-real-token-0123456789")
    policy_file = write_policy(tmp_path, policy_text(server, "[auth]\nallow_api_keys = false\n"))
    checks = doctor(server, policy_file)
    assert checks["auth.api_key"].status == "FAIL"
    assert "not-a-real-token" not in json.dumps([c.__dict__ for c in checks.values()])


def test_region_outside_the_allowed_list_fails(server: EmbeddedBedrock, tmp_path: Path) -> None:
    policy_file = write_policy(
        tmp_path, policy_text(server, '[regions]\nallowed = ["eu-west-1"]\n')
    )
    assert doctor(server, policy_file)["region"].status == "FAIL"


def test_log_only_mode_warns(server: EmbeddedBedrock, tmp_path: Path) -> None:
    policy_file = write_policy(tmp_path, 'mode = "log_only"\n' + policy_text(server))
    results = run_checks(
        DoctorOptions(
            region="us-east-1",
            policy_file=policy_file,
            endpoint_url=server.endpoint_url,
            control_plane_endpoint_url=server.endpoint_url,
            ca_bundle=server.ca_bundle,
        )
    )
    mode = [result for result in results if result.name == "policy.mode"]
    assert [result.status for result in mode] == ["WARN"]


def test_endpoint_source_from_the_environment(
    server: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.endpoint_url)
    results = run_checks(
        DoctorOptions(
            region="us-east-1",
            policy_file=write_policy(tmp_path, policy_text(server)),
            control_plane_endpoint_url=server.endpoint_url,
            ca_bundle=server.ca_bundle,
        )
    )
    endpoint = next(result for result in results if result.name == "endpoint")
    assert endpoint.status == "PASS"
    assert "from environment variable AWS_ENDPOINT_URL_BEDROCK_RUNTIME" in endpoint.detail


def test_proxy_forbidden_by_policy_fails(
    server: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A loopback "proxy" that is never connected to: the policy refuses it first.
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@127.0.0.1:9")
    checks = doctor(server, write_policy(tmp_path, policy_text(server)))
    assert checks["proxy"].status == "FAIL"
    assert "http://127.0.0.1:9" in checks["proxy"].detail
    assert "secret" not in checks["proxy"].detail
    assert checks["client"].status == "FAIL"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_table_is_coloured_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    results = [
        CheckResult(name="tls", status="PASS", detail="TLSv1.3"),
        CheckResult(name="dns", status="FAIL", detail="10.1.2.3", fix="enable private DNS"),
    ]
    plain = io.StringIO()
    render_table(results, plain)
    assert "\033[" not in plain.getvalue()
    assert "fix: enable private DNS" in plain.getvalue()
    assert "1 passed, 0 warnings, 1 failed" in plain.getvalue()

    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = _Terminal()
    render_table(results, terminal)
    assert "\033[31mFAIL\033[0m" in terminal.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    no_colour = _Terminal()
    render_table(results, no_colour)
    assert "\033[" not in no_colour.getvalue()


@pytest.mark.parametrize(
    ("certificate", "fix"),
    [("expired", "renew it"), ("untrusted", "--ca-bundle"), ("wrong_host", "DNS name")],
)
def test_bad_server_certificate_fails(
    certificate: str, fix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EmbeddedBedrock(guardrails=[GUARDRAIL], certificate=certificate) as bad:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", bad.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bad.secret_key)
        check = doctor(bad, write_policy(tmp_path, policy_text(bad)))["tls"]
    assert check.status == "FAIL"
    assert "certificate of 127.0.0.1 rejected" in check.detail
    assert fix in check.fix


def test_mapped_inference_profiles_are_looked_up(server: EmbeddedBedrock, tmp_path: Path) -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    known = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/prof0known01"
    unknown = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/prof0absent1"
    server.add_inference_profile(known, [f"arn:aws:bedrock:us-east-1::foundation-model/{model}"])
    mapping = f'"{model}" = "{known}", "other.model-v1:0" = "{unknown}"'
    extra = f"[inference_profile]\nmap = {{ {mapping} }}\n"
    results = run_checks(
        DoctorOptions(
            region="us-east-1",
            policy_file=write_policy(tmp_path, policy_text(server, extra)),
            endpoint_url=server.endpoint_url,
            control_plane_endpoint_url=server.endpoint_url,
            ca_bundle=server.ca_bundle,
        )
    )
    profiles = {
        r.detail.split(": ", 1)[0]: r.status for r in results if r.name == "inference_profile"
    }
    assert profiles == {f"profile {known}": "PASS", f"profile {unknown}": "FAIL"}


# --- the control-plane endpoint (inference-profile resolution) ------------------------------

APP = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/prof0absent1"
MAPPED = f'[inference_profile]\nmap = {{ "anthropic.claude-3-haiku-20240307-v1:0" = "{APP}" }}\n'


def test_control_plane_endpoint_is_checked_like_the_runtime(
    server: EmbeddedBedrock, tmp_path: Path
) -> None:
    checks = doctor(server, write_policy(tmp_path, policy_text(server)))
    assert f"{server.endpoint_url} (from endpoint_url argument)" in checks["control_plane"].detail
    assert "127.0.0.1 (loopback, allowed)" in checks["control_plane.dns"].detail
    assert "TLSv1.3" in checks["control_plane.tls"].detail
    assert "peer 127.0.0.1" in checks["control_plane.tls"].detail


def test_control_plane_endpoint_from_the_policy(server: EmbeddedBedrock, tmp_path: Path) -> None:
    results = run_checks(
        DoctorOptions(
            region="us-east-1",
            policy_file=write_policy(tmp_path, policy_text(server)),
            endpoint_url=server.endpoint_url,
            ca_bundle=server.ca_bundle,
        )
    )
    plane = next(r for r in results if r.name == "control_plane")
    assert plane.status == "PASS"
    assert "from policy network.control_plane_endpoint_url" in plane.detail


@pytest.mark.parametrize(("extra", "status"), [(MAPPED, "FAIL"), ("", "WARN")])
def test_control_plane_below_the_tls_floor(
    extra: str, status: str, server: EmbeddedBedrock, tmp_path: Path
) -> None:
    with EmbeddedBedrock(tls_max_version="1.2") as plane:
        text = policy_text(server, extra).replace(
            f'control_plane_endpoint_url = "{server.endpoint_url}"',
            f'control_plane_endpoint_url = "{plane.endpoint_url}"',
        )
        results = run_checks(
            DoctorOptions(
                region="us-east-1",
                policy_file=write_policy(tmp_path, text),
                endpoint_url=server.endpoint_url,
                ca_bundle=server.ca_bundle,
            )
        )
    by_name = {r.name: r for r in results}
    assert by_name["tls"].status == "PASS"
    tls = by_name["control_plane.tls"]
    assert tls.status == status, tls
    assert "floor TLS 1.3" in tls.detail and "inference_profile.known" in tls.fix


def test_runtime_pin_does_not_vouch_for_the_control_plane(
    server: EmbeddedBedrock, tmp_path: Path
) -> None:
    # The runtime is pinned to the server; the control plane is not: pointing the
    # control plane at the runtime's endpoint is refused, as a client refuses it.
    text = policy_text(server, MAPPED).replace(
        f'control_plane_endpoint_url = "{server.endpoint_url}"\n', ""
    )
    checks = doctor(server, write_policy(tmp_path, text))
    assert checks["tls"].status == "PASS"
    plane = checks["control_plane"]
    assert plane.status == "FAIL"
    assert "not a Bedrock endpoint host" in plane.detail
    assert "network.control_plane_endpoint_url" in plane.fix
    assert "control_plane.tls" not in checks


def test_control_plane_not_needed(server: EmbeddedBedrock, tmp_path: Path) -> None:
    extra = '[regions]\ncross_region = true\nallowed_geographies = ["global"]\n'
    text = policy_text(server, extra).replace(
        f'control_plane_endpoint_url = "{server.endpoint_url}"\n', ""
    )
    checks = doctor(server, write_policy(tmp_path, text))
    assert checks["control_plane"].status == "PASS"
    assert "not needed" in checks["control_plane"].detail
    assert "control_plane.dns" not in checks and "control_plane.tls" not in checks


def test_control_plane_look_ups_sign_with_sigv4(
    server: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "doctor-bearer-token-0123456789"  # noqa: S105 -- a throwaway test value
    server.bearer_tokens.add(token)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
    extra = "[auth]\nallow_api_keys = true\n" + MAPPED
    doctor(server, write_policy(tmp_path, policy_text(server, extra)))
    looked_up = [(r.operation, r.auth) for r in server.requests]
    assert ("GetGuardrail", "sigv4") in looked_up
    assert ("GetInferenceProfile", "sigv4") in looked_up
    assert all(auth == "sigv4" for _, auth in looked_up)


_PROXY = "http://127.0.0.1:9"  # loopback, never connected to: the policy refuses it first


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"HTTPS_PROXY": _PROXY}, "FAIL"),
        ({"https_proxy": _PROXY}, "FAIL"),
        ({"ALL_PROXY": _PROXY}, "FAIL"),
        ({"HTTPS_PROXY": _PROXY, "NO_PROXY": "127.0.0.1"}, "PASS"),
        ({"ALL_PROXY": _PROXY, "no_proxy": "127.0.0.1"}, "PASS"),
        ({"HTTP_PROXY": _PROXY}, "PASS"),  # not used for an https endpoint
        ({}, "PASS"),
    ],
)
def test_doctor_sees_the_proxy_a_client_would_use(
    environment: dict[str, str],
    expected: str,
    server: EmbeddedBedrock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "ALL_PROXY", "HTTP_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    checks = doctor(server, write_policy(tmp_path, policy_text(server)))
    assert checks["proxy"].status == expected
    # The client check builds a real secured client, which refuses a forbidden proxy.
    assert checks["client"].status == expected


def test_doctor_handshakes_with_the_clients_tls_context() -> None:
    from securebedrock._policy import Policy, TLSPolicy
    from securebedrock._transport_session import Guard, HardenedSession, tls_context

    for floor in ("1.2", "1.3"):
        policy = Policy(tls=TLSPolicy(minimum_version=floor))  # type: ignore[arg-type]
        client_context = HardenedSession(guard=Guard(policy))._get_ssl_context()
        doctor_context = tls_context(floor)
        for attribute in ("minimum_version", "verify_mode", "check_hostname", "options"):
            assert getattr(doctor_context, attribute) == getattr(client_context, attribute)
        assert [c["name"] for c in doctor_context.get_ciphers()] == [
            c["name"] for c in client_context.get_ciphers()
        ]


def test_doctor_names_the_plaintext_rule_for_an_http_endpoint(
    server: EmbeddedBedrock, tmp_path: Path
) -> None:
    policy_file = write_policy(tmp_path, policy_text(server))
    http_url = f"http://127.0.0.1:{server.port}"
    results = run_checks(
        DoctorOptions(
            region="us-east-1",
            policy_file=policy_file,
            endpoint_url=http_url,
            control_plane_endpoint_url=http_url,
            ca_bundle=server.ca_bundle,
        )
    )
    checks = {result.name: result for result in results}
    assert checks["endpoint"].status == "FAIL"
    assert "[tls.plaintext]" in checks["endpoint"].detail
    assert "tls.version" not in checks["endpoint"].detail
    assert "[tls.plaintext]" in checks["control_plane"].detail
    assert server.requests == []
