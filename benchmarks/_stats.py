"""Small, dependency-free statistics and timing helpers.

Every comparison interleaves the two sides in ABBA order (raw, secured,
secured, raw, ...) so that slow drift (CPU frequency, a warming cache, a noisy
neighbour) lands on both sides equally, and reports medians, which a single
garbage-collection pause or scheduler hiccup cannot move.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def median(values: Sequence[float]) -> float:
    """The median, or ``nan`` for no values (a figure that could not be measured)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    """A nearest-rank percentile (``fraction`` in 0..1), ``nan`` for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def time_each(action: Callable[[], object], count: int) -> list[float]:
    """Seconds taken by each of ``count`` calls of ``action``."""
    clock = time.perf_counter
    samples: list[float] = []
    append = samples.append
    for _ in range(count):
        start = clock()
        action()
        append(clock() - start)
    return samples


def time_each_with_cpu(action: Callable[[], object], count: int) -> tuple[list[float], list[float]]:
    """Wall seconds and this thread's CPU seconds taken by each of ``count`` calls.

    CPU time of the calling thread excludes the embedded server (other threads)
    and time spent waiting for the CPU, so it isolates the client's own cost
    even on a busy machine.
    """
    clock = time.perf_counter
    cpu = time.thread_time
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(count):
        start_cpu = cpu()
        start = clock()
        action()
        walls.append(clock() - start)
        cpus.append(cpu() - start_cpu)
    return walls, cpus


@dataclass(frozen=True, kw_only=True)
class Paired:
    """Per-round medians of two interleaved sides, and their per-round ratios (b / a)."""

    a_rounds: tuple[float, ...]
    b_rounds: tuple[float, ...]

    @property
    def ratios(self) -> tuple[float, ...]:
        return tuple(b / a for a, b in zip(self.a_rounds, self.b_rounds, strict=True) if a > 0)

    @property
    def ratio(self) -> float:
        """Median of the per-round ratios (each round pairs neighbouring batches)."""
        return median(self.ratios)

    @property
    def a(self) -> float:
        return median(self.a_rounds)

    @property
    def b(self) -> float:
        return median(self.b_rounds)


def interleave(a: Callable[[], float], b: Callable[[], float], *, rounds: int) -> Paired:
    """Run ``a`` and ``b`` (each returns one batch's figure) in ABBA order, ``rounds`` times.

    Round ``i`` runs ``a, b`` when ``i`` is even and ``b, a`` when odd, so an
    effect that grows over time is paid by each side in turn.
    """
    a_rounds: list[float] = []
    b_rounds: list[float] = []
    for index in range(rounds):
        if index % 2 == 0:
            a_rounds.append(a())
            b_rounds.append(b())
        else:
            b_rounds.append(b())
            a_rounds.append(a())
    return Paired(a_rounds=tuple(a_rounds), b_rounds=tuple(b_rounds))
