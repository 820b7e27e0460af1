"""`securebedrock tools validate FILE...`: exit 0/1, problems as FILE:LINE:COLUMN."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from securebedrock._cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "tools"
GOOD = 'permit (principal, action == AgentCore::Action::"Lookup", resource);\n'


def test_valid_files_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = tmp_path / "a.cedar"
    first.write_text(GOOD)
    code = main(["tools", "validate", str(first), str(EXAMPLES / "refunds.cedar")])
    out = capsys.readouterr().out
    assert code == 0
    assert f"ok: {first}: 1 policy (policy0)" in out
    assert "3 policies (refund-under-500, lookup-orders, suspended-accounts)" in out


def test_example_policies_validate_against_their_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    schema = EXAMPLES / "refunds.cedarschema"
    code = main(["tools", "validate", str(EXAMPLES / "refunds.cedar"), "--schema", str(schema)])
    assert code == 0
    assert f"valid against {schema}" in capsys.readouterr().out


def test_syntax_error_exits_one_and_points_at_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.cedar"
    good.write_text(GOOD)
    bad = tmp_path / "bad.cedar"
    bad.write_text(GOOD + "forbid (principal, action, resource)\n  when { context.input.x < };\n")
    code = main(["tools", "validate", str(good), str(bad)])
    captured = capsys.readouterr()
    assert code == 1
    assert f"ok: {good}" in captured.out
    assert f"{bad}:3:28: cannot parse the Cedar policies" in captured.err
    assert "unexpected token `}`" in captured.err
    assert "  when { context.input.x < };" in captured.err
    assert "1 of 2 file(s) refused" in captured.err


def test_schema_validation_failure_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.cedar"
    policy.write_text(
        '@id("typo")\npermit (principal, action == AgentCore::Action::"ProcessRefund__execute",'
        " resource)\nwhen { context.input.amonut < 5 };\n"
    )
    code = main(
        ["tools", "validate", str(policy), "--schema", str(EXAMPLES / "refunds.cedarschema")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert f"{policy}:3:" in err and "policy `typo`" in err and "input.amonut" in err


def test_missing_file_exits_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "validate", str(tmp_path / "nope.cedar")]) == 1
    assert "cannot read the Cedar policy file" in capsys.readouterr().err


def test_gateway_mismatch_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["tools", "validate", str(EXAMPLES / "refunds.cedar"), "--gateway", "securebedrock"]
    )
    assert code == 0
    assert "refunds.cedar:10: names AgentCore::Gateway" in capsys.readouterr().err


def test_without_cedarpy_the_cli_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cedarpy", None)
    policy = tmp_path / "p.cedar"
    policy.write_text(GOOD)
    assert main(["tools", "validate", str(policy)]) == 1
    assert "pip install 'securebedrock[cedar]'" in capsys.readouterr().err


def test_usage_error_exits_two() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["tools", "validate"])
    assert caught.value.code == 2
