"""Answer times: percentiles of the recorded (old) and replayed (new) durations."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class Latency:
    """Recorded (old) vs replayed (new) answer times in milliseconds."""

    old: Percentiles
    new: Percentiles
    p50_ratio: float | None  # new p50 / old p50


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The p-th percentile with linear interpolation between ranks (numpy's default)."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def percentiles(values: Iterable[float]) -> Percentiles:
    ordered = sorted(values)
    return Percentiles(
        len(ordered), percentile(ordered, 50), percentile(ordered, 95), percentile(ordered, 99)
    )


def latency(old: Iterable[float], new: Iterable[float]) -> Latency:
    o, n = percentiles(old), percentiles(new)
    ratio = n.p50 / o.p50 if o.p50 and n.p50 is not None else None
    return Latency(o, n, ratio)
