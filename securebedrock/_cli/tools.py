"""``securebedrock tools validate``: check Cedar tool policies before they ship.

Exit status: 0 when every file parses (and validates against ``--schema``),
1 when any does not (each problem is printed as ``FILE:LINE:COLUMN: ...`` with
the offending line), or when the ``cedar`` extra is missing; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..tools import DEFAULT_GATEWAY, ToolPolicy, ToolPolicyError


def register(subparsers: Any) -> None:
    """Add the ``tools`` command and its ``validate`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tools",
        help="check Cedar policies for the tool-call gate",
        description="Work with the Cedar policies of securebedrock.tools.ToolGate "
        "(needs the 'cedar' extra).",
    )
    tools_subparsers = parser.add_subparsers(dest="tools_command", metavar="SUBCOMMAND")
    tools_subparsers.required = True

    validate = tools_subparsers.add_parser(
        "validate",
        help="parse Cedar policy files (and validate them against a schema)",
        description="Parse each Cedar policy FILE exactly as ToolPolicy.from_file does; with "
        "--schema, also validate it against the Cedar schema (entity types, actions, the "
        "shape of context.input). Problems are reported as FILE:LINE:COLUMN.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="Cedar policy file(s)")
    validate.add_argument(
        "--schema",
        metavar="SCHEMA",
        help="Cedar schema (Cedar syntax, or JSON when it ends in .json)",
    )
    validate.add_argument(
        "--gateway",
        default=None,
        metavar="ID",
        help="warn about policies naming another AgentCore::Gateway than ID "
        f"(the gate's gateway; its default is {DEFAULT_GATEWAY!r})",
    )
    validate.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            policy = ToolPolicy.from_file(path, schema_file=args.schema)
        except ToolPolicyError as exc:
            failed += 1
            print(f"securebedrock: error: {exc.diagnostics()}", file=sys.stderr)
            continue
        count = len(policy.policy_ids)
        checked = f", valid against {args.schema}" if args.schema else ""
        print(
            f"ok: {path}: {count} polic{'y' if count == 1 else 'ies'} "
            f"({', '.join(policy.policy_ids)}){checked}"
        )
        if args.gateway is not None:
            for line, named in policy._gateway_references():
                if named != args.gateway:
                    print(
                        f"warning: {path}:{line}: names AgentCore::Gateway {named!r}, not "
                        f"{args.gateway!r}: this policy never matches a call through that gate",
                        file=sys.stderr,
                    )
    if failed:
        print(f"securebedrock: {failed} of {len(args.files)} file(s) refused", file=sys.stderr)
        return 1
    return 0
