"""Noise evidence pooled across endpoints (pure; used by ``shadowdiff.analysis.noise_measure``).

The per-endpoint counts of one (general path, kind) (``PathNoise``) are added up over the
endpoints where it differs in either run. An endpoint *dissents* when it alone has enough
samples (``min_samples`` in both runs) and its own counts fail the criterion: it keeps its own
verdict (not noise) and leaves the pool. The rest form the pool, judged by the criterion once
(``Evidence.meets``), so the minimum sample count applies to the pool, not to each endpoint: a
request-id header differing once on each of 30 endpoints is one piece of evidence with 30
samples, and becomes one rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final, Protocol

from shadowdiff.vocabulary import DiffKind

__all__ = ["NOISE_KINDS", "PRESENCE_KINDS", "Evidence", "PooledNoise", "pool_noise"]

PRESENCE_KINDS: Final = frozenset({DiffKind.MISSING, DiffKind.EXTRA})
# kinds that may be noise: value changes, and presence when old-vs-old shows it too
NOISE_KINDS: Final = frozenset({DiffKind.VALUE, DiffKind.HEADER, *PRESENCE_KINDS})


class Evidence(Protocol):
    """Counts of one (path, kind): per endpoint (``PathNoise``) or pooled."""

    @property
    def kind(self) -> str: ...
    @property
    def samples(self) -> int: ...
    @property
    def new_count(self) -> int: ...
    @property
    def baseline_samples(self) -> int: ...
    @property
    def old_count(self) -> int: ...


def rates(e: Evidence) -> tuple[float, float]:
    """(R, N): the shares differing old-vs-new and old-vs-old."""
    r = e.new_count / e.samples if e.samples else 0.0
    n = e.old_count / e.baseline_samples if e.baseline_samples else 0.0
    return r, n


def meets(e: Evidence, min_samples: int, ratio: float) -> bool:
    """The criterion: a kind that may be noise, at least `min_samples` in both runs, and
    N > 0 with N >= ratio x R."""
    if e.kind not in NOISE_KINDS or min(e.samples, e.baseline_samples) < min_samples:
        return False
    r, n = rates(e)
    return e.old_count > 0 and n >= ratio * r


class _Member(Evidence, Protocol):
    @property
    def endpoint(self) -> str: ...
    @property
    def path(self) -> str: ...


@dataclass(frozen=True)
class PooledNoise:
    """One (path, kind) over the endpoints that agree; `dissenting` keep their own verdict."""

    path: str
    kind: str
    endpoints: tuple[str, ...]  # pooled (not dissenting), sorted
    dissenting: tuple[str, ...]
    samples: int
    new_count: int
    baseline_samples: int
    old_count: int
    noise: bool  # the pool meets the criterion

    @property
    def r(self) -> float:
        return rates(self)[0]

    @property
    def n(self) -> float:
        return rates(self)[1]

    @property
    def evidence(self) -> str:
        scope = f"{len(self.endpoints)} endpoints"
        if self.dissenting:
            scope += f", {len(self.dissenting)} dissenting"
        return f"R={self.r:.2f} N={self.n:.2f} samples={self.samples} ({scope})"


def pool_noise(
    paths: Iterable[_Member], min_samples: int, ratio: float
) -> dict[tuple[str, str], PooledNoise]:
    """(path, kind) -> its pooled evidence and verdict (see the module docstring)."""
    by_key: dict[tuple[str, str], list[_Member]] = defaultdict(list)
    for p in paths:
        by_key[(p.path, p.kind)].append(p)
    out: dict[tuple[str, str], PooledNoise] = {}
    for (path, kind), members in by_key.items():
        dissent = [
            p
            for p in members
            if min(p.samples, p.baseline_samples) >= min_samples
            and not meets(p, min_samples, ratio)
        ]
        pooled = [p for p in members if p not in dissent]
        pool = PooledNoise(
            path,
            kind,
            tuple(sorted(p.endpoint for p in pooled)),
            tuple(sorted(p.endpoint for p in dissent)),
            samples=sum(p.samples for p in pooled),
            new_count=sum(p.new_count for p in pooled),
            baseline_samples=sum(p.baseline_samples for p in pooled),
            old_count=sum(p.old_count for p in pooled),
            noise=False,
        )
        out[(path, kind)] = replace(pool, noise=bool(pooled) and meets(pool, min_samples, ratio))
    return out
