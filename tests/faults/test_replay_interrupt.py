"""A replay stopped by SIGINT/SIGTERM stores what it got and says how to resume; a replay
killed outright says, on resume, how many requests it may send again."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shadowdiff.replayer.writer import CLAIM_AHEAD
from shadowdiff.store import Store
from tests.faults.replayservers import counting_server, recorded, stored_outcomes
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

SHADOWDIFF = [sys.executable, "-m", "shadowdiff"]
TOTAL = 400


def _start(db: Path, target: str, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        # --order none: the requests go 4 at a time (one recorded client would go one by one)
        [*SHADOWDIFF, "replay", "--db", str(db), "--target", target, "-c", "4", "--order", "none"]
        + ["--name", name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str, str]:
    try:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stores_every_answer_and_prints_the_resume_command(
    tmp_path: Path, sig: int, code: int
) -> None:
    db = tmp_path / "sig.db"
    recorded(db, [("POST", f"/item/{i}") for i in range(TOTAL)])
    with counting_server(delay=0.05) as server:
        proc = _start(db, server.url, "sig")
        wait_until(lambda: stored_outcomes(db, "sig") >= 20, timeout=60, what="outcomes stored")
        returncode, out, err = _stop(proc, sig)
        assert returncode == code, (out, err)
        assert "Traceback" not in err and "Aborted" not in err, err
        wait_until(lambda: server.in_flight == 0, what="the server answered all it got")
        with Store.open(db) as store:
            run = store.run("sig")
            assert run.status == "interrupted"
            stored = len(store.replayed_ids(run.id))
        # every request the server answered is stored: a resume sends none of them again
        assert stored == server.answered == sum(server.received.values()) < TOTAL
        command = next(line for line in out.splitlines() if "--resume" in line)
        assert command == f"shadowdiff replay --db {db} --resume sig"

        args = shlex.split(command)[1:]
        resumed = subprocess.run([*SHADOWDIFF, *args], capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert f"sent {TOTAL - stored} of {TOTAL}" in resumed.stdout
        assert "may have handled" not in resumed.stdout  # nothing was in flight
    with Store.open(db) as store:
        run = store.run("sig")
        assert run.status == "complete"
        assert len(store.replayed_ids(run.id)) == TOTAL
    # each request reached the server exactly once over both processes
    assert sorted(server.received.values()) == [1] * TOTAL


def test_resume_after_kill_9_says_what_it_may_send_again(tmp_path: Path) -> None:
    db = tmp_path / "kill.db"
    recorded(db, [("POST" if i % 2 else "GET", f"/item/{i}") for i in range(TOTAL)])
    with counting_server(delay=0.05) as server:
        proc = _start(db, server.url, "killed")
        wait_until(lambda: stored_outcomes(db, "killed") >= 20, timeout=60, what="stored")
        _stop(proc, signal.SIGKILL)
        wait_until(lambda: server.in_flight == 0, what="the server finished what it got")
        with Store.open(db) as store:
            run = store.run("killed")
            assert run.status == "running"
            stored = len(store.replayed_ids(run.id))
        assert sum(server.received.values()) > stored  # some handled, never stored
        resumed = subprocess.run(
            [*SHADOWDIFF, "replay", "--db", str(db), "--resume", "killed"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
    # what the target got twice: requests it had received that the run had not stored
    again = sorted(p for p, n in server.received.items() if n > 1)
    assert again  # the requests it had in flight at least
    text = " ".join(resumed.stdout.split())
    line = next(ln for ln in text.split("resume: ")[1:])
    said = int(line.split("up to ")[1].split()[0])
    # the warning covers every request sent twice, and over-counts by at most a claim step
    assert len(again) <= said <= len(again) + CLAIM_AHEAD + 4
    posts = int(line.split("non-idempotent among them: ")[1].split()[0])
    assert posts >= sum(1 for p in again if int(p.rsplit("/", 1)[1]) % 2)
    with Store.open(db) as store:
        assert store.run("killed").status == "complete"
        assert len(store.replayed_ids(store.run("killed").id)) == TOTAL


def test_replay_diff_stops_on_sigterm_diffs_what_was_answered_and_resumes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rd.db"
    recorded(db, [("GET", f"/item/{i}") for i in range(TOTAL)])
    with counting_server(delay=0.05) as server:
        proc = subprocess.Popen(
            [*SHADOWDIFF, "replay-diff", "--db", str(db), "--target", server.url, "-c", "4",
             "--order", "none", "--name", "rd", "--no-preset"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        wait_until(lambda: stored_outcomes(db, "rd") >= 20, timeout=60, what="outcomes stored")
        returncode, out, err = _stop(proc, signal.SIGTERM)
        assert returncode == 143, (out, err)
        answered = stored_outcomes(db, "rd")
        assert answered < TOTAL  # what was answered is diffed (analysis/pipeline.py)
        assert f"run rd: {answered} compared" in " ".join(out.split())
        command = next(line for line in out.splitlines() if "--resume" in line)
        assert command == f"shadowdiff replay-diff --db {db} --resume rd --no-preset"
        resumed = subprocess.run(
            [*SHADOWDIFF, *shlex.split(command)[1:]], capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr
        assert f"{TOTAL} compared" in " ".join(resumed.stdout.split())
    assert sorted(server.received.values()) == [1] * TOTAL


def test_a_second_signal_stops_at_once_and_resume_warns_of_what_was_in_flight(
    tmp_path: Path,
) -> None:
    db = tmp_path / "twice.db"
    recorded(db, [("POST", f"/item/{i}") for i in range(40)])
    err_file = tmp_path / "err.txt"
    with counting_server(delay=60) as server, err_file.open("w") as err_out:
        proc = subprocess.Popen(
            [*SHADOWDIFF, "replay", "--db", str(db), "--target", server.url, "-c", "4",
             "--order", "none", "--timeout", "90", "--name", "twice"],
            stdout=subprocess.PIPE,
            stderr=err_out,
            text=True,
        )  # fmt: skip
        try:
            wait_until(lambda: server.in_flight == 4, timeout=60, what="4 requests held")
            proc.send_signal(signal.SIGTERM)
            wait_until(lambda: "finishing the requests in flight" in err_file.read_text())
            returncode, out, _ = _stop(proc, signal.SIGTERM)  # the server still holds them
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert returncode == 143, (out, err_file.read_text())
        assert "--resume twice" in out
        with Store.open(db) as store:
            assert store.run("twice").status == "interrupted"
            assert store.replayed_ids(store.run("twice").id) == set()
        server.stop.set()  # answer what it holds (to nobody) and everything from now on
        resumed = subprocess.run(
            [*SHADOWDIFF, "replay", "--db", str(db), "--resume", "twice"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
    twice = [p for p, n in server.received.items() if n > 1]
    assert len(twice) == 4
    text = " ".join(resumed.stdout.split())
    said = int(text.split("resume: up to ")[1].split()[0])
    assert 4 <= said <= 4 + CLAIM_AHEAD
    assert f"non-idempotent among them: {said} POST" in text
