"""Answer times as the report shows them: the one comparison of `shadowdiff.analysis.latency`
(candidate vs baseline replay with a baseline run; else recorded vs replay, marked so)."""

from __future__ import annotations

from shadowdiff.analysis.latency import (
    BASIS_TEXT,
    Latency,
    LatencyBasis,
    Percentiles,
    RunLatency,
    compare_latency,
    latency,
    percentile,
    percentiles,
)

__all__ = [
    "BASIS_TEXT",
    "Latency",
    "LatencyBasis",
    "Percentiles",
    "RunLatency",
    "compare_latency",
    "latency",
    "percentile",
    "percentiles",
]
