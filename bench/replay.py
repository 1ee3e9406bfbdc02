"""Benchmark: the shadowdiff replayer vs a raw load generator, same requests, same run.

Records N requests of the demo mix (through the recorder, in front of Flask), then
replays them against the demo FastAPI port under uvicorn at concurrency 32 with each
httpx transport (`--order none`: every request independent), and sends the same requests
with a reference load generator (wrk if installed, else a raw aiohttp loop). The
many-identities case replays the same requests spread over `--identities` client identities
(default 4x the concurrency; each request gets `Authorization: Bearer redacted:<n>`, a token
that is never sent) with `--order identity`: each identity's requests in recorded order, one
at a time. The lockstep case replays that session with `--primary` and `--secondary` (two more
FastAPI instances): each request goes to primary, candidate and secondary in turn; its cost
per recorded request is quoted relative to the single-target identity-order replay of the same
round set. Rounds alternate. Prints the rates, this process's CPU per recorded request in each
mode (less sensitive than rates to other load on the machine), `identity ratio 0.85` (identity
order / reference) and last the ratio alone on a line (`ratio 0.85`): shadowdiff (default
transport, --order none) / reference.

    python bench/replay.py [--requests 2000] [--rounds 3] [--concurrency 32] [--identities 128]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import run_load  # noqa: E402
from shadowdiff.demo.servers import free_port, start_server  # noqa: E402
from shadowdiff.demo.traffic import PlannedRequest, generate  # noqa: E402
from shadowdiff.recorder.launcher import Recording, RecordOptions  # noqa: E402
from shadowdiff.replayer.engine import ReplayConfig, replay  # noqa: E402
from shadowdiff.store import Store  # noqa: E402


def recorded_plan(store: Store, session: str) -> list[PlannedRequest]:
    """The recorded requests as a plan for the reference generator (same bytes)."""
    hop = {"host", "content-length", "connection", "transfer-encoding"}
    return [
        PlannedRequest(
            i,
            "recorded",
            ex.method,
            ex.path,
            ex.query,
            tuple(
                (k, v)
                for k, v in ex.request_headers
                if k.lower() not in hop and not v.startswith("redacted:")
            ),
            ex.request_body,
            ex.status or 0,
        )
        for i, ex in enumerate(store.iter_exchanges(store.session(session).id))
    ]


def record_demo(upstream: str, db: Path, count: int) -> None:
    """`count` requests of the demo mix recorded as session `bench` through the recorder in
    front of `upstream`."""
    options = RecordOptions(upstream=upstream, db=db, listen_port=free_port(), session="bench")
    with Recording(options) as rec:
        generate(rec.url, count=count, concurrency=16, seed=3)
        rec.stop()


def spread_over_identities(store: Store, session: str, identities: int) -> str:
    """A copy of the session whose requests carry one of `identities` redacted credentials,
    round robin, in place of any recorded Authorization (a token is dropped on send: the
    requests go out as in `session`, minus the recorded credentials, already redacted)."""
    name = f"{session}-ids"
    target = store.create_session(name, source="har")
    store.add_exchanges(
        target.id,
        [
            dataclasses.replace(
                ex,
                id=None,
                seq=None,
                session_id=None,
                request_headers=[
                    *((k, v) for k, v in ex.request_headers if k.lower() != "authorization"),
                    ("Authorization", f"Bearer redacted:{i % identities:016x}"),
                ],
            )
            for i, ex in enumerate(store.iter_exchanges(store.session(session).id))
        ],
    )
    return name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--identities", type=int, help="default: 4x the concurrency")
    args = ap.parse_args()
    identities = args.identities or 4 * args.concurrency
    modes = ["reference", "aiohttp", "httpx", "identity", "lockstep"]
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}  # this process, us per request
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_server("flask") as flask,
        start_server("fastapi") as fastapi,
        start_server("fastapi") as primary,
        start_server("fastapi") as secondary,
    ):
        lockstep: dict[str, Any] = {"primary": primary.url, "secondary": secondary.url}
        db = Path(tmp) / "bench.db"
        record_demo(flask.url, db, args.requests)
        with Store.open(db) as store:
            plan = recorded_plan(store, "bench")
            spread = spread_over_identities(store, "bench", identities)
            run_load(fastapi.url, plan[:300], args.concurrency)  # warm up
            for r in range(args.rounds):
                k = r % len(modes)
                for mode in modes[k:] + modes[:k]:
                    c0 = time.process_time()
                    if mode == "reference":
                        res = run_load(fastapi.url, plan, args.concurrency)
                        rate = res.rps
                        extra = f"p50 {res.pct(50):.2f} ms p99 {res.pct(99):.2f} ms"
                    else:
                        t0 = time.perf_counter()
                        ordered = mode in ("identity", "lockstep")
                        result = replay(
                            store,
                            ReplayConfig(
                                target=fastapi.url,
                                session=spread if ordered else "bench",
                                concurrency=args.concurrency,
                                transport="aiohttp" if ordered else mode,
                                order="identity" if ordered else "none",
                                timeout=30,
                                **(lockstep if mode == "lockstep" else {}),
                            ),
                        )
                        # a rate of recorded requests (lockstep sends each three times)
                        rate = result.selected / (time.perf_counter() - t0)
                        extra = f"sent {result.sent}, failed {result.failed}"
                    rates[mode].append(rate)
                    cpu[mode].append((time.process_time() - c0) / len(plan) * 1e6)
                    extra += f", {cpu[mode][-1]:.0f} us CPU/req"
                    print(f"round {r + 1} {mode:9s} {rate:8.0f} req/s  {extra}", flush=True)
    med = {mode: statistics.median(v) for mode, v in rates.items()}
    use = {mode: statistics.median(v) for mode, v in cpu.items()}
    print(f"reference (raw aiohttp loop)      {med['reference']:8.0f} req/s")
    print(
        f"shadowdiff replay, aiohttp transport {med['aiohttp']:8.0f} req/s "
        f"({med['aiohttp'] / med['reference']:.2f} of reference)"
    )
    print(
        f"shadowdiff replay, httpx transport   {med['httpx']:8.0f} req/s "
        f"({med['httpx'] / med['reference']:.2f} of reference)"
    )
    print(
        f"identity order, {identities} identities {med['identity']:8.0f} req/s "
        f"({med['identity'] / med['aiohttp']:.2f} of --order none)"
    )
    cost = med["identity"] / med["lockstep"]
    print(
        f"lockstep (primary, candidate, secondary) {med['lockstep']:8.0f} recorded req/s: "
        f"{1000 / med['lockstep']:.3f} ms per request vs {1000 / med['identity']:.3f} ms "
        f"single-target ({cost:.2f}x; {cost / 3:.2f}x per send)"
    )
    print(
        f"client CPU per recorded request: reference {use['reference']:.0f} us, replay "
        f"{use['aiohttp']:.0f} us ({use['aiohttp'] / use['reference']:.2f}x), identity order "
        f"{use['identity']:.0f} us, lockstep {use['lockstep']:.0f} us (3 sends)"
    )
    print(f"identity ratio {med['identity'] / med['reference']:.2f}")
    print(f"lockstep cost {cost:.2f}")
    print(f"ratio {med['aiohttp'] / med['reference']:.2f}")


if __name__ == "__main__":
    main()
