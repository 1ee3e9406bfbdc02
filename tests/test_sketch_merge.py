"""Merging agreement sketches (for `diff --jobs`): exact where exact, else within bounds."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from shadowdiff.analysis.sketch import CAPACITY, EXACT_LIMIT, ErrorSketch, TopChanges

pytestmark = pytest.mark.unit
QS = (0.01, 0.5, 0.9, 0.99, 1.0)


def sketch(values: list[float]) -> ErrorSketch:
    s = ErrorSketch()
    for v in values:
        s.add(v)
    return s


@pytest.mark.parametrize("n", [300, EXACT_LIMIT * 3])
def test_error_sketches_merge_to_the_sketch_of_all_values(n: int) -> None:
    rng = random.Random(n)
    values = [rng.choice([0.0, rng.expovariate(3.0), rng.uniform(0, 1e-3)]) for _ in range(n)]
    values += [float("inf")] * 3
    rng.shuffle(values)
    whole = sketch(values)
    parts = [sketch(values[i : i + n // 5]) for i in range(0, len(values), n // 5)]
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    assert (merged.count, merged.zeros, merged.infinite, merged.max) == (
        whole.count,
        whole.zeros,
        whole.infinite,
        whole.max,
    )
    assert merged.exact == whole.exact == (n <= EXACT_LIMIT)
    assert [merged.quantile(q) for q in QS] == [whole.quantile(q) for q in QS]


def test_top_changes_merge_exactly_under_capacity() -> None:
    pairs = [(f"o{i % 4}", f"n{i % 5}") for i in range(200)]  # 20 distinct changes
    a, b, whole = TopChanges(), TopChanges(), TopChanges()
    for i, (o, n) in enumerate(pairs):
        (a if i % 2 else b).add(o, n)
        whole.add(o, n)
    a.merge(b)
    assert a.top(CAPACITY) == whole.top(CAPACITY) and a.seen == 200


def test_top_changes_merged_past_capacity_stay_within_the_bound() -> None:
    rng = random.Random(4)
    pairs = [(f"o{min(int(rng.expovariate(0.05)), 300)}", "x") for _ in range(3000)]
    truth = Counter((o, n) for o, n in pairs)
    parts = [TopChanges() for _ in range(4)]
    for i, (o, n) in enumerate(pairs):
        parts[i % 4].add(o, n)
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    assert len(merged.counts) <= CAPACITY and merged.seen == len(pairs)
    bound = len(pairs) / CAPACITY
    for (o, n), count in merged.counts.items():
        assert truth[(o, n)] <= count <= truth[(o, n)] + bound
    for key, count in truth.items():
        if count > bound:
            assert key in merged.counts, key
