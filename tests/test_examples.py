"""Every example under examples/ runs, as a user would run it, against its own embedded endpoint.

Each runs in a subprocess (``python examples/X.py``): examples set process-wide
state (the global OpenTelemetry tracer provider, environment variables), and a
fresh interpreter is also what a reader gets.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from _user_process import run_python

from securebedrock import _constants
from securebedrock._cli import build_parser

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: example file → strings its output must contain (what the example demonstrates).
EXPECTED: dict[str, tuple[str, ...]] = {
    "basic_converse.py": ("answer:", "'guardrailIdentifier': 'gr0basic0001'"),
    "streaming.py": ("tokens in",),
    "log_only_rollout.py": (
        "decision=log_only rules=['region.cross_region']",
        "enforce: refused by region.cross_region; server still has 1",
    ),
    "session_for_frameworks.py": ("'guardrailIdentifier': 'gr0session01'",),
    "langchain_chat.py": ("LangChain reply:", "'guardrailIdentifier': 'gr0langch001'"),
    "frameworks_install.py": (
        "'guardrailIdentifier': 'gr0install01'",
        "refused by model.not_allowed, not retried; server received 1",
    ),
    "signed_policy.py": (
        "signed policy enforced; stop reason: end_turn",
        "'guardrailIdentifier': 'gr0signed001'",
        "tampered policy refused: the policy signature does not verify",
    ),
    "openai_sdk.py": (
        "guardrail on the wire: gr0openai001",
        "auth on the wire: sigv4",
        "refused: model.not_allowed",
        "requests the server received: 1",
    ),
    "otel_console.py": (
        '"name": "chat anthropic.claude-3-haiku-20240307-v1:0"',
        '"securebedrock.decision": "allow"',
        '"securebedrock.decision": "deny"',
        "# refused by region.cross_region",
    ),
}


def run_example(name: str, tmp_path: Path) -> str:
    result = run_python(tmp_path, str(EXAMPLES / name))
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_every_example_is_tested() -> None:
    on_disk = {path.name for path in EXAMPLES.glob("*.py")}
    # agent_tool_gate.py is the Cedar tool gate's example; tests/test_tools*.py run it.
    assert on_disk - {"agent_tool_gate.py"} == set(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str, tmp_path: Path) -> None:
    output = run_example(name, tmp_path)
    for expected in EXPECTED[name]:
        assert expected in output, f"{name}: {expected!r} not in output:\n{output}"


def test_examples_define_main() -> None:
    for name in EXPECTED:
        source = (EXAMPLES / name).read_text()
        assert "\ndef main() -> None:" in source, name
        assert 'if __name__ == "__main__":\n    main()' in source, name


# --- the docs stay true to the code ------------------------------------------------------------

DOCS = EXAMPLES.parent / "docs"
CLI_REFERENCE = DOCS / "cli.md"
_CLI_HEADER = """# Command line

`securebedrock COMMAND ...` (also `python -m securebedrock`). This page is generated from
the commands' own `--help` (`tests/test_examples.py` checks it; regenerate with
`UPDATE_DOCS=1 pytest tests/test_examples.py -k cli_reference`).

| command | what it does |
| --- | --- |
| [`securebedrock demo`](#securebedrock-demo) | an offline tour on an embedded endpoint |
| [`securebedrock doctor`](#securebedrock-doctor) | preflight this host: see [doctor](doctor.md) |
| [`securebedrock policy`](#securebedrock-policy) | sign, verify, [export](export.md) policies |
| [`securebedrock tools`](#securebedrock-tools) | the Cedar tool gate: see [tools](tools.md) |

Exit codes: 0 success; 1 a check failed or a policy/transport error (the message names
the rule or key, what was found, what was expected and the fix); 2 a usage error; 141
the reader of the output went away (`securebedrock policy show | head`): the command
stops quietly, as Unix tools ended by `SIGPIPE` do.
"""


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every subcommand parser under it, depth first, in definition order."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found.extend(_parsers(sub))
    return found


def cli_reference() -> str:
    """The CLI reference page, from the parsers' own help."""
    sections = [_CLI_HEADER]
    for parser in _parsers(build_parser())[1:]:
        sections.append(f"\n## {parser.prog}\n\n```text\n{parser.format_help().rstrip()}\n```\n")
    return "".join(sections)


def test_cli_reference_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps help to the terminal width
    expected = cli_reference()
    if os.environ.get("UPDATE_DOCS") == "1":
        CLI_REFERENCE.write_text(expected)
    assert CLI_REFERENCE.read_text() == expected, (
        "docs/cli.md is out of date: UPDATE_DOCS=1 pytest tests/test_examples.py -k cli_reference"
    )


def test_every_environment_variable_is_documented() -> None:
    page = (DOCS / "environment.md").read_text()
    names = {
        value
        for name, value in vars(_constants).items()
        if name.startswith("ENV_") and isinstance(value, str)
    }
    assert set(_constants.ENVIRONMENT_VARIABLES) <= names
    missing = sorted(name for name in names if f"`{name}`" not in page)
    assert not missing, f"docs/environment.md does not document {missing}"
