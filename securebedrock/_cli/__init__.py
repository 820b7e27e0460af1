"""The ``securebedrock`` command line.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``func`` (``(argparse.Namespace) -> int``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._errors import SecureBedrockError
from . import demo, doctor, policy, tools

_COMMANDS = (demo, doctor, policy, tools)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="securebedrock",
        description="Policy-enforcing Amazon Bedrock runtime client: tools for operators.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in _COMMANDS:
        module.register(subparsers)
    return parser


#: Exit status when the reader of our output went away (``securebedrock policy show | head``):
#: what a shell reports for a process ended by SIGPIPE.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
    except SecureBedrockError as exc:
        print(f"securebedrock: error: {exc.diagnostics()}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader stopped reading: stop quietly, as Unix tools do, and point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
