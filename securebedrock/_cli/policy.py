"""``securebedrock policy``: keygen, sign, verify, validate, show, diff (and export, last).

Exit status: 0 on success, 1 when a policy or signature is refused (the error
text names the key, what was found and expected, and the fix), 2 for usage
errors (argparse). ``diff``: 1 when NEW loosens anything, 2 for an unusable file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .. import _discovery, _env, _policy_diff, _release, _signing, _trust
from .._constants import ENV_POLICY_PUBLIC_KEY, TRUSTED_KEYS_FILE
from .._errors import PolicyConfigError
from .._policy import Policy, policy_keys, toml_value
from . import _options
from ._options import add_policy_file, policy_file, policy_file_or_discovered

DEFAULT_PRIVATE_KEY = "policy-signing.key"
DEFAULT_PUBLIC_KEY = "policy-signing.pub"


def register(subparsers: Any) -> None:
    """Add the ``policy`` command and its subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "policy",
        help="validate, show, sign and verify policy files",
        description="Work with securebedrock policy files (TOML, version = 1).",
    )
    policy_subparsers = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    policy_subparsers.required = True

    keygen = policy_subparsers.add_parser(
        "keygen",
        help="create an Ed25519 key pair for signing policy files",
        description="Write a new Ed25519 private key (PKCS#8 PEM, mode 0600) and its public "
        "key (PEM). Existing files are never overwritten.",
    )
    keygen.add_argument(
        "--out-private",
        default=DEFAULT_PRIVATE_KEY,
        metavar="FILE",
        help=f"private key file (default: {DEFAULT_PRIVATE_KEY})",
    )
    keygen.add_argument(
        "--out-public",
        default=DEFAULT_PUBLIC_KEY,
        metavar="FILE",
        help=f"public key file (default: {DEFAULT_PUBLIC_KEY})",
    )
    keygen.set_defaults(func=_keygen)

    sign = policy_subparsers.add_parser(
        "sign",
        help="validate a policy file and write its detached signature FILE.sig",
        description="Validate FILE, then write FILE.sig: the base64 Ed25519 signature of "
        "the context string 'securebedrock-policy-v1' and FILE's exact bytes. An invalid or "
        "expired policy is never signed.",
    )
    add_policy_file(
        sign, help="policy file to sign (default: the discovered one)", old_positional=True
    )
    sign.add_argument(
        "--private-key",
        metavar="FILE",
        dest="private_key",
        help="PEM Ed25519 private key file (from `policy keygen`); required",
    )
    sign.add_argument(
        "--key",
        dest="private_key",
        metavar="FILE",
        action=_options.Deprecated,
        replacement="--private-key",
        help=argparse.SUPPRESS,
    )
    sign.set_defaults(func=_sign)

    verify = policy_subparsers.add_parser(
        "verify",
        help="check FILE.sig against a public key, and that FILE is a valid policy",
        description=f"Verify FILE.sig over FILE's bytes, then validate FILE and its "
        f"[release] expiry; say which key verified it and the signature's form. The public "
        f"key is PEM text or a PEM file path; default: the trust anchor "
        f"{TRUSTED_KEYS_FILE} when it exists, else ${ENV_POLICY_PUBLIC_KEY}.",
    )
    add_policy_file(
        verify, help="policy file to verify (default: the discovered one)", old_positional=True
    )
    verify.add_argument(
        "--public-key",
        metavar="PUBLIC_KEY",
        help=f"PEM public key file or text (default: the trust anchor, else "
        f"${ENV_POLICY_PUBLIC_KEY})",
    )
    verify.set_defaults(func=_verify)

    validate = policy_subparsers.add_parser(
        "validate",
        help="check that a policy file is valid (exit 0) or say why not (exit 1)",
        description="Validate the policy file's schema (default: the org policy file a client "
        "would discover). Signatures are checked by `policy verify`.",
    )
    add_policy_file(
        validate, help="policy file to validate (default: the discovered one)", old_positional=True
    )
    validate.set_defaults(func=_validate)

    show = policy_subparsers.add_parser(
        "show",
        help="print the effective policy of this host and where each value came from",
        description="Print the effective policy (defaults, org policy file, environment) "
        "with the source of every value. The org file is verified as a client would verify "
        "it.",
    )
    show.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    add_policy_file(
        show,
        help="use FILE as the org policy file instead of the discovered one",
        old_options=("--file",),
    )
    show.set_defaults(func=_show)

    diff = policy_subparsers.add_parser(
        "diff",
        help="list every key NEW changes from OLD, each marked tighten/loosen/neutral",
        description="Compare two policy files key by key. Each change is marked tighten "
        "(NEW refuses or mandates more), loosen (NEW may allow something OLD refused; "
        "changes that cannot be ordered, such as a different endpoint or guardrail "
        "version, count as loosen) or neutral. Exit status: 0 when nothing loosens, 1 when "
        "NEW loosens anything (so CI can require a second approver), 2 on a usage error or "
        "a file that is not a valid policy. Signatures are not checked.",
    )
    diff.add_argument("old", metavar="OLD", help="the policy file in force")
    diff.add_argument("new", metavar="NEW", help="the proposed policy file")
    diff.add_argument("--json", action="store_true", help="print JSON instead of text")
    diff.set_defaults(func=_diff)

    # `policy export` lives in its own module; it registers under this command.
    from . import export

    export.register(policy_subparsers)


def _keygen(args: argparse.Namespace) -> int:
    private_path = Path(args.out_private)
    public_path = Path(args.out_public)
    for path in (private_path, public_path):
        if path.exists():
            raise PolicyConfigError(
                "refusing to overwrite an existing key file",
                found=f"{path} exists",
                expected="a path that does not exist yet",
                fix="choose another --out-private/--out-public, or move the old key away",
            )
    private_pem, public_pem = _signing.generate_keypair()
    try:
        # Exclusive creates: a file that appeared since the check is never overwritten.
        _signing.write_private(private_path, private_pem)
    except OSError as exc:
        raise _write_error(private_path, exc) from None
    try:
        with open(public_path, "xb") as handle:
            handle.write(public_pem)
    except OSError as exc:
        # Leave no half pair behind: a private key without its public key is useless.
        private_path.unlink(missing_ok=True)
        raise _write_error(public_path, exc) from None
    print(f"private key: {private_path} (mode 0600; keep it secret, it signs org policy)")
    print(f"public key:  {public_path}")
    print(f"deploy with: {ENV_POLICY_PUBLIC_KEY}={public_path}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    if args.private_key is None:
        raise PolicyConfigError(
            "no private key to sign with",
            found="no --private-key",
            expected="a PEM Ed25519 private key file",
            fix="pass --private-key FILE (create one with `securebedrock policy keygen`)",
        )
    file_path = policy_file_or_discovered(args)
    data = _signing.read_bytes(file_path, "policy file")
    # Validate the very bytes that will be signed: a signature vouches for a usable policy.
    policy = Policy.from_bytes(data, source=str(file_path))
    _release.check_not_expired(policy.release, source=str(file_path))
    key = _signing.load_private_key(
        _signing.read_bytes(Path(args.private_key), "private key"), source=args.private_key
    )
    sig_path = _signing.signature_path(file_path)
    try:
        sig_path.write_bytes(_signing.sign(data, key))
    except OSError as exc:
        raise _write_error(sig_path, exc) from None
    print(
        f"signed: {file_path} -> {sig_path} ({_signing.FORM_CONTEXT} signature, key "
        f"{_trust.key_id(key.public_key())}, {_release_text(policy)}, policy digest "
        f"{policy.digest})"
    )
    return 0


def _release_text(policy: Policy) -> str:
    return policy.release.describe() if policy.release is not None else "no [release]"


def _verify_keys(args: argparse.Namespace) -> list[_trust.TrustedKey]:
    """--public-key, else the trust anchor when it exists, else the environment variable."""
    if args.public_key is not None:
        return [
            _trust.trusted(
                _signing.load_public_key(args.public_key, source="--public-key"), "--public-key"
            )
        ]
    anchor = _trust.anchor_path()
    if anchor is not None:
        return list(_trust.load_anchor(anchor))
    value = _env.setting(
        ENV_POLICY_PUBLIC_KEY, expected="a PEM Ed25519 public key, or the path of one"
    )
    if value is None:
        raise PolicyConfigError(
            "no public key to verify with",
            found=f"no --public-key, no trust anchor at {_trust.TRUSTED_KEYS_FILE}, and "
            f"{ENV_POLICY_PUBLIC_KEY} is not set",
            expected="a PEM Ed25519 public key (file or text)",
            fix=f"pass --public-key FILE or set {ENV_POLICY_PUBLIC_KEY}",
        )
    return [_trust.trusted(_signing.load_public_key(value), ENV_POLICY_PUBLIC_KEY)]


def _verify(args: argparse.Namespace) -> int:
    keys = _verify_keys(args)
    file_path = policy_file_or_discovered(args)
    data, verification = _signing.read_verified_by(
        file_path, keys, legacy=_signing.allow_legacy(_env.source())
    )
    policy = Policy.from_bytes(data, source=str(file_path))
    _release.check_not_expired(policy.release, source=str(file_path))
    signer = verification.describe() if verification is not None else "?"
    print(
        f"verified: {file_path} (signature good: {signer}; "
        f"{_release_text(policy)}; policy valid, digest {policy.digest})"
    )
    if verification is not None and verification.form != _signing.FORM_CONTEXT:
        print(
            "warning: legacy signature form: re-sign with "
            f"`securebedrock policy sign --policy-file {file_path} --private-key KEY`"
        )
    return 0


def _validate(args: argparse.Namespace) -> int:
    file_path = policy_file_or_discovered(args)
    policy = Policy.from_bytes(_signing.read_bytes(file_path, "policy file"), source=str(file_path))
    _release.check_not_expired(policy.release, source=str(file_path))
    print(
        f"valid: {file_path} (mode {policy.mode}, {_release_text(policy)}, digest {policy.digest})"
    )
    return 0


def _org_status(explanation: _discovery.Explanation) -> dict[str, Any]:
    """The release, the key that verified the org file, and the host's release mark."""
    policy = explanation.policy
    org = next((layer for layer in explanation.layers if layer.verification is not None), None)
    signature = org.verification.signature if org and org.verification else None
    serial = org.verification.serial if org and org.verification else None
    return {
        "release": policy.release.to_dict() if policy.release is not None else None,
        "signature": None
        if signature is None
        else {
            "key_id": signature.key_id,
            "key_source": signature.key_source,
            "form": signature.form,
        },
        "release_state": None
        if serial is None
        else {
            "state_file": str(serial.state_file),
            "highest_accepted": serial.highest,
            "recorded": serial.recorded,
            "note": serial.note,
        },
    }


def _show(args: argparse.Namespace) -> int:
    given = policy_file(args)
    explanation = _discovery.explain(file=str(given) if given is not None else None)
    policy = explanation.policy
    if args.json:
        document = {
            "digest": policy.digest,
            "layers": [layer.source for layer in explanation.layers],
            "policy": policy.to_dict(),
            "sources": dict(explanation.sources),
            **_org_status(explanation),
        }
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    print(f"# effective securebedrock policy (digest {policy.digest})")
    print("# layers: " + " -> ".join(layer.source for layer in explanation.layers))
    status = _org_status(explanation)
    print(f"# release: {_release_text(policy)}")
    signature = status["signature"]
    if signature is not None:
        print(
            f"# verified by: key {signature['key_id']} ({signature['key_source']}), "
            f"{signature['form']} signature"
        )
    elif any(layer.verification is not None for layer in explanation.layers):
        print("# verified by: nobody (no signature required on this host)")
    state = status["release_state"]
    if state is not None:
        recorded = "recorded" if state["recorded"] else f"not recorded: {state['note']}"
        print(
            f"# release state: highest serial accepted {state['highest_accepted']} "
            f"({state['state_file']}; {recorded})"
        )
    sources = explanation.sources
    current = ""
    for table, key, value in policy_keys(policy):
        if table != current:
            current = table
            print(f"\n[{table}]")
        source = sources.get(f"{table}.{key}" if table else key, "default")
        if value is None:
            print(f"# {key} not set: unrestricted  # {source}")
        else:
            print(f"{key} = {value}  # {source}")
    return 0


#: ``policy diff`` exit status when NEW loosens anything, and for an unusable input.
EXIT_LOOSENS = 1
EXIT_USAGE = 2


def _diff(args: argparse.Namespace) -> int:
    policies: list[Policy] = []
    for name in (args.old, args.new):
        try:
            path = Path(name)
            policies.append(
                Policy.from_bytes(_signing.read_bytes(path, "policy file"), source=name)
            )
        except PolicyConfigError as exc:
            print(f"securebedrock: error: {exc.diagnostics()}", file=sys.stderr)
            return EXIT_USAGE
    changes = _policy_diff.diff(policies[0], policies[1])
    loosens = any(change.direction == "loosen" for change in changes)
    if args.json:
        document = {
            "old": args.old,
            "new": args.new,
            "loosens": loosens,
            "changes": [
                {"key": c.key, "old": c.old, "new": c.new, "change": c.direction} for c in changes
            ],
        }
        print(json.dumps(document, indent=2, sort_keys=True))
        return EXIT_LOOSENS if loosens else 0
    for change in changes:
        old = "(absent)" if change.old is None else toml_value(change.old)
        new = "(absent)" if change.new is None else toml_value(change.new)
        print(f"{change.direction:<8} {change.key}: {old} -> {new}")
    counts = {d: sum(c.direction == d for c in changes) for d in ("tighten", "loosen", "neutral")}
    if not changes:
        print("no changes")
    else:
        verdict = "NEW loosens the policy" if loosens else "NEW does not loosen the policy"
        print(
            f"{len(changes)} changed: {counts['tighten']} tighten, {counts['loosen']} loosen, "
            f"{counts['neutral']} neutral; {verdict}"
        )
    return EXIT_LOOSENS if loosens else 0


def _write_error(path: Path, exc: OSError) -> PolicyConfigError:
    return PolicyConfigError(
        "cannot write the file",
        found=f"{path}: {exc.strerror or exc}",
        expected="a writable location",
        fix="check the directory exists and is writable",
    )
