"""`securebedrock policy export` (placeholder registration; replaced by its owner)."""

from __future__ import annotations

from typing import Any


def register(policy_subparsers: Any) -> None:
    parser = policy_subparsers.add_parser("export", help="(not yet built)")
    parser.set_defaults(func=lambda args: 2)
