"""Every command shown in docs/signing.md, docs/rollout.md and docs/export.md runs, in order,
and succeeds.

The ``$ ...`` lines of each page's ``console`` blocks run as one bash script
(``set -e``) in a fresh directory holding a ``policy.toml``, with a
``securebedrock`` on ``PATH`` whose machine paths (``/etc/securebedrock``,
``/var/lib/securebedrock``) are moved into the test's temporary directory; the
same paths in the commands are moved the same way. ``doctor`` talks to an
embedded endpoint on loopback that the policy pins.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from securebedrock.testing import EmbeddedBedrock

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ("signing.md", "rollout.md", "export.md")
MACHINE_PATHS = ("/etc/securebedrock", "/var/lib/securebedrock")

_WRAPPER = """#!{python}
import sys

from securebedrock import _discovery, _rollback, _trust

# The test's stand-ins for the machine's paths (module attributes, as tests set them).
_trust.TRUSTED_KEYS_FILE = {anchor!r}
_discovery.DEFAULT_POLICY_FILE = {policy!r}
_rollback.DEFAULT_STATE_DIR = {state!r}

from securebedrock._cli import main

sys.exit(main())
"""


def commands(page: str) -> list[str]:
    """The ``$`` lines of the page's console blocks (a trailing ``\\`` continues a line)."""
    text = (DOCS / page).read_text()
    found: list[str] = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL):
        pending = ""
        for line in block.splitlines():
            if pending:
                pending += "\n" + line
            elif line.startswith("$ "):
                pending = line[2:]
            else:
                continue
            if not pending.endswith("\\"):
                found.append(pending)
                pending = ""
    return found


def policy_text(server: EmbeddedBedrock, mode: str) -> str:
    return (
        f'version = 1\nmode = "{mode}"\n\n'
        '[release]\nid = "2026-12-acme-7"\nserial = 7\nexpires = 2099-03-01T00:00:00Z\n\n'
        '[regions]\nallowed = ["us-east-1"]\n\n'
        f'[network]\nendpoint_url = "{server.endpoint_url}"\n'
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "mode"),
    [("signing.md", "enforce"), ("rollout.md", "log_only"), ("export.md", "enforce")],
)
def test_every_command_on_the_page_runs(
    page: str, mode: str, tmp_path: Path, bedrock: EmbeddedBedrock
) -> None:
    lines = commands(page)
    assert lines, f"no commands found in docs/{page}"
    root = tmp_path / "root"
    work = tmp_path / "work"
    bin_dir = tmp_path / "bin"
    for directory in (root, work, bin_dir):
        directory.mkdir()
    moved = {path: f"{root}{path}" for path in MACHINE_PATHS}
    wrapper = bin_dir / "securebedrock"
    wrapper.write_text(
        _WRAPPER.format(
            python=sys.executable,
            anchor=f"{moved['/etc/securebedrock']}/trusted_keys.pem",
            policy=f"{moved['/etc/securebedrock']}/policy.toml",
            state=moved["/var/lib/securebedrock"],
        )
    )
    wrapper.chmod(0o755)
    (work / "policy.toml").write_text(policy_text(bedrock, mode))

    script = ["set -euo pipefail"]
    for line in lines:
        for path, replacement in moved.items():
            line = line.replace(path, replacement)
        script.append(f"echo '+ '{_quote(line)} >&2")
        script.append(line)
        script.append("echo ::ran::")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": os.environ["AWS_CONFIG_FILE"],
        "AWS_SHARED_CREDENTIALS_FILE": os.environ["AWS_SHARED_CREDENTIALS_FILE"],
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": bedrock.region,
        "AWS_ACCESS_KEY_ID": bedrock.access_key,
        "AWS_SECRET_ACCESS_KEY": bedrock.secret_key,
        "AWS_CA_BUNDLE": bedrock.ca_bundle,
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"docs/{page}:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.count("::ran::") == len(lines), done.stdout


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_commands_are_found() -> None:
    signing = commands("signing.md")
    assert (
        "securebedrock policy keygen --out-private org-policy.key --out-public org-policy.pub"
        in signing
    )
    assert any(line.startswith("install -m 0644 org-policy.pub") for line in signing)
    assert "securebedrock doctor" in commands("rollout.md")


def test_export_commands_are_found() -> None:
    export = commands("export.md")
    assert len(export) == 4
    assert any("--vpce-org-id o-a1b2c3d4e5" in line and "--minify" in line for line in export)
