"""``securebedrock doctor``: preflight this host against the effective policy."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

from .. import _env
from .._doctor import CheckResult, DoctorOptions, run_checks
from ._options import add_policy_file

_COLOURS = {"PASS": "\033[32m", "WARN": "\033[33m", "FAIL": "\033[31m"}
_RESET = "\033[0m"


def register(subparsers: Any) -> None:
    """Add the ``doctor`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="check this host against the effective policy (PASS/WARN/FAIL, exit 1 on FAIL)",
        description=(
            "Preflight this host: the policy loads and verifies; the endpoint a client would "
            "use, where it came from, its DNS answers and a live TLS handshake with it; FIPS; "
            "proxies; the credential source (never the secret); API-key auth; the same "
            "endpoint checks for the control plane when profiles must be resolved; and whether "
            "the mandated guardrail and inference profiles exist. Exits 1 when any check FAILs."
        ),
    )
    parser.add_argument("--region", help="region to check (default: the AWS configuration's)")
    add_policy_file(
        parser,
        help="use FILE as the org policy file (default: the discovered one)",
        old_options=("--policy",),
    )
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="the endpoint_url your application passes (default: environment/config/policy)",
    )
    parser.add_argument(
        "--control-plane-endpoint-url",
        metavar="URL",
        help="the bedrock control-plane endpoint to check and use for the guardrail/profile "
        "look-ups (default: environment/config/policy network.control_plane_endpoint_url)",
    )
    parser.add_argument(
        "--ca-bundle",
        metavar="PATH",
        help="CA bundle your application passes as verify= (default: AWS_CA_BUNDLE/config)",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="network timeout, seconds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the checks, render them, exit 1 when any FAILs."""
    options = DoctorOptions(
        region=args.region,
        policy_file=args.policy_file,
        endpoint_url=args.endpoint_url,
        control_plane_endpoint_url=args.control_plane_endpoint_url,
        ca_bundle=args.ca_bundle,
        timeout=args.timeout,
    )
    results = run_checks(options)
    failed = any(result.status == "FAIL" for result in results)
    if args.json:
        payload = {
            "ok": not failed,
            "checks": [
                {"name": r.name, "status": r.status, "detail": r.detail, "fix": r.fix}
                for r in results
            ],
        }
        print(json.dumps(payload, indent=2))
    else:
        render_table(results, sys.stdout)
    return 1 if failed else 0


def _use_colour(stream: TextIO) -> bool:
    return stream.isatty() and not _env.no_color()


def render_table(results: Sequence[CheckResult], stream: TextIO) -> None:
    """A plain table: status, check, detail; the fix under each non-pass."""
    colour = _use_colour(stream)
    width = max((len(r.name) for r in results), default=5)
    for result in results:
        status = result.status
        shown = f"{_COLOURS[status]}{status}{_RESET}" if colour else status
        lines = textwrap.wrap(result.detail, 96 - width) or [""]
        stream.write(f"{shown}  {result.name:<{width}}  {lines[0]}\n")
        for line in lines[1:]:
            stream.write(f"{'':4}  {'':<{width}}  {line}\n")
        if result.fix and status != "PASS":
            for i, line in enumerate(textwrap.wrap(result.fix, 90 - width)):
                label = "fix: " if i == 0 else "     "
                stream.write(f"{'':4}  {'':<{width}}  {label}{line}\n")
    counts = {s: sum(1 for r in results if r.status == s) for s in ("PASS", "WARN", "FAIL")}
    stream.write(f"\n{counts['PASS']} passed, {counts['WARN']} warnings, {counts['FAIL']} failed\n")
