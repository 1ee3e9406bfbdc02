"""The one latency comparison the report, the gate and the `endpoint_summary` view share.

New is the run's replay. Old is, when the run has a paired baseline run, that run's replay of
the same exchange: measured alongside the candidate, like for like (basis ``baseline``).
Without one, old is the recorded answer (basis ``recorded``): captured sequentially through
the proxy, so it is not like for like with a concurrent replay, and says so. Only exchanges
whose replay and recording both succeeded count (``Store.latency_samples``; the percentiles are
read in SQL, ``Store.latency_ranks``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from shadowdiff.store import Run, Store

LatencyBasis = Literal["baseline", "recorded"]

BASIS_TEXT: Final[dict[str, str]] = {
    "baseline": "baseline run",
    "recorded": "recording",
}
#: What old and new are, for the heading of a latency table.
BASIS_NOTE: Final[dict[str, str]] = {
    "baseline": "old = the baseline replay of the old service, new = the candidate replay",
    "recorded": "old = recorded through the proxy, new = replayed (no baseline run: "
    "not like for like)",
}


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class Latency:
    """Old vs new answer times in milliseconds; ``basis`` says what old is (module docstring)."""

    old: Percentiles
    new: Percentiles
    p50_ratio: float | None  # new p50 / old p50
    basis: LatencyBasis = "recorded"

    @property
    def like_for_like(self) -> bool:
        return self.basis == "baseline"


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


def latency(
    old: Iterable[float], new: Iterable[float], basis: LatencyBasis = "recorded"
) -> Latency:
    o, n = percentiles(old), percentiles(new)
    ratio = n.p50 / o.p50 if o.p50 and n.p50 is not None else None
    return Latency(o, n, ratio, basis)


@dataclass(frozen=True)
class RunLatency:
    """A run's latency comparison: overall and per endpoint, on one basis."""

    basis: LatencyBasis
    overall: Latency
    endpoints: dict[str, Latency] = field(default_factory=dict)

    def of(self, endpoint: str) -> Latency:
        """One endpoint's comparison (empty when none of its exchanges was comparable)."""
        return self.endpoints.get(endpoint) or latency((), (), self.basis)


RANKS: Final = (50, 95, 99)


def compare_latency(store: Store, run: Run, baseline: Run | None) -> RunLatency:
    """The run's latency against its baseline run when given, else against the recording.
    The percentiles are read in SQL (`Store.latency_ranks`: only the values at the ranks
    they need), the same as `percentiles` of every sample."""
    basis: LatencyBasis = "baseline" if baseline is not None else "recorded"
    values: dict[tuple[str | None, str], dict[int, float]] = defaultdict(dict)
    counts: dict[tuple[str | None, str], int] = {}
    for ep, side, i, n, v in store.latency_ranks(
        run.id, baseline.id if baseline is not None else None, RANKS
    ):
        values[ep, side][i] = v
        counts[ep, side] = n

    def compared(ep: str | None) -> Latency:
        o, n = (_ranked(values[ep, side], counts.get((ep, side), 0)) for side in ("old", "new"))
        ratio = n.p50 / o.p50 if o.p50 and n.p50 is not None else None
        return Latency(o, n, ratio, basis)

    endpoints = sorted({ep for ep, _ in counts if ep is not None})
    return RunLatency(basis, compared(None), {ep: compared(ep) for ep in endpoints})


def _ranked(at: dict[int, float], count: int) -> Percentiles:
    """`percentiles` from the values at the sorted positions it reads."""

    def rank(p: float) -> float | None:
        if not count:
            return None
        k = (count - 1) * p / 100
        lo = math.floor(k)
        hi = min(lo + 1, count - 1)
        return at[lo] + (at[hi] - at[lo]) * (k - lo)

    return Percentiles(count, *(rank(p) for p in RANKS))
