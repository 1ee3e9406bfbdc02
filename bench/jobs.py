"""Benchmark: `diff RUN --jobs 1` against `--jobs N` on a stored run, and `report`/`gate` of it.

Records a seed session of the demo mix once through the real recorder (`shadowdiff record` in
front of the demo Flask app, as bench/e2e.py does), replays it once to the demo FastAPI port
with the Flask app as baseline, then synthesises, in SQL, a session of P/2 exchanges and a
candidate and a baseline run answering them, P pairs (`--sizes`): the seed's exchanges and
replays repeated with new seqs and ids, so a stored run of 100k pairs costs seconds, not a
100k replay. Every step is its own `shadowdiff` process (whole-process wall time and max RSS,
`os.wait4`), in alternating rounds (`--jobs 1`, `--jobs N`, then the other way round) on the
same database; it prints the medians of wall time and of CPU time (user + system, workers
included), the speedup, and the median `report` (text, to a file) and `gate` times.

`--python` runs the steps with another interpreter (another checkout: `python -m shadowdiff`);
`--before PATH` measures a second one in the same rounds, alternating with the first, so a
change and what it changes can be compared on the same machine at the same time (PATH: a
venv's python, or a script that sets PYTHONPATH to another checkout and execs one; the steps
run in a temporary folder, so the current directory's package is not the one imported).

`--rounds 0` skips the diff rounds (one diff, then report and gate only: e.g. `--sizes 200000`
for report and gate of a 100k-exchange run with its baseline).

    python bench/jobs.py [--sizes 20000,100000] [--rounds 3] [--jobs 2] [--before PATH]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e import RULES, Step, record_seed, run_step, synthesise  # noqa: E402
from shadowdiff.demo.servers import start_server  # noqa: E402


def replay_seed(python: str, seed: Path, work: Path) -> None:
    """The seed session replayed once: FastAPI the candidate, Flask the baseline."""
    with start_server("flask") as old, start_server("fastapi") as new:
        args = ["replay", "--db", str(seed), "--session", "seed", "--target", new.url]
        args += ["--baseline", old.url, "-c", "16", "--name", "seed-run"]
        subprocess.run(
            [python, "-m", "shadowdiff", *args], cwd=work, check=True, stdout=subprocess.DEVNULL
        )


def synthesise_runs(seed_db: Path, db: Path, pairs: int) -> None:
    """`synthesise` (a session `bench` of `pairs` exchanges), plus runs `bench` (candidate)
    and `bench-baseline` whose replays are the seed runs' for the same seed exchange."""
    synthesise(seed_db, db, pairs)
    with sqlite3.connect(db) as conn:
        seed_sid, bench_sid = (
            conn.execute("SELECT id FROM sessions WHERE name = ?", [n]).fetchone()[0]
            for n in ("seed", "bench")
        )
        n = conn.execute("SELECT count(*) FROM exchanges WHERE session_id = ?", [seed_sid])
        stride = n.fetchone()[0] + 1
        cand = conn.execute(  # the baseline run names its candidate (paired_run_id)
            "SELECT c.id, b.id FROM runs c JOIN runs b ON b.paired_run_id = c.id "
            "WHERE c.name = 'seed-run'"
        )
        cand_id, base_id = cand.fetchone()
        cols = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
        kept = [c for c in cols if c not in ("id", "name", "session_id", "paired_run_id")]
        names = ", ".join(kept)
        for old, name in ((cand_id, "bench"), (base_id, "bench-baseline")):
            conn.execute(
                f"INSERT INTO runs (name, session_id, {names}) SELECT ?, ?, {names} "
                "FROM runs WHERE id = ?",
                [name, bench_sid, old],
            )
        ids = dict(conn.execute("SELECT name, id FROM runs WHERE name LIKE 'bench%'").fetchall())
        conn.execute(
            "UPDATE runs SET paired_run_id = ? WHERE id = ?", [ids["bench"], ids["bench-baseline"]]
        )
        rcols = [r[1] for r in conn.execute("PRAGMA table_info(replays)")]
        rkept = ", ".join(c for c in rcols if c not in ("run_id", "exchange_id"))
        picked = ", ".join(f"r.{c}" for c in rcols if c not in ("run_id", "exchange_id"))
        for old, name in ((base_id, "bench-baseline"), (cand_id, "bench")):
            conn.execute(  # a bench exchange's seed exchange: the same seq modulo the stride
                f"INSERT INTO replays (run_id, exchange_id, {rkept}) SELECT ?, b.id, {picked} "
                "FROM exchanges b JOIN exchanges s ON s.session_id = ? AND s.seq = b.seq % ? "
                "JOIN replays r ON r.run_id = ? AND r.exchange_id = s.id "
                "WHERE b.session_id = ? ORDER BY b.id",
                [ids[name], seed_sid, stride, old, bench_sid],
            )


def diff_rounds(
    pythons: dict[str, str], db: Path, work: Path, args: argparse.Namespace
) -> dict[tuple[str, int], list[Step]]:
    """`diff bench --jobs J` for each interpreter and J in (1, --jobs), alternating the
    order round by round (the first step of a round goes last in the next)."""
    base = ["diff", "bench", "--db", str(db), "--rules", str(RULES)]
    plan = [(label, jobs) for label in pythons for jobs in (1, args.jobs)]
    times: dict[tuple[str, int], list[Step]] = {key: [] for key in plan}
    for r in range(args.rounds):
        for label, jobs in plan if r % 2 == 0 else plan[::-1]:
            cmd = [*base, "--jobs", str(jobs)]
            step = run_step(pythons[label], f"diff-{label}-j{jobs}", cmd, work, args.step_timeout)
            times[(label, jobs)].append(step)
            print(
                f"   round {r + 1}: {label:6s} --jobs {jobs}  {step.seconds:6.2f} s  "
                f"cpu {step.cpu_seconds:6.2f} s  max RSS {step.max_rss_mb:5.0f} MB",
                flush=True,
            )
    return times


def summary_rounds(
    pythons: dict[str, str], db: Path, work: Path, args: argparse.Namespace
) -> dict[tuple[str, str], list[Step]]:
    """`report` (text, to a file) and `gate` of run `bench`, alternating interpreters."""
    out: dict[tuple[str, str], list[Step]] = {}
    for r in range(args.summary_rounds):
        for label in list(pythons) if r % 2 == 0 else list(pythons)[::-1]:
            cmds = {
                "report": ["report", "bench", "--db", str(db), "-o", str(work / "r.txt")],
                "gate": ["gate", "bench", "--db", str(db)],
            }
            for name, cmd in cmds.items():
                step = run_step(pythons[label], f"{name}-{label}", cmd, work, args.step_timeout)
                out.setdefault((label, name), []).append(step)
    return out


def print_diff(label: str, one: list[Step], many: list[Step], jobs: int) -> None:
    """Medians (wall, cpu) of `--jobs 1` and `--jobs N`, their ratio, and the ratio of the
    best rounds (the least disturbed on a shared machine)."""
    t1, tn = (statistics.median(s.seconds for s in x) for x in (one, many))
    c1, cn = (statistics.median(s.cpu_seconds for s in x) for x in (one, many))
    b1, bn = (min(s.seconds for s in x) for x in (one, many))
    rss = max(s.max_rss_mb for s in one + many)
    print(
        f"   {label:6s} diff --jobs 1 {t1:7.2f} s (cpu {c1:6.2f}), --jobs {jobs} {tn:7.2f} s "
        f"(cpu {cn:6.2f}): speedup {t1 / tn:.2f}x (best rounds {b1:.2f} s / {bn:.2f} s: "
        f"{b1 / bn:.2f}x); max RSS {rss:.0f} MB"
    )


def one_size(pythons: dict[str, str], seed: Path, pairs: int, args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"shadowdiff-jobs-{pairs}-"))
    try:
        db = work / "bench.db"
        synthesise_runs(seed, db, pairs // 2)  # a candidate and its baseline: 2 pairs each
        print(f"-- {pairs:,} pairs ({pairs // 2:,} exchanges, work in {work})", flush=True)
        times = diff_rounds(pythons, db, work, args)
        if not args.rounds:  # report and gate only: one diff to report on
            cmd = ["diff", "bench", "--db", str(db), "--rules", str(RULES)]
            step = run_step(args.python, "diff", cmd, work, args.step_timeout)
            print(f"   diff (--jobs default) {step.seconds:.1f} s", flush=True)
        summaries = summary_rounds(pythons, db, work, args)
        print(
            f"   medians of {args.rounds} diff and {args.summary_rounds} report/gate rounds "
            "(whole processes; cpu: user + system, workers included)"
        )
        for label in pythons:
            for name in ("report", "gate"):
                steps = summaries[(label, name)]
                secs = statistics.median(s.seconds for s in steps)
                cpu = statistics.median(s.cpu_seconds for s in steps)
                rss = max(s.max_rss_mb for s in steps)
                print(
                    f"   {label:6s} {name:6s} {secs:7.2f} s (cpu {cpu:5.2f}, best "
                    f"{min(s.seconds for s in steps):5.2f} s)   max RSS {rss:5.0f} MB"
                )
            if args.rounds:
                print_diff(label, times[(label, 1)], times[(label, args.jobs)], args.jobs)
        sys.stdout.flush()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sizes", default="20000,100000", help="pairs: candidate + baseline")
    ap.add_argument("--rounds", type=int, default=3, help="diff rounds (0: report and gate only)")
    ap.add_argument("--summary-rounds", type=int, default=3, help="report and gate rounds")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--python", default=sys.executable, help="the interpreter to run steps")
    ap.add_argument("--before", help="another interpreter (checkout) measured alternately")
    ap.add_argument("--seed", type=int, default=2000, help="requests recorded once")
    ap.add_argument("--seed-db", type=Path, help="reuse a seed database (kept by --keep)")
    ap.add_argument("--step-timeout", type=float, default=1800.0)
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="shadowdiff-jobs-seed-") as tmp:
        seed = Path(tmp) / "seed.db"
        if args.seed_db is not None:
            shutil.copy(args.seed_db, seed)
        else:
            t0 = time.perf_counter()
            record_seed(args.python, seed, args.seed, Path(tmp))
            replay_seed(args.python, seed, Path(tmp))
            print(
                f"seed: {args.seed} requests recorded and replayed in "
                f"{time.perf_counter() - t0:.0f}s; python {args.python}",
                flush=True,
            )
            if args.keep:
                shutil.copy(seed, Path(tempfile.gettempdir()) / "shadowdiff-jobs-seed.db")
        pythons = {"this": args.python}
        if args.before:
            pythons = {"before": args.before, **pythons}
        for pairs in sizes:
            one_size(pythons, seed, pairs, args)


if __name__ == "__main__":
    main()
