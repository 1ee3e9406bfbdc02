"""Benchmark: bare `mitmdump` reverse proxy vs `mitmdump` + the shadowdiff recorder.

Both in the same run, alternating, in front of the demo Flask server (gunicorn):
- throughput at concurrency 16 for a fixed request count per round (closed loop: the
  machine is saturated, so latency there just mirrors throughput);
- added latency at concurrency 1 (an idle proxy: what the recorder adds to one request).
Prints requests/s and p50/p99 for both, and last the throughput ratio alone on a line
(`ratio 0.96`).

    python bench/record.py [--requests 3000] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import LoadResult, run_load  # noqa: E402
from shadowdiff.demo.servers import free_port, start_server, wait_port  # noqa: E402
from shadowdiff.demo.traffic import build_requests  # noqa: E402
from shadowdiff.recorder.launcher import mitmdump_command  # noqa: E402


def proxy(upstream: str, port: int, db: Path | None) -> subprocess.Popen[bytes]:
    recorder = {"shadowdiff_db": db} if db is not None else None
    cmd = mitmdump_command(upstream, port, recorder=recorder)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    # the production-style mix, minus redirects' absolute Location differences: all of it
    plan = build_requests(args.requests, seed=1)
    results: dict[str, list[LoadResult]] = {"bare": [], "recorder": []}
    with start_server("flask") as flask, tempfile.TemporaryDirectory() as tmp:
        warm = proxy(flask.url, port := free_port(), None)
        run_load(f"http://127.0.0.1:{port}", plan[:300], args.concurrency)
        stop(warm)
        for r in range(args.rounds):
            order = ["bare", "recorder"] if r % 2 == 0 else ["recorder", "bare"]
            for mode in order:
                port = free_port()
                db = Path(tmp) / f"bench-{r}.db" if mode == "recorder" else None
                p = proxy(flask.url, port, db)
                try:
                    res = run_load(f"http://127.0.0.1:{port}", plan, args.concurrency)
                finally:
                    stop(p)
                results[mode].append(res)
                print(
                    f"round {r + 1} {mode:9s} {res.rps:8.0f} req/s  p50 {res.pct(50):6.2f} ms"
                    f"  p99 {res.pct(99):6.2f} ms  errors {res.errors}",
                    flush=True,
                )
    # added latency on an idle proxy: one request at a time, same requests, alternating
    idle: dict[str, list[float]] = {"bare": [], "recorder": []}
    with start_server("flask") as flask, tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for mode in ["bare", "recorder"] if r % 2 == 0 else ["recorder", "bare"]:
                port = free_port()
                p = proxy(
                    flask.url, port, Path(tmp) / f"idle-{r}.db" if mode == "recorder" else None
                )
                try:
                    res = run_load(f"http://127.0.0.1:{port}", plan[:500], 1)
                finally:
                    stop(p)
                idle[mode].append(res.pct(50))
    idle_bare = statistics.median(idle["bare"])
    idle_rec = statistics.median(idle["recorder"])
    print(
        f"concurrency 1: p50 bare {idle_bare:.3f} ms, recorder {idle_rec:.3f} ms, "
        f"added {idle_rec - idle_bare:+.3f} ms (target <= 0.30 ms)"
    )
    summary = {}
    for mode, runs in results.items():
        rps = statistics.median(r.rps for r in runs)
        p50 = statistics.median(r.pct(50) for r in runs)
        p99 = statistics.median(r.pct(99) for r in runs)
        summary[mode] = (rps, p50, p99)
        print(f"{mode:9s} median {rps:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    added = summary["recorder"][1] - summary["bare"][1]
    print(
        f"concurrency {args.concurrency}: added p50 {added:+.2f} ms (saturated: mirrors throughput)"
    )
    ratio = statistics.median(
        rec.rps / bare.rps for rec, bare in zip(results["recorder"], results["bare"], strict=True)
    )
    print(f"ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
