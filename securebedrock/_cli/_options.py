"""Options every subcommand spells the same way.

``--policy-file FILE`` names a policy file wherever one is taken (default: the org policy
file a client would discover); ``--private-key``/``--public-key`` name signing keys.
Older spellings are still accepted for one release, with a warning on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import _discovery
from .._errors import PolicyConfigError

POLICY_FILE_HELP = "policy file (default: the org policy file a client would discover)"


class Deprecated(argparse.Action):
    """Stores like ``store`` and says, once per use, which spelling replaces it."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self.replacement: str = kwargs.pop("replacement")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if values is None:
            # argparse calls a positional's action even when it was left out (nargs="?").
            return
        old = option_string or "a positional FILE"
        print(
            f"securebedrock: warning: {old} is deprecated and will be removed in the next "
            f"release; use {self.replacement}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_policy_file(
    parser: argparse.ArgumentParser,
    *,
    help: str = POLICY_FILE_HELP,  # noqa: A002 - argparse's own name
    old_options: Sequence[str] = (),
    old_positional: bool = False,
) -> None:
    """``--policy-file FILE`` (dest ``policy_file``), plus hidden deprecated spellings."""
    parser.add_argument("--policy-file", metavar="FILE", dest="policy_file", help=help)
    if old_options:
        parser.add_argument(
            *old_options,
            dest="policy_file",
            metavar="FILE",
            action=Deprecated,
            replacement="--policy-file",
            help=argparse.SUPPRESS,
        )
    if old_positional:
        parser.add_argument(
            "legacy_file",
            nargs="?",
            metavar="FILE",
            action=Deprecated,
            replacement="--policy-file FILE",
            help=argparse.SUPPRESS,
        )


def policy_file(args: argparse.Namespace) -> Path | None:
    """The file the command was given (``--policy-file`` or a deprecated spelling), or None."""
    chosen = getattr(args, "policy_file", None)
    legacy = getattr(args, "legacy_file", None)
    if chosen is not None and legacy is not None and chosen != legacy:
        raise PolicyConfigError(
            "two different policy files given",
            found=f"--policy-file {chosen} and FILE {legacy}",
            expected="one policy file",
            fix="pass only --policy-file FILE",
        )
    value = chosen if chosen is not None else legacy
    return Path(value) if value is not None else None


def policy_file_or_discovered(args: argparse.Namespace) -> Path:
    """The file the command was given, else the org policy file a client would discover."""
    given = policy_file(args)
    if given is not None:
        return given
    discovered = _discovery.org_policy_path()
    if discovered is None:
        raise PolicyConfigError(
            "no policy file given and none discovered",
            found="no --policy-file, SECUREBEDROCK_POLICY_FILE unset, and no org policy file "
            "at the default path",
            expected="a policy file",
            fix="pass --policy-file FILE, or set SECUREBEDROCK_POLICY_FILE",
        )
    return discovered
