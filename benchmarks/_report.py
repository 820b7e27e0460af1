"""Figures, targets, the printed table and the JSON report."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Comparison = Literal["<=", ">="]


@dataclass(frozen=True, kw_only=True)
class Target:
    """A bound a figure must hold (``value <= bound`` or ``>= bound``), and what we aim for."""

    comparison: Comparison
    bound: float
    aim: float | None = None

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value <= self.bound if self.comparison == "<=" else value >= self.bound

    def __str__(self) -> str:
        text = f"{self.comparison} {self.bound:g}"
        return f"{text} (aim {self.aim:g})" if self.aim is not None else text


@dataclass(frozen=True, kw_only=True)
class ClientCpu:
    """CPU time of the benchmark (client) process on each side of a comparison.

    Measured with ``time.thread_time`` (one calling thread) or
    ``time.process_time`` (several threads); the endpoint runs in another
    process, so this is the clients' own work only. It does not count time
    spent waiting for a CPU, so it is far steadier than wall time on a busy
    machine.
    """

    #: What one value is per: ``"us/call"``, ``"ms/stream"``, ``"ms/client"``.
    unit: str
    baseline: float
    secured: float

    @property
    def ratio(self) -> float:
        """``secured / baseline`` (``nan`` when the baseline is not positive)."""
        return self.secured / self.baseline if self.baseline > 0 else float("nan")

    def __str__(self) -> str:
        return f"{self.ratio:.3f} ({self.baseline:.4g} -> {self.secured:.4g} {self.unit})"


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One measured figure: its value against its target, with the numbers behind it."""

    key: str
    title: str
    unit: str
    target: Target | None
    value: float = float("nan")
    #: Client CPU per call (or stream, or client) on both sides, beside the wall-clock ratio.
    cpu: ClientCpu | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool | None:
        """``True``/``False`` against the target; ``None`` when there is no target or no value."""
        if self.error is not None:
            return False
        if self.target is None:
            return None
        return self.target.holds(self.value)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = None if self.target is None else asdict(self.target)
        out["target_text"] = "" if self.target is None else str(self.target)
        if self.cpu is None:
            out["cpu"] = None
        else:
            out["cpu"] = {**asdict(self.cpu), "ratio": self.cpu.ratio}
        out["value"] = None if math.isnan(self.value) else self.value
        out["ok"] = self.ok
        return out


def _format_value(figure: Figure) -> str:
    if figure.error is not None:
        return "error"
    if math.isnan(figure.value):
        return "n/a"
    if figure.unit == "ratio":
        return f"{figure.value:.3f}"
    if figure.unit == "us":
        return f"{figure.value:.1f} us"
    return f"{figure.value:.4g} {figure.unit}"


def _format_cpu(figure: Figure) -> str:
    return "" if figure.cpu is None or figure.error is not None else f"{figure.cpu.ratio:.3f}"


def render_table(figures: Sequence[Figure]) -> str:
    """A fixed-width table: figure, measured, target, verdict, client CPU ratio, the numbers."""
    rows = [("figure", "measured", "target", "ok", "CPU ratio", "detail")]
    for figure in figures:
        verdict = {True: "PASS", False: "FAIL", None: "-"}[figure.ok]
        detail = figure.error if figure.error is not None else figure.detail
        rows.append(
            (
                figure.title,
                _format_value(figure),
                str(figure.target or ""),
                verdict,
                _format_cpu(figure),
                detail,
            )
        )
    columns = len(rows[0]) - 1
    widths = [max(len(row[column]) for row in rows) for column in range(columns)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[column].ljust(widths[column]) for column in range(columns)]
        lines.append("  ".join(cells) + "  " + row[columns])
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 6)
    return "\n".join(lines)


def render_markdown(figures: Sequence[Figure], machine: dict[str, Any]) -> str:
    """The figures as a markdown table, with the machine they ran on (for docs/performance.md)."""
    lines = [
        "| figure | measured | target | verdict | client CPU ratio | detail |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for figure in figures:
        verdict = {True: "pass", False: "**FAIL**", None: "-"}[figure.ok]
        detail = figure.error if figure.error is not None else figure.detail
        target = str(figure.target or "").replace("<=", "&le;").replace(">=", "&ge;")
        lines.append(
            f"| {figure.title} | {_format_value(figure)} | {target} | {verdict} "
            f"| {_format_cpu(figure)} | {detail} |"
        )
    lines.append("")
    lines.append(
        f"Machine: {machine['nproc']} x {machine['cpu_model']}, Python {machine['python']}, "
        f"botocore {machine['botocore']}, urllib3 {machine['urllib3']}, "
        f"opentelemetry-sdk {machine['opentelemetry-sdk']}; the endpoint in its own process; "
        f"load average {machine.get('load_average_before')} before, "
        f"{machine.get('load_average_after')} after."
    )
    return "\n".join(lines)


def _clean(value: Any) -> Any:
    """JSON has no NaN: a figure that could not be measured is ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def write_json(
    path: str, *, figures: Sequence[Figure], machine: dict[str, Any], meta: dict[str, Any]
) -> None:
    """Write the report atomically (a reader never sees half a file)."""
    report = {
        "schema": 1,
        "machine": machine,
        **meta,
        "all_targets_hold": all(figure.ok is not False for figure in figures),
        "figures": [figure.to_json() for figure in figures],
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(_clean(report), handle, indent=2, sort_keys=False, allow_nan=False)
        handle.write("\n")
    os.replace(temporary, path)
