"""--only/--exclude are compiled once and searched with a time budget: a pattern that
backtracks without end never hangs a replay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shadowdiff.store import Store
from shadowdiff.store.exchanges import MAX_PATTERN_TIMEOUTS
from tests.conftest import assert_one_line_error
from tests.faults.replayservers import counting_server, recorded

pytestmark = pytest.mark.e2e

EVIL = "(a|aa)+$"  # backtracks exponentially in `re` and in `regex` alike
LONG = "/" + "a" * 5000 + "b"


def _replay(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shadowdiff", "replay", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("option", ["--only", "--exclude"])
def test_a_backtracking_filter_leaves_out_what_it_cannot_decide(
    tmp_path: Path, option: str
) -> None:
    db = tmp_path / "p.db"
    recorded(db, [("GET", "/x/a"), ("GET", LONG), ("GET", "/x/b")])
    with counting_server(delay=0) as server:
        result = _replay(db, "--target", server.url, option, EVIL, "--name", "p")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "left out 1 requests: the --only/--exclude regex took too long" in text
    # a timed-out search never replays: not matched by --only, excluded by --exclude
    expected = ["/x/a"] if option == "--only" else ["/x/b"]
    assert sorted(server.received) == expected
    with Store.open(db) as store:
        assert store.run("p").status == "complete"


def test_a_filter_too_slow_on_many_requests_is_refused_before_sending(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    recorded(db, [("GET", LONG + str(i)) for i in range(MAX_PATTERN_TIMEOUTS + 5)])
    with counting_server(delay=0) as server:
        result = _replay(db, "--target", server.url, "--only", EVIL)
    assert_one_line_error(result, "took over", "simplify the --only/--exclude regex")
    assert not server.received
    with Store.open(db) as store:
        assert store.list_runs() == []


def test_a_bad_filter_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    recorded(db, [("GET", "/x")])
    result = _replay(db, "--target", "http://127.0.0.1:9", "--exclude", "(unclosed")
    assert_one_line_error(result, "--exclude", "not a valid regular expression")
    with Store.open(db) as store:
        assert store.list_runs() == []
