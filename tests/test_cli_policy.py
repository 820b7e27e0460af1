"""``securebedrock policy keygen|sign|verify|validate|show``, in process (one subprocess test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from securebedrock import Policy, _discovery
from securebedrock._cli import main

EXAMPLES = Path(__file__).parent.parent / "examples" / "policies"
POLICY = 'version = 1\n[tls]\nminimum_version = "1.3"\n[regions]\nallowed = ["us-east-1"]\n'


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SECUREBEDROCK_POLICY_FILE",
        "SECUREBEDROCK_POLICY_PUBLIC_KEY",
        "SECUREBEDROCK_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_discovery, "DEFAULT_POLICY_FILE", str(tmp_path / "etc-policy.toml"))
    monkeypatch.chdir(tmp_path)
    _discovery.clear_cache()


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "org.key", tmp_path / "org.pub"
    assert (
        main(["policy", "keygen", "--out-private", str(private), "--out-public", str(public)]) == 0
    )
    return private, public


def test_keygen_writes_a_0600_private_key_and_a_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    assert (
        main(["policy", "keygen", "--out-private", str(private), "--out-public", str(public)]) == 0
    )
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert f"SECUREBEDROCK_POLICY_PUBLIC_KEY={public}" in capsys.readouterr().out


def test_keygen_defaults_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "keygen"]) == 0
    private = tmp_path / "policy-signing.key"
    before = private.read_bytes()
    assert main(["policy", "keygen"]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert private.read_bytes() == before


def test_sign_then_verify(
    policy_file: Path, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = keypair
    assert (
        main(["policy", "sign", "--policy-file", str(policy_file), "--private-key", str(private)])
        == 0
    )
    assert Path(f"{policy_file}.sig").exists()
    assert (
        main(["policy", "verify", "--policy-file", str(policy_file), "--public-key", str(public)])
        == 0
    )
    out = capsys.readouterr().out
    assert "verified" in out and Policy.from_file(policy_file).digest in out


def test_verify_uses_the_env_public_key(
    policy_file: Path, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = keypair
    assert (
        main(["policy", "sign", "--policy-file", str(policy_file), "--private-key", str(private)])
        == 0
    )
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", public.read_text())
    assert main(["policy", "verify", "--policy-file", str(policy_file)]) == 0


def test_verify_refuses_tampering_and_other_keys(
    policy_file: Path,
    keypair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    private, public = keypair
    assert (
        main(["policy", "sign", "--policy-file", str(policy_file), "--private-key", str(private)])
        == 0
    )
    other_private, other_public = tmp_path / "o.key", tmp_path / "o.pub"
    main(
        ["policy", "keygen", "--out-private", str(other_private), "--out-public", str(other_public)]
    )
    assert (
        main(
            [
                "policy",
                "verify",
                "--policy-file",
                str(policy_file),
                "--public-key",
                str(other_public),
            ]
        )
        == 1
    )
    policy_file.write_text(POLICY.replace("1.3", "1.2"))
    assert (
        main(["policy", "verify", "--policy-file", str(policy_file), "--public-key", str(public)])
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("does not verify") == 2


def test_verify_without_a_public_key_is_an_error(
    policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "verify", "--policy-file", str(policy_file)]) == 1
    assert "--public-key" in capsys.readouterr().err


def test_sign_refuses_an_invalid_policy(
    tmp_path: Path, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\nmode = 'log-only'\n")
    assert (
        main(["policy", "sign", "--policy-file", str(bad), "--private-key", str(keypair[0])]) == 1
    )
    assert not Path(f"{bad}.sig").exists()
    assert "[mode]" in capsys.readouterr().err


def test_sign_refuses_a_public_key_as_signing_key(
    policy_file: Path, keypair: tuple[Path, Path]
) -> None:
    assert (
        main(
            ["policy", "sign", "--policy-file", str(policy_file), "--private-key", str(keypair[1])]
        )
        == 1
    )
    assert not Path(f"{policy_file}.sig").exists()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_validate_examples(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", "--policy-file", str(path)]) == 0
    assert "valid" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version = 1\n[guardrail]\nidentifier = 'abc'\n", "[guardrail.version]"),
        ("version = 1\n[tls\n", "line 2, column"),
        ("version = 1\nextra = 1\n", "[extra] unknown key"),
    ],
)
def test_validate_reports_errors_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    assert main(["policy", "validate", "--policy-file", str(path)]) == 1
    captured = capsys.readouterr()
    assert expected in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", str(tmp_path / "nope.toml")]) == 1
    assert "nope.toml" in capsys.readouterr().err


def test_show_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "show"]) == 0
    out = capsys.readouterr().out
    assert Policy.default().digest in out
    assert 'minimum_version = "1.2"  # default' in out
    assert "# allowed not set: unrestricted  # default" in out


def test_show_json_with_sources(
    policy_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(policy_file))
    assert main(["policy", "show", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert Policy.from_dict(document["policy"]) == Policy.from_file(policy_file)
    assert document["digest"] == Policy.from_file(policy_file).digest
    assert document["sources"]["tls.minimum_version"] == f"org file ({policy_file})"
    assert document["sources"]["tls.fips"] == "default"
    assert document["layers"] == ["default", f"org file ({policy_file})"]


def test_show_file_option_and_env_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text("version = 1\nmode = 'log_only'\n")
    monkeypatch.setenv("SECUREBEDROCK_MODE", "enforce")
    assert main(["policy", "show", "--policy-file", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'mode = "enforce"  # environment (SECUREBEDROCK_MODE)' in out


def test_show_refuses_an_unsigned_file_when_a_key_is_set(
    policy_file: Path,
    keypair: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_POLICY_PUBLIC_KEY", str(keypair[1]))
    assert main(["policy", "show", "--policy-file", str(policy_file)]) == 1
    assert "not signed" in capsys.readouterr().err


def test_export_is_registered_under_policy() -> None:
    with pytest.raises(SystemExit) as info:
        main(["policy", "export", "--help"])
    assert info.value.code == 0


def test_console_script_smoke(policy_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "securebedrock", "policy", "validate", str(policy_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_keygen_into_a_missing_directory_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private = tmp_path / "k.pem"
    public = tmp_path / "no-such-dir" / "k.pub"
    assert (
        main(["policy", "keygen", "--out-private", str(private), "--out-public", str(public)]) == 1
    )
    assert "cannot write" in capsys.readouterr().err
    assert not private.exists()


def test_old_option_spellings_still_work_with_a_warning(
    tmp_path: Path, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = keypair
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(POLICY)
    assert main(["policy", "sign", str(policy_file), "--key", str(private)]) == 0
    err = capsys.readouterr().err
    assert "a positional FILE is deprecated" in err and "use --policy-file FILE" in err
    assert "--key is deprecated" in err and "use --private-key" in err
    assert main(["policy", "verify", str(policy_file), "--public-key", str(public)]) == 0
    assert main(["policy", "show", "--file", str(policy_file)]) == 0
    assert "--file is deprecated" in capsys.readouterr().err
    # The new spellings print no warning.
    assert main(["policy", "validate", "--policy-file", str(policy_file)]) == 0
    assert "deprecated" not in capsys.readouterr().err
    # Two different files are a usage mistake, not a silent choice.
    other = tmp_path / "other.toml"
    other.write_text(POLICY)
    assert main(["policy", "validate", str(other), "--policy-file", str(policy_file)]) == 1
    assert "two different policy files" in capsys.readouterr().err


def test_validate_checks_the_discovered_policy_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "validate"]) == 1
    assert "no policy file given and none discovered" in capsys.readouterr().err
    org = tmp_path / "org.toml"
    org.write_text(POLICY)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(org))
    assert main(["policy", "validate"]) == 0
    assert f"valid: {org}" in capsys.readouterr().out
    org.write_text('version = 1\nmode = "sometimes"\n')
    assert main(["policy", "validate"]) == 1
    assert "[mode]" in capsys.readouterr().err


def test_sign_without_a_private_key_says_how(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(POLICY)
    assert main(["policy", "sign", "--policy-file", str(policy_file)]) == 1
    assert "--private-key FILE" in capsys.readouterr().err
