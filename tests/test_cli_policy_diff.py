"""``securebedrock policy diff OLD NEW``: every changed key, marked tighten/loosen/neutral.

Exit status 1 when NEW loosens anything (text and ``--json`` alike), 0 otherwise,
2 on a usage error or an unusable file. Run through the CLI entry point.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from securebedrock._cli import main

PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p1"
BASE = """
version = 1
mode = "enforce"
[tls]
minimum_version = "1.3"
[network]
require_private_endpoint = true
allowed_cidrs = ["10.0.0.0/8"]
[guardrail]
identifier = "abc123"
version = "3"
[inference_profile]
map = { "anthropic.claude-3-haiku-20240307-v1:0" = "{PROFILE}" }
[regions]
allowed = ["us-east-1", "us-west-2"]
[models]
allow = ["anthropic.*"]
deny = ["anthropic.claude-v2"]
[auth]
allow_api_keys = false
""".replace("{PROFILE}", PROFILE)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run(
    tmp_path: Path, new_text: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    old = write(tmp_path, "old.toml", BASE)
    new = write(tmp_path, "new.toml", new_text)
    status = main(["policy", "diff", old, new, *extra])
    return status, capsys.readouterr().out


def lines(out: str) -> dict[str, str]:
    """``{key: direction}`` from the text output."""
    found = {}
    for line in out.splitlines():
        direction, _, rest = line.partition(" ")
        if direction in ("tighten", "loosen", "neutral"):
            found[rest.strip().split(":", 1)[0]] = direction
    return found


def test_identical_policies_have_no_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = run(tmp_path, BASE, capsys)
    assert (status, out.strip()) == (0, "no changes")


def test_tightening_changes_exit_0_and_are_each_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = (
        BASE.replace('allowed = ["us-east-1", "us-west-2"]', 'allowed = ["us-east-1"]')
        .replace('allow = ["anthropic.*"]', 'allow = ["anthropic.claude-3-*"]')
        .replace('deny = ["anthropic.claude-v2"]', 'deny = ["anthropic.claude-v2", "meta.*"]')
        .replace('allowed_cidrs = ["10.0.0.0/8"]', 'allowed_cidrs = ["10.1.0.0/16"]')
        .replace("[auth]", '[service_tier]\nallowed = ["default"]\n[auth]')
        + '\n[network.endpoint_urls]\n"us-east-1" = "https://vpce-1.example"\n'
    )
    status, out = run(tmp_path, new, capsys)
    assert status == 0, out
    assert lines(out) == {
        "regions.allowed": "tighten",
        "models.allow": "tighten",
        "models.deny": "tighten",
        "network.allowed_cidrs": "tighten",
        "service_tier.allowed": "tighten",
        "network.endpoint_urls.us-east-1": "tighten",
    }
    assert "NEW does not loosen the policy" in out


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('mode = "enforce"', 'mode = "apply"', "mode"),
        ('minimum_version = "1.3"', 'minimum_version = "1.2"', "tls.minimum_version"),
        ("require_private_endpoint = true", "require_private_endpoint = false",
         "network.require_private_endpoint"),
        ('allowed_cidrs = ["10.0.0.0/8"]', 'allowed_cidrs = ["10.0.0.0/8", "192.168.0.0/16"]',
         "network.allowed_cidrs"),
        ('version = "3"', 'version = "4"', "guardrail.version"),
        ('allowed = ["us-east-1", "us-west-2"]', 'allowed = ["us-east-1", "eu-west-1"]',
         "regions.allowed"),
        ('allow = ["anthropic.*"]', 'allow = ["anthropic.*", "meta.*"]', "models.allow"),
        ('deny = ["anthropic.claude-v2"]', "deny = []", "models.deny"),
        ("allow_api_keys = false", "allow_api_keys = true", "auth.allow_api_keys"),
        ("[regions]", "[regions]\ncross_region = true", "regions.cross_region"),
        ("[inference_profile]\nmap", "[inference_profile]\n#map", "inference_profile.map"),
    ],
)  # fmt: skip
def test_each_loosening_change_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, key: str
) -> None:
    assert old in BASE
    status, out = run(tmp_path, BASE.replace(old, new, 1), capsys)
    assert status == 1, out
    marked = lines(out)
    assert any(k.startswith(key) and v == "loosen" for k, v in marked.items()), out
    assert "NEW loosens the policy" in out


def test_json_lists_every_change_and_exits_1_when_loosening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = BASE.replace("allow_api_keys = false", "allow_api_keys = true").replace(
        'allowed = ["us-east-1", "us-west-2"]', 'allowed = ["us-east-1"]'
    )
    status, out = run(tmp_path, new, capsys, "--json")
    assert status == 1
    document = json.loads(out)
    assert document["loosens"] is True
    assert document["changes"] == [
        {"key": "auth.allow_api_keys", "old": False, "new": True, "change": "loosen"},
        {
            "key": "regions.allowed",
            "old": ["us-east-1", "us-west-2"],
            "new": ["us-east-1"],
            "change": "tighten",
        },
    ]
    status, out = run(tmp_path, BASE, capsys, "--json")
    assert status == 0 and json.loads(out) == {
        "old": str(tmp_path / "old.toml"),
        "new": str(tmp_path / "new.toml"),
        "loosens": False,
        "changes": [],
    }


def test_neutral_changes_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(
        tmp_path, BASE.replace('version = "3"', 'version = "3"\ntrace = "enabled_full"'), capsys
    )
    assert status == 0
    assert lines(out) == {"guardrail.trace": "neutral"}


def test_a_per_region_mapping_added_tightens_and_a_swapped_one_loosens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    west = "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/w1"
    other = west.replace("/w1", "/w2")
    table = '\n[inference_profile.regional_map."us-west-2"]\n"m.a" = "{}"\n'
    status, out = run(tmp_path, BASE + table.format(west), capsys)
    key = 'inference_profile.regional_map.us-west-2."m.a"'
    assert (status, lines(out)) == (0, {key: "tighten"})
    write(tmp_path, "old-west.toml", BASE + table.format(west))
    write(tmp_path, "new-west.toml", BASE + table.format(other))
    status = main(
        ["policy", "diff", str(tmp_path / "old-west.toml"), str(tmp_path / "new-west.toml")]
    )
    assert (status, lines(capsys.readouterr().out)) == (1, {key: "loosen"})


@pytest.mark.parametrize(
    "argv",
    [["policy", "diff"], ["policy", "diff", "only-one.toml"], ["policy", "diff", "a", "b", "c"]],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_an_unusable_file_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path, "old.toml", BASE)
    bad = write(tmp_path, "bad.toml", "version = 1\n[models]\nallow = 3\n")
    assert main(["policy", "diff", old, bad]) == 2
    err = capsys.readouterr().err
    assert "models.allow" in err
    assert main(["policy", "diff", old, str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err
