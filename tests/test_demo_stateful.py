"""`shadowdiff demo --stateful` end to end, as a user runs it: recorded through a real mitmdump
with the default redaction, replayed in lockstep with chains to fresh primary, secondary and
candidate instances; 0 false differences, the planted bug found, no secret in the files."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from shadowdiff.demo.accounts import PASSWORDS, TOKEN_PREFIX
from shadowdiff.demo.differences import REGRESSION_DROPPED_FIELD
from shadowdiff.demo.scenario import planned_count
from shadowdiff.store import Store
from shadowdiff.vocabulary import RunKind, Verdict
from tests.conftest import SHADOWDIFF, run_cli
from tests.test_demo_command import _left_running, _recorded, _tagged, demo_processes
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

ROUNDS = 2


def _files(folder: Path) -> bytes:
    """Every byte the demo left in its folder (database, WAL, report)."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _assert_no_secret(folder: Path) -> None:
    data = _files(folder)
    assert data, "the demo kept nothing"
    for password in PASSWORDS:
        assert password.encode() not in data, password
    # every token an instance issues starts with the prefix, whatever its key
    assert f"{TOKEN_PREFIX}.".encode() not in data


def test_stateful_demo_passes_with_no_false_difference(tmp_path: Path) -> None:
    out = tmp_path / "out"
    tag, env = _tagged()
    before = demo_processes(tag)
    result = run_cli(
        "demo", "--stateful", "--rounds", str(ROUNDS), "--keep", str(out),
        cwd=tmp_path, timeout=240, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert not _left_running(tag, before)
    assert "gate PASS" in result.stdout
    requests = planned_count(ROUNDS)
    with Store.open(out / "demo.db", readonly=True) as store:
        candidate = store.run("stateful")
        primary = store.primary_of(candidate)
        secondary = store.baseline_of(candidate)
        assert primary is not None and primary.kind == RunKind.PRIMARY
        assert secondary is not None
        assert store.count_exchanges(candidate.session_id) == requests
        for run in (candidate, secondary, primary):
            assert store.count_replays(run.id) == requests, run.name
            assert store.count_diffs(run.id, Verdict.DIFFERENT) == 0, run.name  # primary: drift
            assert store.count_diffs(run.id, Verdict.ERROR) == 0, run.name
            flags = [flag for rp in store.iter_replays(run.id) for flag in rp.flags]
            assert "unchained" not in flags and "unsupplied-secret" not in flags, run.name
            assert flags.count("chained") > 0, run.name
        statuses = {rp.status for rp in store.iter_replays(candidate.id)}
        assert {200, 201, 204, 401, 403, 404} <= statuses  # the scenario really ran
    assert f"requests recorded: {requests}" in result.stdout
    chains_line = next(line for line in result.stdout.splitlines() if line.startswith("chains: "))
    assert int(chains_line.split()[1].rstrip(",")) > 0 and int(chains_line.split()[2]) > 0
    assert f"differences: candidate vs primary on 0 of {requests}" in result.stdout
    assert f"drift: the primary differs from the recording on 0 of {requests}" in result.stdout
    assert "planted bug found" not in result.stdout
    assert "not as planned" not in result.stdout + result.stderr
    _assert_no_secret(out)
    # the lockstep report (primary, secondary and drift lines) fits 80 columns, nothing cut
    narrow = run_cli(
        "report", "stateful", "--db", str(out / "demo.db"),
        cwd=tmp_path, timeout=60, env={**env, "COLUMNS": "80"},
    )  # fmt: skip
    assert narrow.returncode == 0, narrow.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80, narrow.stdout
    assert "resembles the recording" in " ".join(narrow.stdout.replace("│", " ").split())


def test_stateful_demo_with_regression_fails_and_names_the_bug(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "demo", "--stateful", "--regression", "--rounds", str(ROUNDS), "--keep", str(out),
        cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-3000:]
    assert "gate FAIL" in result.stdout
    assert "planted bug found: regression-put-keeps-quantity" in result.stdout
    assert f"GET /items/{{uuid}} | body.{REGRESSION_DROPPED_FIELD}" in result.stdout
    with Store.open(out / "demo.db", readonly=True) as store:
        candidate = store.run("stateful")
        secondary = store.baseline_of(candidate)
        assert secondary is not None
        # only the lost update differs: each round's GET after the PUT, and its list
        assert store.count_diffs(candidate.id, Verdict.DIFFERENT) == 2 * 3 * ROUNDS
        assert store.count_diffs(secondary.id, Verdict.DIFFERENT) == 0
    _assert_no_secret(out)


def test_stateful_demo_flags(tmp_path: Path) -> None:
    both = run_cli("demo", "--stateful", "--requests", "50", cwd=tmp_path)
    alone = run_cli("demo", "--rounds", "2", cwd=tmp_path)
    for result, flag in ((both, "--requests"), (alone, "--rounds")):
        assert result.returncode == 2
        assert flag in result.stderr and "Traceback" not in result.stderr


def test_stateful_demo_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    tag, env = _tagged()
    before = demo_processes(tag)
    tmp = tmp_path / "tmp"  # the demo's temporary folders: recorder stats, instance states
    tmp.mkdir()
    proc = subprocess.Popen(
        [*SHADOWDIFF, "demo", "--stateful", "--rounds", "50"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp)},
    )
    try:
        # interrupt it while it records: Flask and the recorder up, the users sending
        wait_until(lambda: _recorded(tmp) > 0, timeout=60, what="exchanges recorded")
        assert len(demo_processes(tag) - before) >= 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "interrupted" in err
    assert not _left_running(tag, before)
    assert not list(tmp.glob("shadowdiff-demo-*-state-*"))  # every instance's state removed
