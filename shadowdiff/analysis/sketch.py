"""Bounded summaries for agreement figures: error quantiles and the most frequent changes.

`ErrorSketch` summarises non-negative errors (|new - old|) in bounded memory. Count, sum and
maximum are exact. Quantiles (nearest rank: the value at rank ceil(q * count)) are exact while
at most `EXACT_LIMIT` values were added; past that the values move into a DDSketch-style log
histogram (Masson et al., VLDB 2019): a value x > 0 falls in bucket k = ceil(log(x) / log(g))
with g = (1 + a) / (1 - a), and a bucket is read back as 2 g^k / (g + 1), within a relative
error a = `RELATIVE_ACCURACY` (0.5%) of every value in it. At most `MAX_BUCKETS` buckets are
kept (a dynamic range of g^2048, about 8e8); beyond, the lowest two merge, which may only
coarsen the lowest quantiles, never p50/p99 unless the errors span more than that range.
Zeros and infinities (a NaN against a number) are counted apart, exactly.

`TopChanges` keeps the most frequent old -> new changes of a label with the Space-Saving
algorithm (Metwally et al., 2005): `CAPACITY` counters; once full, a new change takes the place
of the least counted one and inherits its count. A reported count is at most
(changes seen) / CAPACITY too high, and every change seen more often than that is kept.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Final

__all__ = ["CAPACITY", "EXACT_LIMIT", "MAX_BUCKETS", "ErrorSketch", "TopChanges"]

EXACT_LIMIT: Final = 2048
RELATIVE_ACCURACY: Final = 0.005
MAX_BUCKETS: Final = 2048
CAPACITY: Final = 32
MAX_LABEL_CHARS: Final = 60

_GAMMA: Final = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA: Final = math.log(_GAMMA)
_INF: Final = float("inf")


class ErrorSketch:
    """Non-negative errors: exact count, sum and max; quantiles exact up to EXACT_LIMIT
    values, then within RELATIVE_ACCURACY (see the module docstring)."""

    __slots__ = ("buckets", "count", "infinite", "max", "total", "values", "zeros")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.zeros = 0
        self.infinite = 0
        self.values: list[float] | None = []
        self.buckets: dict[int, int] = {}

    def add(self, x: float) -> None:
        self.count += 1
        if x > self.max:
            self.max = x
        if x == 0:
            self.zeros += 1
            return
        if x == _INF:
            self.infinite += 1
            return
        self.total += x
        values = self.values
        if values is not None:
            values.append(x)
            if len(values) > EXACT_LIMIT:
                self.values = None
                for v in values:
                    self._bucket(v)
            return
        self._bucket(x)

    def add_zeros(self, n: int) -> None:
        """Add `n` zero errors (equal values)."""
        self.count += n
        self.zeros += n

    def add_many(self, xs: list[float]) -> None:
        """Add non-zero errors in one go (the same as `add` for each, faster)."""
        if not xs:
            return
        top = max(xs)
        if top == _INF:
            for x in xs:
                self.add(x)
            return
        self.count += len(xs)
        self.total += math.fsum(xs)
        if top > self.max:
            self.max = top
        values = self.values
        if values is not None:
            values.extend(xs)
            if len(values) <= EXACT_LIMIT:
                return
            self.values = None
            xs = values
        log, ceil, lg = math.log, math.ceil, _LOG_GAMMA
        keys: Counter[int] = Counter(ceil(log(x) / lg) for x in xs)
        buckets = self.buckets
        for key, n in keys.items():
            buckets[key] = buckets.get(key, 0) + n
        self._collapse()

    def _bucket(self, x: float) -> None:
        key = math.ceil(math.log(x) / _LOG_GAMMA)
        buckets = self.buckets
        buckets[key] = buckets.get(key, 0) + 1
        self._collapse()

    def _collapse(self) -> None:
        """Merge the lowest buckets until at most MAX_BUCKETS are left."""
        buckets = self.buckets
        if len(buckets) > MAX_BUCKETS:
            low = sorted(buckets)[: len(buckets) - MAX_BUCKETS + 1]
            keep = low[-1]
            buckets[keep] += sum(buckets.pop(k) for k in low[:-1])

    def merge(self, other: ErrorSketch) -> None:
        """Add another sketch's values: count, sum, max, zeros and infinities exactly; the
        values stay exact while together at most EXACT_LIMIT, else both go to buckets (the
        same buckets adding them one by one gives, up to the MAX_BUCKETS collapse)."""
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        self.zeros += other.zeros
        self.infinite += other.infinite
        mine, theirs = self.values, other.values
        if mine is not None and theirs is not None and len(mine) + len(theirs) <= EXACT_LIMIT:
            mine.extend(theirs)
            return
        self.values = None
        buckets = self.buckets
        for key, n in other.buckets.items():
            buckets[key] = buckets.get(key, 0) + n
        for x in (*(mine or ()), *(theirs or ())):
            key = math.ceil(math.log(x) / _LOG_GAMMA)
            buckets[key] = buckets.get(key, 0) + 1
        self._collapse()

    @property
    def exact(self) -> bool:
        """Are the quantiles exact (no more than EXACT_LIMIT non-zero finite values)?"""
        return self.values is not None

    def quantile(self, q: float) -> float | None:
        """The value at rank ceil(q * count) (1-based, at least 1); None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        if rank <= self.zeros:
            return 0.0
        rank -= self.zeros
        finite = self.count - self.zeros - self.infinite
        if rank > finite:
            return _INF
        if self.values is not None:
            return sorted(self.values)[rank - 1]
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen >= rank:
                return min(2 * _GAMMA**key / (_GAMMA + 1), self.max)
        return self.max  # not reached: the buckets hold every finite non-zero value


def _label(value: object) -> str:
    text = value if isinstance(value, str) else repr(value).lower()
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


class TopChanges:
    """The most frequent (old, new) changes of a label, by Space-Saving in CAPACITY slots."""

    __slots__ = ("counts", "seen")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.seen = 0

    def add(self, old: object, new: object) -> None:
        self.seen += 1
        key = (_label(old), _label(new))
        counts = self.counts
        n = counts.get(key)
        if n is not None:
            counts[key] = n + 1
        elif len(counts) < CAPACITY:
            counts[key] = 1
        else:
            least = min(counts, key=counts.__getitem__)
            counts[key] = counts.pop(least) + 1

    def merge(self, other: TopChanges) -> None:
        """Add another summary's changes (Agarwal et al., 2012): a change one summary lacks
        counts that summary's least count when it is full (an upper bound, as in
        Space-Saving), then the CAPACITY largest are kept. Exact while neither summary was
        full and together they hold at most CAPACITY changes; otherwise every count stays
        an upper bound at most (changes seen) / CAPACITY too high."""
        fill = min(self.counts.values()) if len(self.counts) >= CAPACITY else 0
        other_fill = min(other.counts.values()) if len(other.counts) >= CAPACITY else 0
        merged = {
            key: self.counts.get(key, fill) + other.counts.get(key, other_fill)
            for key in (*self.counts, *other.counts)
        }
        if len(merged) > CAPACITY:
            ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:CAPACITY]
            merged = dict(ranked)
        self.counts = merged
        self.seen += other.seen

    def top(self, n: int) -> list[tuple[str, str, int]]:
        """The `n` most frequent changes, most first (ties by text)."""
        ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(old, new, count) for (old, new), count in ranked[:n]]
