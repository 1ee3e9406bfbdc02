"""The recorder's writer: one unstorable exchange never costs the others of its batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowdiff.recorder.writer import BatchWriter, RecorderStats
from shadowdiff.store import Exchange, Store

pytestmark = pytest.mark.unit


def _exchange(path: str, status: int = 200) -> Exchange:
    return Exchange(method="GET", path=path, status=status, response_body=b"ok", started_at=1.0)


def _write_through_writer(db: Path, exchanges: list[Exchange]) -> RecorderStats:
    """Offer every exchange before the writer starts, so they land in one batch."""
    stats = RecorderStats()
    with Store.open(db) as store:
        session = store.create_session("s", source="proxy")
        writer = BatchWriter(store, session.id, lambda ex: ex, stats, batch_size=500)
        for ex in exchanges:
            writer.offer(ex)
        writer.start()
        writer.stop()
        assert not writer.is_alive()
    return stats


def test_an_unstorable_exchange_costs_no_other_exchange_of_its_batch(tmp_path: Path) -> None:
    """A status of 10**30 does not fit SQLite's INTEGER: the batch insert fails; the writer
    then stores the batch one exchange at a time and drops only that one, saying why."""
    good = [f"/g{i}" for i in range(20)]
    batch = [_exchange(p) for p in good[:10]]
    batch += [_exchange("/unstorable", status=10**30)]
    batch += [_exchange(p) for p in good[10:]]
    stats = _write_through_writer(tmp_path / "w.db", batch)
    assert (stats.stored, stats.dropped) == (20, 1)
    assert stats.last_error is not None
    assert "GET /unstorable" in stats.last_error and "OverflowError" in stats.last_error
    with Store.open(tmp_path / "w.db") as store:
        stored = list(store.iter_exchanges(store.session("s").id))
    assert [e.path for e in stored] == good
    assert [e.seq for e in stored] == list(range(1, 21))  # the dropped one left no gap


def test_several_unstorable_exchanges_are_each_counted(tmp_path: Path) -> None:
    batch = [_exchange(f"/{i}", status=10**30 if i % 3 == 0 else 200) for i in range(9)]
    stats = _write_through_writer(tmp_path / "w.db", batch)
    assert (stats.stored, stats.dropped, stats.errors) == (6, 3, 3)
    with Store.open(tmp_path / "w.db") as store:
        paths = [e.path for e in store.iter_exchanges(store.session("s").id)]
    assert paths == ["/1", "/2", "/4", "/5", "/7", "/8"]
