"""`diff --jobs N`: worker processes over chunks of a run give the results of `--jobs 1`.

Diffs, diff_fields, rule_hits and agreement rows are compared row for row on the demo pair and
on its regression variant, with the preset and demo rules (tolerance paths) and with no rules
(every differing path learned), with chunks small enough that chunks learn different paths
and the recount step runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis import parallel
from shadowdiff.analysis.diffrun import diff_one_run, load_ruleset
from shadowdiff.analysis.sketch import CAPACITY, _label
from shadowdiff.analysis.volatile_policy import COUNT_ALL
from shadowdiff.differ import RuleSet
from shadowdiff.store import Store
from shadowdiff.store.chunkfiles import MAX_ATTACHED
from tests.conftest import run_cli
from tests.pipeline import DemoPipeline, RunPlan, Traffic, Variant
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
DEMO_RULES = ROOT / "shadowdiff" / "demo" / "rules.toml"
JOBS = Variant(
    "diff-jobs",
    traffic=(Traffic("jobs", count=300, seed=5),),
    runs=(
        RunPlan("port", baseline=True, diff=False),
        RunPlan("regressed", target="regression_server", diff=False),
    ),
)
TABLES = {
    "diffs": "SELECT * FROM diffs WHERE run_id = ? ORDER BY exchange_id",
    "diff_fields": "SELECT run_id, exchange_id, endpoint, part, path, general_path, kind, "
    "old_value, new_value, rule, change FROM diff_fields WHERE run_id = ? ORDER BY id",
    "rule_hits": "SELECT * FROM rule_hits WHERE run_id = ? ORDER BY rule",
    "agreement": "SELECT * FROM agreement WHERE run_id = ? ORDER BY endpoint, path, value_type",
    "findings": "SELECT * FROM findings WHERE run_id = ? ORDER BY finding_id, general_path, kind",
}


@pytest.fixture(scope="module")
def db(demo_pipeline: Callable[[Variant], DemoPipeline], tmp_path_factory: Any) -> Path:
    copy = tmp_path_factory.mktemp("jobs") / "jobs.db"
    shutil.copy(demo_pipeline(JOBS).db, copy)
    return copy


FIELD_IDS = "SELECT id FROM diff_fields WHERE run_id = ? ORDER BY id"


def snapshot(store: Store, run_id: int) -> dict[str, list[tuple[Any, ...]]]:
    return {name: store.db.execute(sql, [run_id]).fetchall() for name, sql in TABLES.items()}


def true_changes(db: Path, run_id: int, endpoint: str, path: str) -> Counter[tuple[str, str]]:
    with Store.open(db, readonly=True) as store:
        rows = store.db.execute(
            "SELECT old_value, new_value FROM diff_fields WHERE run_id = ? AND endpoint = ? "
            "AND general_path = ? AND kind = 'value' AND rule IS NULL",
            [run_id, endpoint, path],
        ).fetchall()
    return Counter((_label(json.loads(o)), _label(json.loads(n))) for o, n in rows)


def check_agreement(
    store_path: Path, run_id: int, got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]
) -> None:
    """Identical rows, but for the top changes of a label with more distinct changes than
    the Space-Saving summary holds: there every count is within its bound of the truth."""
    assert [g[:-1] for g in got] == [w[:-1] for w in want]
    for g, w in zip(got, want, strict=True):
        if g[-1] == w[-1]:
            continue
        _, endpoint, path, kind, _, compared, agreeing, *_ = g
        assert kind == "label"
        truth = true_changes(store_path, run_id, endpoint, path)
        changed = compared - agreeing
        assert sum(truth.values()) == changed and len(truth) > CAPACITY
        for old, new, count in json.loads(g[-1]):
            assert truth[(old, new)] <= count <= truth[(old, new)] + changed / CAPACITY


def rulesets() -> list[RuleSet]:
    return [RuleSet(), load_ruleset(DEMO_RULES)[0]]


# chunks of 41 exchanges: 8 chunk files, all attached; of 17: 18, more than SQLite attaches
# to a connection (MAX_ATTACHED), so the rest are copied row by row
CASES = [
    ("port", False, 41),
    ("port", True, 41),
    ("regressed", False, 41),
    ("regressed", True, 41),
    ("regressed", True, 17),
]


@pytest.mark.parametrize(("run_name", "preset", "size"), CASES)
def test_chunks_in_workers_store_what_one_process_stores(
    db: Path, run_name: str, preset: bool, size: int
) -> None:
    rules = rulesets()[preset]
    with Store.open(db) as store:
        run = store.run(run_name)
        one = diff_one_run(store, run, rules)
        expected = snapshot(store, run.id)
        field_ids = [r[0] for r in store.db.execute(FIELD_IDS, [run.id])]
        ids = store.replayed_in_order(run.id)
        chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
        if size < 41:
            assert len(chunks) > MAX_ATTACHED
        advanced: list[int] = []
        with parallel.worker_pool(store, rules, None, 2) as pool:
            queued = parallel.submit(store, run, pool, chunks)
            many = parallel.diff_parallel(store, run, rules, None, pool, advanced.append, queued)
        got = snapshot(store, run.id)
        store_ids = store.db.execute(FIELD_IDS, [run.id]).fetchall()
    assert expected["diffs"] and expected["agreement"], "nothing to compare"
    if run_name == "regressed" or not preset:
        assert one.different > 0
    if not preset:  # the framework's own headers differ on every endpoint: run-wide
        assert expected["findings"], "no run-wide finding to compare"
    for table in ("diffs", "diff_fields", "rule_hits", "findings"):
        assert got[table] == expected[table], table
    assert field_ids == [r[0] for r in store_ids], "the same diff_fields ids"
    check_agreement(store_path=db, run_id=run.id, got=got["agreement"], want=expected["agreement"])
    assert (many.total, many.same, many.different, many.errors) == (
        one.total,
        one.same,
        one.different,
        one.errors,
    )
    assert many.signatures == one.signatures and many.rule_hits == one.rule_hits
    assert sum(advanced) == len(ids) and len(advanced) == len(chunks)


def test_chunks_learn_differently_and_are_recounted(db: Path, tmp_path: Path) -> None:
    """The fixture above is only meaningful if small chunks disagree on learned paths."""
    with Store.open(db) as store:
        run = store.run("regressed")
        ids = store.replayed_in_order(run.id)
        job_outs = []
        parallel._init(str(db), RuleSet(), None)
        try:
            for i in range(0, len(ids), 41):
                out = str(tmp_path / f"chunk-{i}.db")
                job_outs.append(parallel._chunk(run.id, ids[i : i + 41], COUNT_ALL, out))
        finally:
            parallel._worker["store"].close()
    learned = [out.agreement.learned() for out in job_outs]
    assert any(a != learned[0] for a in learned[1:])


def test_cli_jobs_2_equals_jobs_1(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cli.db"
    shutil.copy(db, copy)
    results = []
    for jobs in ("1", "2"):
        done = run_cli("diff", "port", "--db", str(copy), "--jobs", jobs, "--no-preset")
        assert done.returncode == 0, done.stderr
        with Store.open(copy, readonly=True) as store:
            run = store.run("port")
            base = store.baseline_of(run)
            assert base is not None
            results.append([(r, snapshot(store, r)) for r in (run.id, base.id)])
    for (run_id, one), (_, two) in zip(*results, strict=True):
        assert one["diffs"], "both runs were diffed"
        for table in ("diffs", "diff_fields", "rule_hits"):
            assert two[table] == one[table], table
        check_agreement(copy, run_id, two["agreement"], one["agreement"])
    with Store.open(copy) as store:
        cand, based = parallel.diff_run_jobs(store, "port", RuleSet(), jobs=2, min_pairs=0)
    assert based is not None and cand.total == based.total == len(results[0][0][1]["diffs"])


def test_spec_results_of_workers_are_those_of_one_process(db: Path, tmp_path: Path) -> None:
    from shadowdiff.demo.fastapi_app import app
    from shadowdiff.openapi import load_spec

    spec_file = tmp_path / "openapi.json"
    spec_file.write_text(json.dumps(app.openapi()))
    spec = load_spec(str(spec_file))
    spec_tables = {
        "schema_findings": "SELECT * FROM schema_findings WHERE run_id = ? ORDER BY rowid",
        "spec_coverage": "SELECT * FROM spec_coverage WHERE run_id = ? ORDER BY endpoint",
        "diffs": TABLES["diffs"],
    }
    got = []
    with Store.open(db) as store:
        run = store.run("regressed")
        ids = store.replayed_in_order(run.id)
        chunks = [ids[i : i + 50] for i in range(0, len(ids), 50)]
        one = diff_one_run(store, run, RuleSet(), spec=spec)
        got.append({t: store.db.execute(q, [run.id]).fetchall() for t, q in spec_tables.items()})
        with parallel.worker_pool(store, RuleSet(), spec, 2) as pool:
            queued = parallel.submit(store, run, pool, chunks)
            many = parallel.diff_parallel(store, run, RuleSet(), spec, pool, None, queued)
        got.append({t: store.db.execute(q, [run.id]).fetchall() for t, q in spec_tables.items()})
    assert got[0]["spec_coverage"] and got[0]["diffs"]
    assert got[1] == got[0]
    assert one.spec is not None and many.spec is not None
    assert many.spec.lines() == one.spec.lines()


POOL_SCRIPT = """
import os, sys, time
from shadowdiff.analysis import parallel
from shadowdiff.differ import RuleSet
from shadowdiff.store import Store

if __name__ == "__main__":
    with Store.open(sys.argv[1]) as store, parallel.worker_pool(store, RuleSet(), None, 2) as w:
        pids = {w.executor.submit(os.getpid).result() for _ in range(4)}
        print(" ".join(map(str, sorted(pids))), flush=True)
        time.sleep(600)
"""


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie nobody reaps is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_end_when_their_diff_process_is_killed(db: Path, tmp_path: Path) -> None:
    """SIGKILL leaves the pool no chance to stop its workers: they see it, remove the
    pool's chunk folder and exit."""
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    tmp = tmp_path / "tmp"  # the pool's chunk folder goes here
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    pids: list[int] = []
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert pids and all(_running(p) for p in pids) and proc.pid not in pids
        proc.kill()
        proc.wait(timeout=10)
        assert [p.name for p in tmp.iterdir()][0].startswith("shadowdiff-diff-")
        wait_until(lambda: not any(_running(p) for p in pids), timeout=20, what="workers ended")
        assert list(tmp.iterdir()) == [], "the workers removed the chunk folder"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for pid in (p for p in pids if _running(p)):
            os.kill(pid, signal.SIGKILL)
