"""Benchmark: replay, replay-diff, report and gate end to end at 10k and 100k exchanges.

Records a seed session of the demo mix once through the real recorder (`shadowdiff record` in
front of the demo Flask app), synthesises sessions of N exchanges from it in SQL (its
exchanges copied with new seqs), starts the demo FastAPI port under uvicorn, and runs each
step as its own `shadowdiff` process (so its max RSS is its own: `os.wait4`), measured in the
same run on the same session:

- `replay` alone (`-c 32`, no baseline);
- `replay-diff` (a new run of the same session): wall time and its ratio to the replay alone;
- `report` (text, to a file) and `gate` of the replay-diff run;
- the database size, and bytes per replayed exchange (after VACUUM, on a copy).

`--python` runs the steps with another interpreter (another checkout's venv: `python -m
shadowdiff`), so the same figures can be measured for main. `--million` adds the 1M memory
check: a session of 1,000,000 exchanges, `replay-diff` for at most `--million-seconds` (then
SIGINT: it diffs what was answered; the work list of a million is set up in full either way),
then `report` and `gate` of that run, with progress every 30 s. Every step is bounded in time
(`--step-timeout`); every server and process started is stopped (SIGTERM too).

    python bench/e2e.py [--sizes 10000,100000] [--million] [--python PATH] [--seed 2000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shadowdiff.demo.servers import free_port, start_server, wait_port  # noqa: E402
from shadowdiff.demo.traffic import generate  # noqa: E402

RULES = Path(__file__).resolve().parent.parent / "shadowdiff" / "demo" / "rules.toml"


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    max_rss_mb: float
    code: int
    cpu_seconds: float = 0.0  # user + system, its waited-for children (workers) included


def run_step(
    python: str,
    name: str,
    args: Sequence[str],
    cwd: Path,
    timeout: float,
    stop_after: float | None = None,
    progress: Callable[[], str] | None = None,
) -> Step:
    """Run `python -m shadowdiff ARGS` and wait for it with wait4 (its own max RSS).
    `stop_after` seconds: SIGINT it then (it stores what it has and exits 130); `progress`
    says how far it is, printed every 30 s."""
    log = cwd / f"{name}.log"
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [python, "-m", "shadowdiff", *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"},
        )
        started = time.monotonic()
        said = interrupted = 0.0
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                now = time.monotonic() - started
                if now > timeout:
                    raise SystemExit(f"{name} took over {timeout:.0f}s; see {log}")
                if stop_after is not None and now > stop_after and not interrupted:
                    proc.send_signal(signal.SIGINT)
                    interrupted = now
                if progress is not None and now - said > 30:
                    print(f"   {name}: {now:.0f}s, {progress()}", flush=True)
                    said = now
                time.sleep(0.02)
        except BaseException:
            proc.kill()  # stopped (a timeout, Ctrl-C, SIGTERM): never left running
            proc.wait()
            raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    crashed = "Traceback (most recent call last)" in log.read_text(errors="replace")
    if crashed or proc.returncode not in (0, 1, 130 if stop_after is not None else 0):
        raise SystemExit(f"{name} failed ({proc.returncode}): {log.read_text()[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return Step(name, seconds, usage.ru_maxrss / 1024, proc.returncode, cpu)


def record_seed(python: str, db: Path, count: int, work: Path) -> None:
    """`count` requests of the demo mix recorded by `shadowdiff record` in front of Flask."""
    with start_server("flask") as flask:
        port = free_port()
        proc = subprocess.Popen(
            [python, "-m", "shadowdiff", "record", "--upstream", flask.url, "--db", str(db)]
            + ["--session", "seed", "--listen", f"127.0.0.1:{port}"],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port, timeout=60)
            generate(f"http://127.0.0.1:{port}", count=count, concurrency=16, seed=7)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)


def synthesise(seed_db: Path, db: Path, total: int) -> None:
    """A copy of the seed database with a session `bench` of `total` exchanges: the seed's
    exchanges repeated with new seqs (schema-agnostic: the columns are read from the file)."""
    shutil.copy(seed_db, db)
    with sqlite3.connect(db) as conn:
        seed_id, n = conn.execute(
            "SELECT s.id, count(e.id) FROM sessions s JOIN exchanges e ON e.session_id = s.id "
            "WHERE s.name = 'seed'"
        ).fetchone()
        conn.execute(
            "INSERT INTO sessions (name, source, upstream, started_at, ended_at) "
            "SELECT 'bench', source, upstream, started_at, ended_at FROM sessions WHERE id = ?",
            [seed_id],
        )
        new_id = conn.execute("SELECT id FROM sessions WHERE name = 'bench'").fetchone()[0]
        cols = [r[1] for r in conn.execute("PRAGMA table_info(exchanges)")]
        copied = [c for c in cols if c not in ("id", "session_id", "seq")]
        names = ", ".join(copied)
        picked = ", ".join(f"e.{c}" for c in copied)
        copies = -(-total // n)
        conn.execute(
            f"WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?) "
            f"INSERT INTO exchanges (session_id, seq, {names}) "
            f"SELECT ?, k.i * ? + e.seq, {picked} FROM k, exchanges e WHERE e.session_id = ? "
            "ORDER BY k.i, e.seq LIMIT ?",
            [copies, new_id, n + 1, seed_id, total],
        )


def last_run(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT name FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0])


def bytes_per_replay(db: Path, work: Path) -> tuple[float, float, str]:
    """(database MB, bytes per replayed exchange, a line on the bodies), after VACUUM of a
    copy."""
    copy = work / "vacuumed.db"
    with sqlite3.connect(db) as conn:
        conn.execute("VACUUM INTO ?", [str(copy)])
        replays = conn.execute("SELECT count(*) FROM replays").fetchone()[0]
        blobs, stored, raw = conn.execute(
            "SELECT count(*), sum(length(data)), sum(size) FROM blobs"
        ).fetchone()
    size = copy.stat().st_size
    copy.unlink()
    bodies = f"{blobs:,} distinct bodies, {raw / 1e6:.1f} MB, stored in {stored / 1e6:.1f} MB"
    return size / 1e6, size / max(replays, 1), bodies


def one_size(python: str, seed: Path, total: int, target: str, args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"shadowdiff-e2e-{total}-"))
    try:
        db = work / "bench.db"
        synthesise(seed, db, total)
        print(f"-- {total:,} exchanges (work in {work})", flush=True)
        common = ["--db", str(db), "--session", "bench", "--target", target, "-c", "32"]
        common += ["--order", args.order]
        limit = args.step_timeout
        steps = [run_step(python, "replay", ["replay", *common], work, limit)]
        print(f"   replay done in {steps[0].seconds:.1f}s", flush=True)
        rules = ["--rules", str(RULES)]
        steps.append(run_step(python, "replay-diff", ["replay-diff", *common, *rules], work, limit))
        run = last_run(db)
        report = ["report", run, "--db", str(db), "-o", str(work / "report.txt")]
        steps.append(run_step(python, "report", report, work, limit))
        steps.append(run_step(python, "gate", ["gate", run, "--db", str(db)], work, limit))
        size_mb, per, bodies = bytes_per_replay(db, work)
        replay, piped = steps[0].seconds, steps[1].seconds
        for step in steps:
            print(f"   {step.name:12s} {step.seconds:8.1f} s   max RSS {step.max_rss_mb:7.0f} MB")
        print(f"   replay-diff / replay     {piped / replay:.2f}")
        print(f"   rate (replay alone)      {total / replay:,.0f}/s")
        print(f"   database                 {size_mb:.0f} MB after VACUUM, {per:,.0f} B per replay")
        print(f"   bodies                   {bodies}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def stored(db: Path) -> str:
    """How many replays and diffs the database holds (read while a step writes)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        replays = conn.execute("SELECT count(*) FROM replays").fetchone()[0]
        diffs = conn.execute("SELECT count(*) FROM diffs").fetchone()[0]
    return f"{replays:,} replays and {diffs:,} diffs stored"


def million(python: str, seed: Path, target: str, args: argparse.Namespace) -> None:
    """The 1M memory check: a session of 1,000,000 exchanges, replay-diff for at most
    --million-seconds (then SIGINT: it diffs what was answered), then report and gate of that
    run. Every step's max RSS: the work list of a million is set up in full either way."""
    work = Path(tempfile.mkdtemp(prefix="shadowdiff-e2e-1m-"))
    try:
        db = work / "bench.db"
        t0 = time.perf_counter()
        synthesise(seed, db, 1_000_000)
        print(f"-- 1,000,000 exchanges (synthesised in {time.perf_counter() - t0:.0f}s)")
        common = ["--db", str(db), "--session", "bench", "--target", target, "-c", "32"]
        cmd = ["replay-diff", *common, "--order", args.order, "--rules", str(RULES)]
        limit, stop = args.step_timeout, args.million_seconds
        steps = [
            run_step(python, "replay-diff", cmd, work, limit, stop, progress=lambda: stored(db))
        ]
        run = last_run(db)
        print(f"   {stored(db)} when stopped", flush=True)
        report = ["report", run, "--db", str(db), "-o", str(work / "report.txt")]
        steps.append(run_step(python, "report", report, work, limit))
        steps.append(run_step(python, "gate", ["gate", run, "--db", str(db)], work, limit))
        for step in steps:
            print(f"   {step.name:12s} {step.seconds:8.1f} s   max RSS {step.max_rss_mb:7.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: servers and steps are stopped on the way


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--million", action="store_true", help="also the 1M memory check")
    ap.add_argument("--million-seconds", type=float, default=300.0, help="1M: SIGINT after")
    ap.add_argument("--python", default=sys.executable, help="the interpreter to run steps")
    ap.add_argument("--seed", type=int, default=2000, help="requests recorded once")
    ap.add_argument("--order", default="none", choices=["none", "identity", "strict"])
    ap.add_argument("--step-timeout", type=float, default=3600.0)
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="shadowdiff-e2e-seed-") as tmp:
        seed = Path(tmp) / "seed.db"
        record_seed(args.python, seed, args.seed, Path(tmp))
        print(f"seed: {args.seed} requests recorded; python {args.python}", flush=True)
        with start_server("fastapi") as fastapi:
            for total in sizes:
                one_size(args.python, seed, total, fastapi.url, args)
            if args.million:
                million(args.python, seed, fastapi.url, args)


if __name__ == "__main__":
    main()
