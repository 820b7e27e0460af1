"""``securebedrock doctor``: a preflight of this host against the effective policy.

Each check is a small function that returns a :class:`CheckResult` (PASS,
WARN or FAIL, a one-line detail, and a fix for anything that is not a pass);
``run_checks`` runs them in order, sharing what earlier checks learnt (the
policy, the region, the endpoint) through a :class:`Context`. The checks live
by what they look at: the host's own configuration (``_doctor_local``), the
endpoint and connection a client would use (``_doctor_network``) and the control
plane (``_doctor_control_plane``). The CLI (``securebedrock._cli.doctor``) only
renders.

Network use is deliberately narrow: DNS for, and one TLS handshake with, the
endpoint a client would use (and the control-plane endpoint, when a rule needs
inference-profile routes), plus the control-plane ``GetGuardrail`` /
``GetInferenceProfile`` calls when a guardrail or profile is mandated. Nothing
here prints or returns a secret: credentials are described by their source only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ._doctor_base import CheckResult, Context, DoctorOptions, Status, _fail
from ._doctor_control_plane import (
    check_control_plane,
    check_guardrail,
    check_inference_profiles,
)
from ._doctor_local import check_credentials, check_policy, check_policy_files, check_region
from ._doctor_network import (
    check_client,
    check_dns,
    check_endpoint,
    check_fips,
    check_proxy,
    check_tls,
)

__all__ = ["CHECKS", "CheckResult", "Context", "DoctorOptions", "Status", "run_checks"]

#: The name :class:`Context` had when the checks lived in this module.
_Context = Context


CHECKS: tuple[Callable[[Context], Iterable[CheckResult]], ...] = (
    check_policy,
    check_policy_files,
    check_region,
    check_endpoint,
    check_dns,
    check_tls,
    check_fips,
    check_proxy,
    check_credentials,
    check_control_plane,
    check_guardrail,
    check_inference_profiles,
    check_client,
)


def run_checks(options: DoctorOptions | None = None) -> list[CheckResult]:
    """Run every check in order; a check that crashes is reported as a FAIL, never raised."""
    ctx = Context(options or DoctorOptions())
    results: list[CheckResult] = []
    for check in CHECKS:
        try:
            results.extend(check(ctx))
        except Exception as exc:  # a doctor reports, it does not crash
            name = check.__name__.removeprefix("check_")
            results.append(
                _fail(
                    name,
                    f"check crashed: {type(exc).__name__}: {exc}",
                    "report this as a securebedrock bug",
                )
            )
    return results
