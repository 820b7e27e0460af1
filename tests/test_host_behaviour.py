"""How securebedrock behaves on a host: region variables, pipes, and logging.

- the region comes from ``region_name``, else botocore (``AWS_DEFAULT_REGION``,
  the config file), else ``AWS_REGION`` (what the other AWS SDKs read);
- ``securebedrock policy show | head`` ends quietly;
- the library's loggers carry a ``NullHandler``: an application that configured
  no logging gets no "would refuse" warnings on its stderr.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _user_process import isolated_env, run_python
from conftest import MODEL_ID

import securebedrock
from securebedrock._doctor import DoctorOptions, run_checks
from securebedrock.testing import EmbeddedBedrock

MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]


def without_region(server: EmbeddedBedrock) -> dict[str, str]:
    kwargs = server.client_kwargs()
    del kwargs["region_name"]
    return kwargs


def test_aws_region_is_read_when_botocore_finds_none(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with bedrock.org_policy():
        client = securebedrock.client(**without_region(bedrock))
    assert client.meta.region_name == "us-east-1"
    client.converse(modelId=MODEL_ID, messages=MESSAGES)  # SigV4 scope us-east-1 verified
    assert bedrock.requests[-1].status == 200


def test_aws_default_region_wins_as_in_boto3(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with bedrock.org_policy():
        client = securebedrock.client(**without_region(bedrock))
    assert client.meta.region_name == "us-east-1"


def test_an_explicit_region_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    client = securebedrock.client(
        region_name="us-west-2", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x"
    )
    assert client.meta.region_name == "us-west-2"


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_doctor_reads_both_region_variables(
    bedrock: EmbeddedBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "us-east-1")
    policy = tmp_path / "policy.toml"
    policy.write_text(bedrock.pin().to_toml())
    results = run_checks(DoctorOptions(policy_file=str(policy), ca_bundle=bedrock.ca_bundle))
    region = next(r for r in results if r.name == "region")
    assert (region.status, region.detail) == ("PASS", "us-east-1")


def test_policy_show_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "securebedrock", "policy", "show"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=isolated_env(tmp_path),
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first byte is written, like `| head`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert stderr == ""


_LOG_ONLY_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    import securebedrock
    from securebedrock import Policy, RegionsPolicy
    from securebedrock.testing import EmbeddedBedrock

    if sys.argv[1:] == ["configured"]:
        logging.basicConfig(level=logging.WARNING)
    refusing = Policy(mode="log_only", regions=RegionsPolicy(allowed=("eu-west-1",)))
    with EmbeddedBedrock() as server, server.org_policy(refusing):
        client = securebedrock.client(**server.client_kwargs())
        client.converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
        )
        assert len(server.requests) == 1
    print("sent")
    """
)


def test_log_only_warnings_stay_off_stderr_without_logging_configured(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(_LOG_ONLY_SCRIPT)
    quiet = run_python(tmp_path, str(script))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "sent" and quiet.stderr == ""
    # An application that configures logging still gets the records.
    configured = run_python(tmp_path, str(script), "configured")
    assert configured.returncode == 0, configured.stderr
    assert "region.not_allowed" in configured.stderr
