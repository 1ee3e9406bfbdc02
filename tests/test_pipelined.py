"""`replay-diff` diffs while it replays (analysis/pipeline.py): a process follows the run.

On the real demo pair, the results the follower stores (diffs, field rows, rule hits,
agreement) are those `shadowdiff diff RUN` stores afterwards on the same replays, with a
baseline, after SIGINT (for what was answered), and a follower that dies leaves the replay's
data for `shadowdiff diff`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis.diffrun import diff_run, load_ruleset
from shadowdiff.analysis.pipeline import Follower
from shadowdiff.demo.servers import RunningServer
from shadowdiff.errors import AnalysisError
from shadowdiff.replayer.engine import Outcome, ReplayConfig, ReplayResult, replay
from shadowdiff.store import Store
from tests.conftest import SHADOWDIFF, run_cli
from tests.pipeline import DemoPipeline, Traffic, Variant
from tests.test_diff_jobs import check_agreement
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

DEMO_RULES = Path(__file__).resolve().parent.parent / "shadowdiff" / "demo" / "rules.toml"
RECORDED = Variant("pipelined", traffic=(Traffic("piped", count=400, seed=12),))
TABLES = {
    "diffs": "SELECT exchange_id, endpoint, verdict, signature, signature_text, n_fields, "
    "error_kind FROM diffs WHERE run_id = ? ORDER BY exchange_id",
    "diff_fields": "SELECT exchange_id, endpoint, part, path, general_path, kind, old_value, "
    "new_value, rule, change FROM diff_fields WHERE run_id = ? ORDER BY id",
    "findings": "SELECT finding_id, part, general_path, kind, text, endpoints, "
    "endpoints_with_field, exchanges, change FROM findings WHERE run_id = ? "
    "ORDER BY finding_id, part, general_path, kind",
    "rule_hits": "SELECT rule, kind, origin, reason, count FROM rule_hits WHERE run_id = ? "
    "ORDER BY rule",
    "agreement": "SELECT endpoint, path, value_type, rule, compared, agreeing, max_abs, "
    "max_rel, p50_abs, p99_abs, changes FROM agreement WHERE run_id = ? "
    "ORDER BY endpoint, path, value_type",
    "schema_findings": "SELECT exchange_id, endpoint, side, status, path, message "
    "FROM schema_findings WHERE run_id = ? ORDER BY rowid",
    "spec_coverage": "SELECT endpoint, operation, requests FROM spec_coverage WHERE run_id = ? "
    "ORDER BY endpoint, operation",
}


@pytest.fixture(scope="module")
def recorded(
    demo_pipeline: Callable[[Variant], DemoPipeline],
    fastapi_server: RunningServer,
    regression_server: RunningServer,
) -> DemoPipeline:
    built = demo_pipeline(RECORDED)
    urls = {"fastapi_server": fastapi_server.url, "regression_server": regression_server.url}
    return replace(built, targets=urls)


def copy_db(recorded: DemoPipeline, tmp_path: Path) -> Path:
    db = tmp_path / "piped.db"
    shutil.copy(recorded.db, db)
    return db


def snapshot(db: Path, run: str) -> dict[str, list[tuple[Any, ...]]]:
    with Store.open(db, readonly=True) as store:
        run_id = store.run(run).id
        return {name: store.db.execute(sql, [run_id]).fetchall() for name, sql in TABLES.items()}


def rediffed(db: Path, *runs: str, spec: tuple[str, ...] = ()) -> list[dict[str, list[Any]]]:
    """The tables of `runs` after `shadowdiff diff` (replay then diff) on a copy."""
    again = db.with_name("again.db")
    with sqlite3.connect(db) as source, sqlite3.connect(again) as copy:
        source.backup(copy)  # the -wal file's pages included
    done = run_cli("diff", runs[0], "--db", str(again), "--rules", str(DEMO_RULES), *spec)
    assert done.returncode == 0, done.stderr
    return [snapshot(again, run) for run in runs]


def run_names(db: Path) -> list[str]:
    with Store.open(db, readonly=True) as store:
        return [r.name for r in store.list_runs()]


def test_pipelined_equals_replay_then_diff_with_baseline(
    recorded: DemoPipeline, tmp_path: Path
) -> None:
    from shadowdiff.demo.fastapi_app import app

    db = copy_db(recorded, tmp_path)
    spec_file = tmp_path / "openapi.json"
    spec_file.write_text(json.dumps(app.openapi()))
    spec = ("--openapi", str(spec_file))
    done = run_cli(
        "replay-diff",
        *spec,
        "--db",
        str(db),
        "--target",
        recorded.targets["regression_server"],
        "--baseline",
        recorded.upstream,
        "--rules",
        str(DEMO_RULES),
        "-c",
        "8",
    )
    assert done.returncode == 0, done.stderr
    cand, base = run_names(db)[-2:]
    assert base == f"{cand}-baseline"
    got = [snapshot(db, cand), snapshot(db, base)]
    want = rediffed(db, cand, base, spec=spec)
    assert len(got[0]["diffs"]) == len(got[1]["diffs"]) == 400
    assert got[0]["diff_fields"] and got[0]["agreement"], "nothing to compare"
    assert got[0]["spec_coverage"], "diffed with the spec"
    assert any(row[2] == "different" for row in got[0]["diffs"])
    assert got == want
    assert f"run {cand}: 400 compared" in done.stdout


def test_pipelined_lockstep_diffs_the_primary_and_waits_for_its_answers(
    recorded: DemoPipeline, tmp_path: Path
) -> None:
    db = copy_db(recorded, tmp_path)
    done = run_cli(
        "replay-diff",
        "--db",
        str(db),
        "--primary",
        recorded.upstream,
        "--target",
        recorded.targets["regression_server"],
        "--secondary",
        recorded.targets["fastapi_server"],
        "--rules",
        str(DEMO_RULES),
        "-c",
        "8",
    )
    assert done.returncode == 0, done.stderr
    with Store.open(db, readonly=True) as store:
        cand = store.list_runs()[-3]
        assert cand.reference_run_id is not None
        primary = store.run(cand.reference_run_id)
        secondary = store.baseline_of(cand)
        assert secondary is not None and secondary.reference_run_id == primary.id
        names = (cand.name, secondary.name, primary.name)
    got = [snapshot(db, name) for name in names]
    want = rediffed(db, *names)
    assert [len(g["diffs"]) for g in got] == [400, 400, 400]
    assert got[0]["diff_fields"] and got[2]["diff_fields"], "nothing to compare"
    # the candidate's old side is the primary: no comparison is an error of a missing primary
    assert not any(str(row[6]).startswith("primary: missing") for row in got[0]["diffs"])
    assert got == want
    assert f"run {cand.name}: 400 compared" in done.stdout


def test_interrupted_replay_diff_stores_the_diffs_of_what_was_answered(
    recorded: DemoPipeline, tmp_path: Path
) -> None:
    db = copy_db(recorded, tmp_path)
    args = ["replay-diff", "--db", str(db), "--target", recorded.targets["fastapi_server"]]
    proc = subprocess.Popen(
        [*SHADOWDIFF, *args, "--rules", str(DEMO_RULES), "--rate", "100", "-c", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: stored_replays(db) >= 60, timeout=30, what="replays stored")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "--resume" in out
    run = run_names(db)[-1]
    got = snapshot(db, run)
    sent = stored_replays(db)
    assert 60 <= sent < 400
    assert len(got["diffs"]) == sent
    assert got == rediffed(db, run)[0]


def stored_replays(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM replays").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_a_dead_follower_is_a_clear_error_and_diff_finishes_the_job(
    recorded: DemoPipeline, tmp_path: Path
) -> None:
    db = copy_db(recorded, tmp_path)
    rules = load_ruleset(DEMO_RULES)[0]
    config = ReplayConfig(target=recorded.targets["fastapi_server"], concurrency=4)
    with Store.open(db) as store, Follower(db, rules, None) as follower:
        pid = follower.process.pid
        assert pid is not None

        def kill_it(outcome: Outcome) -> None:
            if follower.process.is_alive():
                os.kill(pid, signal.SIGKILL)
                follower.process.join(10)

        result = replay(store, config, progress=kill_it, on_work=follower.work)
        with pytest.raises(AnalysisError, match=r"diff process died .*shadowdiff diff RUN"):
            follower.finish(store)
        assert store.count_replays(result.run.id) == result.sent == 400
        cand, _ = diff_run(store, result.run.name, rules)
        assert cand.total == 400 and store.count_diffs(result.run.id) == 400


def test_the_rest_left_when_the_replay_ends_is_diffed_on_workers_with_the_same_results(
    recorded: DemoPipeline, tmp_path: Path
) -> None:
    """The follower runs at idle priority; it diffs its first page and is then held
    (SIGSTOP) until the replay ends, so the rest is left to the workers (analysis/tail.py)."""
    db = copy_db(recorded, tmp_path)
    rules = load_ruleset(DEMO_RULES)[0]
    config = ReplayConfig(
        target=recorded.targets["regression_server"], baseline=recorded.upstream, concurrency=4
    )
    with Store.open(db) as store, Follower(db, rules, None) as follower:
        pid = follower.process.pid
        assert pid is not None
        if hasattr(os, "SCHED_IDLE"):
            wait_until(lambda: os.sched_getscheduler(pid) == os.SCHED_IDLE, what="idle")
        result = replay_holding_the_follower(db, store, follower, config)
        os.kill(pid, signal.SIGCONT)
        diffed_by_follower = store_diffs(db)
        cand, base = follower.finish(store, jobs=2, parallel_min=1)
    assert cand.total == 400 and base is not None and base.total == 400
    assert 0 < diffed_by_follower < 800  # the workers diffed the rest
    runs = (result.run.name, base.run.name)
    got = [snapshot(db, run) for run in runs]
    assert any(row[2] == "different" for row in got[0]["diffs"])
    assert_same_results(db, runs, got)


def assert_same_results(db: Path, runs: tuple[str, ...], got: list[dict[str, Any]]) -> None:
    """`got` (the runs' tables) are those of `diff` on the same replays; as with `diff
    --jobs`, a label's top changes merged from chunks are within the Space-Saving bound."""
    want = rediffed(db, *runs)
    for run, mine, theirs in zip(runs, got, want, strict=True):
        with Store.open(db, readonly=True) as store:
            run_id = store.run(run).id
        ours, want_rows = (
            [(run_id, *row) for row in rows.pop("agreement")] for rows in (mine, theirs)
        )
        check_agreement(db, run_id, ours, want_rows)
        assert mine == theirs


def replay_holding_the_follower(
    db: Path, store: Store, follower: Follower, config: ReplayConfig
) -> ReplayResult:
    """Replay; once the follower diffed a first page, hold it (SIGSTOP)."""
    pid = follower.process.pid
    assert pid is not None
    seen: list[Outcome] = []

    def hold_after_a_page(outcome: Outcome) -> None:
        seen.append(outcome)
        if len(seen) == 300:  # a first batch of 256 is being stored: its page diffed
            wait_until(lambda: store_diffs(db) > 0, timeout=60, what="a page diffed")
            os.kill(pid, signal.SIGSTOP)

    return replay(store, config, progress=hold_after_a_page, on_work=follower.work)


def store_diffs(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM diffs").fetchone()[0])


def test_a_follower_that_does_not_hand_over_in_time_is_stopped_and_the_run_diffed_from_its_start(
    recorded: DemoPipeline, tmp_path: Path
) -> None:
    """Held (SIGSTOP) as an idle-priority process is when other processes take every core."""
    db = copy_db(recorded, tmp_path)
    rules = load_ruleset(DEMO_RULES)[0]
    config = ReplayConfig(target=recorded.targets["regression_server"], concurrency=4)
    with Store.open(db) as store, Follower(db, rules, None, handoff_seconds=1) as follower:
        result = replay_holding_the_follower(db, store, follower, config)
        cand, _ = follower.finish(store, jobs=2, parallel_min=1)
        assert not follower.process.is_alive()
    assert cand.total == 400
    assert_same_results(db, (result.run.name,), [snapshot(db, result.run.name)])
