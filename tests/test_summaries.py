"""Report and gate summaries aggregate in SQL: on a run of thousands of exchanges they fetch
a few hundred rows through the store, and give the figures computed one exchange at a time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis.gate import evaluate
from shadowdiff.analysis.gate_result import GateLimits
from shadowdiff.analysis.latency import compare_latency, latency, percentiles
from shadowdiff.report.model import build_report
from shadowdiff.store import Store
from tests.stores import Answer, add_run, session

pytestmark = pytest.mark.unit

COUNT = 3000


def body(i: int) -> dict[str, Any]:
    return {"id": i, "items": [i, i + 1], "name": f"n{i % 9}"}


def new_side(i: int, old: dict[str, Any]) -> Answer:
    ms = random.Random(i).uniform(1, 50)
    if i % 500 == 7:
        return Answer(error="connect: refused", ms=ms)
    if i % 100 == 3:
        return Answer({**old, "name": "changed"}, ms=ms)
    return Answer(old, ms=ms)


def base_side(i: int, old: dict[str, Any]) -> Answer:
    return Answer(old, ms=random.Random(-i).uniform(1, 40))


@pytest.fixture(scope="module")
def db(tmp_path_factory: Any) -> Path:
    path = tmp_path_factory.mktemp("summaries") / "s.db"
    rng = random.Random(3)
    items = [(f"/things/{i}" if i % 3 else f"/other/{i}", body(i)) for i in range(COUNT)]
    with Store.open(path) as store:
        exchanges = session(store, items)
        for ex in exchanges:
            ex.duration_ms = rng.uniform(1, 60)
        store.db.conn.executemany(
            "UPDATE exchanges SET duration_ms = ? WHERE id = ?",
            [(ex.duration_ms, ex.id) for ex in exchanges],
        )
        store.db.conn.commit()
        add_run(store, exchanges, "r", new_side)
        add_run(store, exchanges, "b", new_side, base_side)
    return path


class _Counting:
    """Rows fetched through `store.db.execute`."""

    def __init__(self, store: Store) -> None:
        self.rows = 0
        self.execute = store.db.execute

    def __call__(self, sql: str, params: Any = None) -> Any:
        cursor = self.execute(sql, params) if params is not None else self.execute(sql)
        return _Cursor(cursor, self)


class _Cursor:
    def __init__(self, cursor: Any, counter: _Counting) -> None:
        self.cursor, self.counter = cursor, counter

    def __iter__(self) -> Iterator[Any]:
        for row in self.cursor:
            self.counter.rows += 1
            yield row

    def fetchone(self) -> Any:
        row = self.cursor.fetchone()
        self.counter.rows += row is not None
        return row

    def fetchall(self) -> list[Any]:
        rows = self.cursor.fetchall()
        self.counter.rows += len(rows)
        return rows


@pytest.mark.parametrize("run", ["r", "b"])
def test_report_and_gate_fetch_a_few_rows_of_a_large_run(db: Path, run: str) -> None:
    with Store.open(db, readonly=True) as store:
        counting = _Counting(store)
        store.db.execute = counting  # type: ignore[method-assign]
        report = build_report(store, run)
        reported = counting.rows
        result = evaluate(store, run, GateLimits(max_diff_rate=0.5, noise_adjusted=False))
        gated = counting.rows - reported
    assert report.run.compared == COUNT and report.run.different == COUNT // 100
    assert sum(e.errors for e in report.endpoints) == COUNT // 500
    assert sum(e.differing for e in result.endpoints) == COUNT // 100 + COUNT // 500
    assert sum(e.requests for e in result.endpoints) == COUNT
    # what a report or gate shows, not the run: differing exchanges are 1.2% of it
    assert reported < COUNT / 5, reported
    assert gated < COUNT / 5, gated


@pytest.mark.parametrize("run", ["r", "b"])
def test_latency_read_in_sql_is_the_percentiles_of_every_sample(db: Path, run: str) -> None:
    with Store.open(db, readonly=True) as store:
        r = store.run(run)
        baseline = store.baseline_of(r)
        got = compare_latency(store, r, baseline)
        samples = store.latency_samples(r.id, baseline.id if baseline else None)
    basis = "baseline" if baseline else "recorded"
    assert got.basis == basis
    old = [s.old_ms for s in samples if s.old_ms is not None]
    new = [s.new_ms for s in samples if s.new_ms is not None]
    assert got.overall == latency(old, new, basis)
    assert got.overall.new.count == COUNT - COUNT // 500
    for endpoint in {s.endpoint for s in samples}:
        mine = [s for s in samples if s.endpoint == endpoint]
        want = latency(
            [s.old_ms for s in mine if s.old_ms is not None],
            [s.new_ms for s in mine if s.new_ms is not None],
            basis,
        )
        assert got.of(endpoint) == want, endpoint
    assert percentiles([]).p50 is None
