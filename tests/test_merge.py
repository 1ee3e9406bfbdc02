"""`shadowdiff merge`: databases of shards and of recorders combined without id collisions.

Library tests build stores with the Store API; the end-to-end test replays two shards of a
recorded demo session (`replay --shard 1/2` and `2/2`, to the regression port) as two
processes at once, merges them, diffs the merged run and finds
the diffs and signatures of the same replay done by one process.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis.diffrun import diff_run
from shadowdiff.demo.servers import RunningServer
from shadowdiff.differ import RuleSet, load_preset
from shadowdiff.errors import MergeError, ReplayError
from shadowdiff.replayer.config import parse_shard
from shadowdiff.replayer.work import in_shard
from shadowdiff.store import Store
from tests.conftest import SHADOWDIFF, run_cli
from tests.pipeline import DemoPipeline, Traffic, Variant
from tests.stores import Answer, replayed_run, same, session

DEMO_RULES = Path(__file__).resolve().parent.parent / "shadowdiff" / "demo" / "rules.toml"
ITEMS = [(f"/items/{i}", {"id": i, "price": i * 1.5, "tag": "a"}) for i in range(40)]


def changed(_: int, body: dict[str, Any]) -> Answer:
    return Answer({**body, "tag": "b"} if body["id"] % 3 == 0 else body)


def recorded(path: Path, name: str = "s", items: list[Any] = ITEMS) -> list[Any]:
    with Store.open(path) as store:
        return session(store, items, name)


def rows(path: Path, run: str) -> tuple[list[tuple[Any, ...]], Counter[str]]:
    """A run's diffs by recorded seq, and its signature counts."""
    with Store.open(path, readonly=True) as store:
        diffs = store.db.execute(
            "SELECT e.seq, d.endpoint, d.verdict, d.signature, d.signature_text, d.n_fields "
            "FROM diffs d JOIN exchanges e ON e.id = d.exchange_id JOIN runs r ON r.id = "
            "d.run_id WHERE r.name = ? ORDER BY e.seq",
            [run],
        ).fetchall()
    return diffs, Counter(str(d[4]) for d in diffs if d[4])


@pytest.mark.unit
def test_distinct_sessions_and_runs_are_copied_with_their_results(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "out.db"
    for path, name in ((a, "one"), (b, "two")):
        exchanges = recorded(path, name)
        with Store.open(path) as store:
            replayed_run(store, exchanges, f"run-{name}", changed, base=same)
            diff_run(store, f"run-{name}", RuleSet())
    with Store.open(out) as store:
        summary = store.merge_from([a, b])
    assert summary.sessions_added == ["one", "two"] and summary.runs_unioned == []
    assert summary.exchanges == 2 * len(ITEMS)
    for path, name in ((a, "one"), (b, "two")):
        assert rows(out, f"run-{name}") == rows(path, f"run-{name}")
        assert rows(out, f"run-{name}")[1], "the results came along"
    with Store.open(out, readonly=True) as store:
        two = store.run("run-two")
        assert store.baseline_of(two) is not None
        assert store.baseline_of(two).name == "run-two-baseline"  # type: ignore[union-attr]
        assert store.session(two.session_id).name == "two"


@pytest.mark.unit
def test_shards_union_into_the_run_one_replay_makes(tmp_path: Path) -> None:
    whole, one, two, out = (tmp_path / f"{n}.db" for n in ("whole", "one", "two", "out"))
    exchanges = recorded(whole)
    shutil.copy(whole, one)
    shutil.copy(whole, two)
    for path, part in ((whole, exchanges), (one, exchanges[::2]), (two, exchanges[1::2])):
        with Store.open(path) as store:
            replayed_run(store, part, "cand", changed, base=same)
            diff_run(store, "cand", RuleSet())
    with Store.open(out) as store:
        summary = store.merge_from([one, two])
        assert summary.sessions_added == summary.sessions_shared == ["s"]
        assert summary.runs_unioned == ["cand", "cand-baseline"]
        assert store.count_replays(store.run("cand").id) == len(ITEMS)
        assert rows(out, "cand")[0] == [], "a unioned run's results are dropped"
        diff_run(store, "cand", RuleSet())
    assert rows(out, "cand") == rows(whole, "cand")
    assert rows(out, "cand-baseline") == rows(whole, "cand-baseline")


@pytest.mark.unit
def test_one_session_name_for_two_sessions_is_refused(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "out.db"
    recorded(a)
    recorded(b, items=ITEMS[:-1])
    with Store.open(out) as store:
        with pytest.raises(MergeError, match=r"session 's' in .*b\.db.*40 exchanges vs 39|39"):
            store.merge_from([a, b])
        assert [s.session.name for s in store.list_sessions()] == ["s"]  # a's stays, b's none
        assert store.db.execute("SELECT count(*) FROM exchanges").fetchone()[0] == len(ITEMS)


@pytest.mark.unit
def test_runs_of_one_name_with_other_rules_or_targets_are_refused(tmp_path: Path) -> None:
    a, b, c, out = (tmp_path / f"{n}.db" for n in ("a", "b", "c", "out"))
    exchanges = recorded(a)
    shutil.copy(a, b)
    shutil.copy(a, c)
    for path, rules in ((a, RuleSet()), (b, load_preset("flask-to-fastapi"))):
        with Store.open(path) as store:
            replayed_run(store, exchanges, "cand", changed)
            diff_run(store, "cand", rules)
    with Store.open(c) as store:
        run = store.create_run(
            exchanges[0].session_id, kind="candidate", target="http://x", name="cand"
        )
        store.finish_run(run.id)
    with (
        Store.open(out) as store,
        pytest.raises(MergeError, match="run 'cand' .*diffed under different rules"),
    ):
        store.merge_from([a, b])
    with Store.open(out) as store, pytest.raises(MergeError, match="run 'cand' .*http://x"):
        store.merge_from([c])


# ---------------------------------------------------------------------- end to end
SHARDED = Variant("merge-shards", traffic=(Traffic("shop", count=160, seed=9),))


def replay_cmd(db: Path, target: str, baseline: str, *select: str) -> list[str]:
    return [
        *SHADOWDIFF, "replay", "--db", str(db), "--target", target, "--baseline", baseline,
        "--name", "cand", "--session", "shop", *select,
    ]  # fmt: skip


@pytest.mark.e2e
def test_two_shard_processes_merge_into_the_single_process_run(
    demo_pipeline: Any, regression_server: RunningServer, tmp_path: Path
) -> None:
    pipeline: DemoPipeline = demo_pipeline(SHARDED)
    single, one, two, out = (tmp_path / f"{n}.db" for n in ("single", "one", "two", "out"))
    for path in (single, one, two):
        shutil.copy(pipeline.db, path)
    target, base = regression_server.url, pipeline.upstream
    shards = [
        subprocess.Popen(replay_cmd(one, target, base, "--shard", "1/2"), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        subprocess.Popen(replay_cmd(two, target, base, "--shard", "2/2"), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE),
    ]  # fmt: skip
    try:
        for shard in shards:
            _, err = shard.communicate(timeout=50)
            assert shard.returncode == 0, err
    finally:
        for shard in shards:
            if shard.poll() is None:
                shard.kill()
                shard.wait()
    done = subprocess.run(replay_cmd(single, target, base), capture_output=True, timeout=50)
    assert done.returncode == 0, done.stderr
    counts = [Store.open(p, readonly=True) for p in (one, two)]
    try:
        sizes = [s.count_replays(s.run("cand").id) for s in counts]
    finally:
        for s in counts:
            s.close()
    # the session split by client identity (the demo has few clients, whose redaction tokens
    # differ per database: uneven, and now and then all in one shard, which is fine)
    assert sum(sizes) == 160, sizes
    merged = run_cli("merge", str(out), str(one), str(two))
    assert merged.returncode == 0, merged.stderr
    assert "shadowdiff diff cand --db" in merged.stdout
    for path in (single, out):
        diffed = run_cli("diff", "cand", "--db", str(path), "--rules", str(DEMO_RULES))
        assert diffed.returncode == 0, diffed.stderr
    got, want = rows(out, "cand"), rows(single, "cand")
    assert len(got[0]) == 160 and got[1], "every exchange replayed once, differences found"
    assert [r[:3] for r in got[0]] == [r[:3] for r in want[0]]
    assert got == want
    # the baseline (old vs old) holds the old service's noise, which no two replays share
    assert [r[0] for r in rows(out, "cand-baseline")[0]] == [r[0] for r in want[0]]


@pytest.mark.e2e
def test_merge_refusal_is_one_line_exit_2(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "out.db"
    recorded(a)
    recorded(b, items=ITEMS[:3])
    done = run_cli("merge", str(out), str(a), str(b))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "session 's'" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists(), "a refused merge leaves no OUT"


@pytest.mark.unit
def test_shards_partition_a_session_by_client() -> None:
    seqs = range(1, 1001)
    shards = [[s for s in seqs if in_shard(f"client-{s}", f"{k}/3")] for k in (1, 2, 3)]
    assert sorted(s for shard in shards for s in shard) == list(seqs)
    assert all(250 < len(shard) < 420 for shard in shards)
    for bad in ("0/2", "3/2", "x", "1/0", "1/"):
        with pytest.raises(ReplayError, match="shard must be K/N"):
            parse_shard(bad)


@pytest.mark.e2e
def test_bad_shard_is_one_line_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    recorded(db)
    done = run_cli("replay", "--db", str(db), "--target", "http://127.0.0.1:9", "--shard", "3/2")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--shard must be K/N" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_a_shard_no_client_hashes_to_is_an_empty_run_not_an_error(tmp_path: Path) -> None:
    """One client: one of two shards holds nothing. A CI matrix job for it must pass (and
    its empty run merge), not stop the pipeline with exit 2."""
    db = tmp_path / "s.db"
    recorded(db)
    done = [
        run_cli("replay", "--db", str(db), "--target", "http://127.0.0.1:9", "--shard",
                f"{k}/2", "--name", f"shard-{k}", "--timeout", "2")
        for k in (1, 2)
    ]  # fmt: skip
    empty = [d for d in done if "holds no client of session 's'" in d.stderr]
    assert len(empty) == 1 and empty[0].returncode == 0, [d.stderr for d in done]
    assert "Traceback" not in empty[0].stderr
    # the other shard ran (every send refused by the closed port: failures, not a usage error)
    assert [d.returncode for d in done if d is not empty[0]] != [2]
    with Store.open(db, readonly=True) as store:
        sizes = sorted(store.count_replays(store.run(f"shard-{k}").id) for k in (1, 2))
    assert sizes == [0, len(ITEMS)]
