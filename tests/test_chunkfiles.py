"""Chunk files (`diff --jobs N`): rows handed over in SQLite files are stored exactly as
`replace_results` stores them; and the summaries' reads rewritten for speed (the counting
tally, the volatile values) give what the rows say.

Real SQLite files throughout; no process is started (the workers are tests/test_diff_jobs.py).
"""

from __future__ import annotations

import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis import parallel
from shadowdiff.differ import RuleSet
from shadowdiff.errors import AnalysisError, StoreError
from shadowdiff.store import DiffRow, FieldRow, RuleHitRow, Store
from shadowdiff.store.chunkfiles import MAX_ATTACHED, write_chunk_file
from shadowdiff.vocabulary import VOLATILE_MARK
from tests.stores import Answer, add_run, session

pytestmark = pytest.mark.unit

SNAPSHOT = {
    "diffs": "SELECT * FROM diffs WHERE run_id = ? ORDER BY rowid",
    "diff_fields": "SELECT * FROM diff_fields WHERE run_id = ? ORDER BY id",
    "rule_hits": "SELECT * FROM rule_hits WHERE run_id = ? ORDER BY rowid",
}


def _changed(i: int, body: dict[str, Any]) -> Answer:
    """Every third answer differs in two fields, every fifth in its list too."""
    out = dict(body)
    if i % 3 == 0:
        out["n"] = body["n"] + 1
        out["tag"] = "new"
    if i % 5 == 0:
        out["items"] = [*body["items"], i]
    return Answer(out)


def _unstable(i: int, body: dict[str, Any]) -> Answer:
    return Answer({**body, "n": body["n"] + 1}) if i % 4 == 0 else Answer(body)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "s.db") as s:
        items = [(f"/items/{i}", {"n": i, "tag": "old", "items": [1, 2]}) for i in range(90)]
        exchanges = session(s, items)
        add_run(s, exchanges, "cand", _changed, base=_unstable)
        yield s


def snapshot(store: Store, run_id: int) -> dict[str, list[tuple[Any, ...]]]:
    return {t: store.db.execute(q, [run_id]).fetchall() for t, q in SNAPSHOT.items()}


def stored_rows(store: Store, run_id: int) -> tuple[list[DiffRow], list[FieldRow]]:
    diffs = [DiffRow(*r) for r in snapshot(store, run_id)["diffs"]]
    fields = [FieldRow(*r[1:]) for r in snapshot(store, run_id)["diff_fields"]]
    return diffs, fields


def chunk_files(
    store: Store, run_id: int, folder: Path, chunks: int
) -> tuple[list[Path], list[RuleHitRow]]:
    """The run's stored rows cut into `chunks` files, by exchange, in order."""
    diffs, fields = stored_rows(store, run_id)
    size = -(-len(diffs) // chunks)
    paths = []
    for k in range(0, len(diffs), size):
        ids = {d.exchange_id for d in diffs[k : k + size]}
        path = folder / f"chunk-{k}.db"
        write_chunk_file(path, diffs[k : k + size], [f for f in fields if f.exchange_id in ids])
        paths.append(path)
    hits = [RuleHitRow(*r) for r in snapshot(store, run_id)["rule_hits"]]
    return paths, hits


@pytest.mark.parametrize("chunks", [4, MAX_ATTACHED + 3], ids=["attached", "beyond-attached"])
def test_chunk_files_store_what_replace_results_stores(
    store: Store, tmp_path: Path, chunks: int
) -> None:
    run = store.run("cand")
    before = snapshot(store, run.id)
    assert before["diff_fields"] and any(r[3] == "different" for r in before["diffs"])
    paths, hits = chunk_files(store, run.id, tmp_path, chunks)
    assert len(paths) == chunks
    store.replace_results_from_files(run.id, iter(paths), hits)
    assert snapshot(store, run.id) == before  # ids and row order included
    assert [r[1] for r in store.db.execute("PRAGMA database_list")] == ["main"]
    assert all(p.exists() for p in paths)  # the caller removes them


def test_chunk_files_appended_after_stored_rows_keep_their_order(
    store: Store, tmp_path: Path
) -> None:
    """A followed replay's rest (analysis/tail.py): the first chunk's rows are stored by
    the follower, the rest appended from more chunk files than SQLite attaches at once."""
    run = store.run("cand")
    before = snapshot(store, run.id)
    paths, _ = chunk_files(store, run.id, tmp_path, MAX_ATTACHED + 3)
    diffs, fields = stored_rows(store, run.id)
    first = {d.exchange_id for d in diffs[: -(-len(diffs) // len(paths))]}
    store.clear_results(run.id)
    store.append_results(
        [d for d in diffs if d.exchange_id in first], [f for f in fields if f.exchange_id in first]
    )
    store.append_results_from_files(iter(paths[1:]))
    after = snapshot(store, run.id)
    assert after["diffs"] == before["diffs"]
    assert [r[1:] for r in after["diff_fields"]] == [r[1:] for r in before["diff_fields"]]
    assert [r[1] for r in store.db.execute("PRAGMA database_list")] == ["main"]
    assert all(p.exists() for p in paths)  # the caller removes them


def test_a_chunk_that_never_comes_leaves_the_stored_results(store: Store, tmp_path: Path) -> None:
    run = store.run("cand")
    before = snapshot(store, run.id)
    paths, hits = chunk_files(store, run.id, tmp_path, 3)

    def dying() -> Iterator[Path]:
        yield paths[0]
        raise RuntimeError("a worker died")

    with pytest.raises(RuntimeError, match="a worker died"):
        store.replace_results_from_files(run.id, dying(), hits)
    assert snapshot(store, run.id) == before
    assert [r[1] for r in store.db.execute("PRAGMA database_list")] == ["main"]


def test_a_chunk_file_is_never_written_over(tmp_path: Path) -> None:
    path = tmp_path / "chunk.db"
    write_chunk_file(path, [], [])
    with pytest.raises(StoreError, match="exists already"):
        write_chunk_file(path, [], [])


@pytest.mark.parametrize("run_name", ["cand", "cand-baseline"])
def test_counting_tally_adds_up_iter_counting(store: Store, run_name: str) -> None:
    run = store.run(run_name)
    per_exchange = list(store.iter_counting(run.id))
    assert per_exchange, "the run has counting differences"
    left_out = {per_exchange[0][0], per_exchange[-1][0]}
    for excluded in (set(), left_out):
        want: Counter[tuple[str, str, str]] = Counter()
        for ex_id, endpoint, keys in per_exchange:
            if ex_id not in excluded:
                want.update((endpoint, path, kind) for path, kind in keys)
        assert store.counting_tally(run.id, excluded) == want


def test_a_chunk_file_that_cannot_be_written_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot write diff rows to .*--jobs 1"):
        write_chunk_file(tmp_path / "missing-folder" / "chunk.db", [], [])


def _tokens(i: int, body: dict[str, Any]) -> Answer:
    """Fresh ids (uuids, a long hex id) on every answer, a third one on every other."""
    out = {**body, "rid": str(uuid.UUID(int=i + 1)), "hash": f"{i + 1:020x}ab"}
    if i % 2:
        out["sid"] = str(uuid.UUID(int=10**6 + i))
    return Answer(out)


def test_volatile_values_are_counted_with_their_first_exchange(tmp_path: Path) -> None:
    with Store.open(tmp_path / "v.db") as store:
        old = {"rid": str(uuid.UUID(int=0)), "hash": f"{0:020x}cd", "sid": str(uuid.UUID(int=7))}
        bodies = [{"n": i, **old} for i in range(40)]
        names = ["alpha", "beta", "gamma", "alpha"]
        exchanges = session(store, [(f"/{names[i % 4]}", b) for i, b in enumerate(bodies)])
        add_run(store, exchanges, "vol", _tokens)  # no baseline: volatile values held
        run = store.run("vol")
        rows = store.db.execute(
            "SELECT endpoint, part, general_path, kind, old_value, new_value, exchange_id, id "
            "FROM diff_fields WHERE run_id = ? AND rule = ? ORDER BY exchange_id, id",
            [run.id, VOLATILE_MARK],
        ).fetchall()
        got = store.volatile_values(run.id)
    groups: dict[tuple[str, str, str, str], list[Any]] = {}
    for row in rows:
        groups.setdefault(tuple(row[:4]), []).append(row)
    assert len(groups) >= 3, "several volatile keys"
    want = sorted(
        ((*key, len(g), g[0][4], g[0][5], g[0][6]) for key, g in groups.items()),
        key=lambda r: (-r[4], r[0], r[2], r[1], r[3]),
    )
    assert [tuple(vars(v).values()) for v in got] == want


@pytest.mark.parametrize("run_name", ["cand", "cand-baseline"])
def test_counting_keys_are_iter_countings(store: Store, run_name: str) -> None:
    run = store.run(run_name)
    want = {(ep, path, kind) for _, ep, keys in store.iter_counting(run.id) for path, kind in keys}
    assert want and store.counting_keys(run.id) == want


def test_no_folder_for_chunk_files_is_an_analysis_error(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(AnalysisError, match="set TMPDIR .* --jobs 1"):
        parallel.worker_pool(store, RuleSet(), None, 2)
