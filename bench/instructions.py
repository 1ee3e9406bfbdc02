"""Benchmark: instructions the replay client executes per request, counted by valgrind.

CPU time per request (bench/replay.py) swings by a fifth from round to round on a shared
machine; instruction counts do not. This records N requests of the demo mix (as
bench/replay.py does, with its many-identities copy), starts the demo FastAPI server, and
runs a process that replays the session once, then one that replays it twice, each under
`valgrind --tool=callgrind` (all the client's threads; the server is not counted): the
difference is one steady-state replay (imports and first-run costs cancel out). It prints
instructions per request for `--order none` and `--order identity`. Needs valgrind; a run
takes a few minutes (valgrind runs the client about 50 times slower).

    python bench/instructions.py [--requests 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.replay import record_demo, spread_over_identities  # noqa: E402
from shadowdiff.demo.servers import start_server  # noqa: E402
from shadowdiff.replayer.engine import ReplayConfig, replay  # noqa: E402
from shadowdiff.store import Store  # noqa: E402

SESSIONS = {"none": "bench", "identity": "bench-ids"}


def replays(db: Path, order: str, count: int, target: str, concurrency: int) -> None:
    """The measured process: `count` replays of the session of `order` (on a copy)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "b.db"
        shutil.copy(db, copy)
        with Store.open(copy) as store:
            for _ in range(count):
                config = ReplayConfig(
                    target=target, session=SESSIONS[order], concurrency=concurrency, order=order
                )
                with contextlib.redirect_stderr(io.StringIO()):
                    result = replay(store, config)
                if result.failed:
                    raise SystemExit(f"{result.failed} requests failed")


def instructions(db: Path, order: str, count: int, target: str, concurrency: int) -> int:
    """Instructions (callgrind's Ir) of a process that replays `count` times."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--replays", str(count), "--order", order,
        "--db", str(db), "--target", target, "--concurrency", str(concurrency),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--replays", type=int, help=argparse.SUPPRESS)  # the measured process
    ap.add_argument("--order", help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.replays is not None:
        replays(args.db, args.order, args.replays, args.target, args.concurrency)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_server("flask") as flask,
        start_server("fastapi") as fastapi,
    ):
        db = Path(tmp) / "bench.db"
        record_demo(flask.url, db, args.requests)
        with Store.open(db) as store:
            spread_over_identities(store, "bench", 4 * args.concurrency)
            for order, session in SESSIONS.items():  # stores the copy's chains: not measured
                config = ReplayConfig(target=fastapi.url, session=session, order=order)
                with contextlib.redirect_stderr(io.StringIO()):
                    replay(store, config)
        for order in SESSIONS:
            once, twice = (
                instructions(db, order, n, fastapi.url, args.concurrency) for n in (1, 2)
            )
            per = (twice - once) / args.requests
            print(f"--order {order:8s} {per / 1e6:.3f} M instructions per request", flush=True)


if __name__ == "__main__":
    main()
