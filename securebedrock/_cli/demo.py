"""``securebedrock demo``: a short offline tour on an embedded Bedrock endpoint."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import _env


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="a short offline tour: guardrail, streaming, a refused call, log-only, audit spans",
        description=(
            "Start an embedded Bedrock endpoint on loopback and walk through what securebedrock "
            "does: a compliant call with the mandated guardrail attached, a guardrail "
            "intervention, a streamed call, a refused cross-region call, the same call in "
            "log-only mode, and the audit spans. No AWS account, no network."
        ),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the tour on stdout (colour only on a terminal, and never with NO_COLOR)."""
    from .._demo import run_demo

    colour = sys.stdout.isatty() and not _env.no_color()
    return run_demo(sys.stdout, colour=colour)
