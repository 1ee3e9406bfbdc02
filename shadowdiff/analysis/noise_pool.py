"""Noise evidence pooled across endpoints (pure; used by ``shadowdiff.analysis.noise_measure``).

The per-endpoint counts of one (general path, kind) (``PathNoise``) are added up over the
endpoints where it differs in either run. An endpoint *dissents* when it is clearly not
noise there: old-vs-old never differs at the path over at least ``min_samples`` exchanges
while old-vs-new differs at least ``min_samples`` times (a change of the port on that
endpoint). It keeps its own verdict (not noise) and leaves the pool. (A looser test, the
criterion on the endpoint's own few samples, would split real noise by chance: 6 of 8
against 2 of 8.) The rest form the pool, judged by the criterion once (``Evidence.meets``),
so the minimum sample count applies to the pool, not to each endpoint: a request-id header
differing once on each of 30 endpoints is one piece of evidence with 30 samples, and becomes
one rule. The two presence kinds of a path (``missing``, ``extra``) are one family,
``presence``: whether the field is there at all, counted once per exchange.

A presence family is noise only if, when old-vs-old shows the field coming and going both
ways, old-vs-new does too (``_both_ways``): a field the new service dropped (``missing`` only)
is a real difference even where the old service sends it only now and then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final, Protocol

from shadowdiff.vocabulary import DiffKind

__all__ = [
    "NOISE_KINDS",
    "PRESENCE",
    "PRESENCE_KINDS",
    "Evidence",
    "PooledNoise",
    "family",
    "meets",
    "pool_noise",
]

PRESENCE_KINDS: Final = frozenset({DiffKind.MISSING, DiffKind.EXTRA})
PRESENCE: Final = "presence"  # the family of missing and extra
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
    may = e.kind in NOISE_KINDS or e.kind == PRESENCE
    if not may or min(e.samples, e.baseline_samples) < min_samples:
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
    kind: str  # the family: a kind, or ``presence`` for missing and extra together
    kinds: tuple[str, ...]  # the kinds pooled
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


@dataclass(frozen=True)
class _Counts:
    """One endpoint's counts of a (path, family)."""

    endpoint: str
    kind: str
    samples: int
    new_count: int
    baseline_samples: int
    old_count: int


def family(kind: str) -> str:
    """``presence`` for ``missing`` and ``extra`` (one exchange has at most one of them at a
    path, so their counts add up); any other kind stands for itself."""
    return PRESENCE if kind in PRESENCE_KINDS else kind


def _per_endpoint(members: list[_Member], kind: str) -> list[_Counts]:
    by_ep: dict[str, list[_Member]] = defaultdict(list)
    for m in members:
        by_ep[m.endpoint].append(m)
    return [
        _Counts(
            ep,
            kind,
            max(m.samples for m in ms),
            sum(m.new_count for m in ms),
            max(m.baseline_samples for m in ms),
            sum(m.old_count for m in ms),
        )
        for ep, ms in sorted(by_ep.items())
    ]


def _dissents(c: _Counts, min_samples: int) -> bool:
    """Clearly not noise on this endpoint: the old service never differs from itself there
    (over at least `min_samples`) while the new one differs at least `min_samples` times."""
    return c.baseline_samples >= min_samples and not c.old_count and c.new_count >= min_samples


def _both_ways(members: list[_Member], min_samples: int) -> bool:
    """Presence noise must come and go both ways old-vs-new when it does old-vs-old: a field
    the old service sends now and then and the new one never sends (or always does) shows as
    `missing` (or `extra`) only, however often old-vs-old shows it. Judged once the pool has
    at least `min_samples` old-vs-new differences."""
    new = {k: sum(m.new_count for m in members if m.kind == k) for k in PRESENCE_KINDS}
    old = {k: sum(m.old_count for m in members if m.kind == k) for k in PRESENCE_KINDS}
    if sum(new.values()) < min_samples or not all(old.values()):
        return True
    return all(new.values())


def pool_noise(
    paths: Iterable[_Member], min_samples: int, ratio: float
) -> dict[tuple[str, str], PooledNoise]:
    """(path, kind) -> its pooled evidence and verdict (see the module docstring); the two
    presence kinds of a path share one pool."""
    by_key: dict[tuple[str, str], list[_Member]] = defaultdict(list)
    for p in paths:
        by_key[(p.path, family(p.kind))].append(p)
    out: dict[tuple[str, str], PooledNoise] = {}
    for (path, fam), members in by_key.items():
        counts = _per_endpoint(members, fam)
        dissent = [c for c in counts if _dissents(c, min_samples)]
        pooled = [c for c in counts if c not in dissent]
        pool = PooledNoise(
            path,
            fam,
            tuple(sorted({m.kind for m in members})),
            tuple(c.endpoint for c in pooled),
            tuple(c.endpoint for c in dissent),
            samples=sum(c.samples for c in pooled),
            new_count=sum(c.new_count for c in pooled),
            baseline_samples=sum(c.baseline_samples for c in pooled),
            old_count=sum(c.old_count for c in pooled),
            noise=False,
        )
        agree = {c.endpoint for c in pooled}
        ok = bool(pooled) and meets(pool, min_samples, ratio)
        if ok and fam == PRESENCE:
            ok = _both_ways([m for m in members if m.endpoint in agree], min_samples)
        pool = replace(pool, noise=ok)
        for kind in pool.kinds:
            out[(path, kind)] = pool
    return out
