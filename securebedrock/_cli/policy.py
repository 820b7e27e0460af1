"""`securebedrock policy` (placeholder registration; replaced by its owner)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("policy", help="(not yet built)")
    parser.set_defaults(func=lambda args: 2)
