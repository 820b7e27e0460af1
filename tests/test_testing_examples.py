"""The docs' example of testing an application offline (examples/testing/) passes.

It runs in a subprocess as a user would run it (``pytest examples/testing``),
isolated from the machine's AWS and securebedrock settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _user_process import run_python

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "testing"


@pytest.mark.slow
def test_user_test_suite_example_passes(tmp_path: Path) -> None:
    result = run_python(
        tmp_path,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        # A plugin langchain brings along: unrelated to the example, and slow to load.
        "-p",
        "no:langsmith_plugin",
        "--rootdir",
        str(EXAMPLE_DIR),
        "-c",
        os.devnull,
        str(EXAMPLE_DIR),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
