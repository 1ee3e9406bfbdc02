"""A huge replayed response is read up to --max-body, stored truncated and flagged; the
replay's memory stays far below the body's size and every other outcome is stored."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from shadowdiff.replayer.engine import ReplayConfig, replay
from shadowdiff.store import Store
from tests.conftest import assert_one_line_error
from tests.faults.replayservers import pattern_bytes, recorded, streaming_server

pytestmark = pytest.mark.e2e

BIG = 200 * 2**20


# A small parent that runs the replay and reports its peak RSS: measured in the test
# process itself, a child's ru_maxrss would start at the test process's own size (Linux
# carries the pre-exec high-water mark over exec).
MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write(f"{code} {peak}")
"""


def _replay_rss(db: Path, tmp: Path, *args: str) -> tuple[int, str, int]:
    """Run `shadowdiff replay ARGS`; its exit status, stdout and peak RSS in bytes."""
    report = tmp / "rss.txt"
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(report),
         sys.executable, "-m", "shadowdiff", "replay", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    code, peak_kib = (int(v) for v in report.read_text().split())
    return code, result.stdout, peak_kib * 1024


@pytest.mark.parametrize("max_body", [None, 100_000])
def test_a_200_mib_response_is_cut_at_max_body(tmp_path: Path, max_body: int | None) -> None:
    db = tmp_path / "cap.db"
    paths = ["/small/1", f"/big?n={BIG}", "/small/2", "/small/3"]
    recorded(db, [("GET", p) for p in paths])
    cap = max_body or 16 * 2**20
    with streaming_server() as server:
        extra = ["--max-body", str(max_body)] if max_body else []
        code, out, rss = _replay_rss(
            db, tmp_path, "--target", server.url, "--name", "cap", "-c", "2", *extra
        )
        assert code == 0, out
        assert "sent 4 of 4" in out and "1 responses cut at --max-body" in out
        assert server.streamed and server.streamed[0] < BIG  # it stopped reading
    assert rss < 150 * 2**20, f"peak RSS {rss / 2**20:.0f} MiB for a {BIG // 2**20} MiB body"
    with Store.open(db) as store:
        replays = {rp.exchange_id: rp for rp in store.iter_replays(store.run("cap").id)}
        exchanges = {ex.id: ex for ex in store.iter_exchanges(store.run("cap").session_id)}
        assert store.run("cap").status == "complete"
    by_path = {exchanges[i].url_path: rp for i, rp in replays.items()}
    assert len(by_path) == 4
    big = by_path[f"/big?n={BIG}"]
    assert big.flags == ["truncated"] and big.error is None and big.status == 200
    assert big.body == pattern_bytes(cap)
    for path in ("/small/1", "/small/2", "/small/3"):
        assert by_path[path].flags == [] and by_path[path].body == b'{"small": true}'


def test_an_outcome_the_store_refuses_is_stored_as_an_error_and_costs_no_other(
    tmp_path: Path,
) -> None:
    db = tmp_path / "refuse.db"
    big = "/big?n=300000&noise=1"  # does not compress: stored at its 300 kB
    recorded(db, [("GET", p) for p in ("/small/1", big, "/small/2")])
    with streaming_server() as server, Store.open(db) as store:
        # the store takes no value over 100 kB: the 300 kB body is refused, as SQLite
        # refuses one over 1 GB ("string or blob too big")
        store.db.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000)
        result = replay(store, ReplayConfig(target=server.url, session="s", name="refused"))
        assert (result.sent, result.failed) == (3, 0)
        outcomes = {rp.exchange_id: rp for rp in store.iter_replays(result.run.id)}
        paths = {ex.id: ex.url_path for ex in store.iter_exchanges(result.run.session_id)}
        assert store.run("refused").status == "complete"
    by_path = {paths[i]: rp for i, rp in outcomes.items()}
    assert len(by_path) == 3
    assert (by_path[big].error or "").startswith("store: DataError: ")
    assert by_path["/small/1"].body == by_path["/small/2"].body == b'{"small": true}'


def test_max_body_beyond_what_the_store_keeps_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    recorded(db, [("GET", "/x")])
    result = subprocess.run(
        [sys.executable, "-m", "shadowdiff", "replay", "--db", str(db), "--target",
         "http://127.0.0.1:9", "--max-body", str(2**30)],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert_one_line_error(result, "--max-body must be a byte count from 1 to")
