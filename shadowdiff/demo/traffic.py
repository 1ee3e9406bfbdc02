"""A production-style traffic generator for the demo servers (deterministic given a seed).

CLI::

    python -m shadowdiff.demo.traffic http://127.0.0.1:8001 --count 500 --concurrency 8 --seed 7 \\
        --log traffic.jsonl

The requests are the mix of ``mix.py`` (``build_requests``, re-exported here); this module
sends them from a thread pool, redirects never followed, optionally logging each exchange.
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from shadowdiff.demo.mix import MIX, PlannedRequest, build_requests

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_TIMEOUT",
    "MIX",
    "PlannedRequest",
    "TrafficSummary",
    "build_requests",
    "generate",
    "main",
    "send_one",
]

DEFAULT_MAX_SECONDS = 120.0
DEFAULT_TIMEOUT = 10.0


@dataclass
class TrafficSummary:
    """What a run did: ``sent`` requests, ``ok`` answered, ``errors`` failed, ``skipped``."""

    planned: int
    sent: int = 0
    ok: int = 0
    errors: int = 0
    skipped: int = 0
    elapsed: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        codes = " ".join(f"{code}:{n}" for code, n in sorted(self.statuses.items()))
        return (
            f"sent={self.sent} ok={self.ok} errors={self.errors} skipped={self.skipped} "
            f"elapsed={self.elapsed:.2f}s rate={self.rate:.1f}/s statuses=[{codes}]"
        )


# ---------------------------------------------------------------------------- sending


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _pairs(raw: Sequence[tuple[bytes, bytes]]) -> list[list[str]]:
    return [[name.decode("latin-1"), value.decode("latin-1")] for name, value in raw]


def send_one(client: httpx.Client, base_url: str, planned: PlannedRequest) -> dict[str, object]:
    """Send one planned request (redirects are not followed) and describe the exchange."""
    request = client.build_request(
        planned.method,
        planned.url(base_url),
        headers=list(planned.headers),
        content=planned.body if planned.body or planned.method != "GET" else None,
    )
    raw_path = request.url.raw_path.decode("ascii")
    path, _, query = raw_path.partition("?")
    entry: dict[str, object] = {
        "i": planned.index,
        "label": planned.label,
        "method": request.method,
        "url": str(request.url),
        "path": path,
        "query": query,
        "request_headers": _pairs(request.headers.raw),
        "request_body_b64": _b64(planned.body),
        "status": None,
        "response_headers": None,
        "response_body_b64": None,
        "error": None,
    }
    try:
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            body = b"".join(response.iter_raw())
        finally:
            response.close()
    except httpx.HTTPError as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return entry
    entry["request_headers"] = _pairs(response.request.headers.raw)
    entry["status"] = response.status_code
    entry["response_headers"] = _pairs(response.headers.raw)
    entry["response_body_b64"] = _b64(body)
    return entry


class _Run:
    """Shared state of one ``generate`` call: per-thread clients, the log, the counters."""

    def __init__(
        self,
        base_url: str,
        timeout: float,
        deadline: float,
        log: IO[str] | None,
        on_done: Callable[[dict[str, object]], None] | None = None,
    ):
        self.on_done = on_done
        self.base_url = base_url
        self.timeout = timeout
        self.deadline = deadline
        self.log = log
        self.lock = threading.Lock()
        self.local = threading.local()
        self.clients: list[httpx.Client] = []
        self.statuses: Counter[int] = Counter()
        self.sent = self.ok = self.errors = self.skipped = 0

    def client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = httpx.Client(timeout=self.timeout, follow_redirects=False)
            self.local.client = client
            with self.lock:
                self.clients.append(client)
        return client

    def run(self, planned: PlannedRequest) -> None:
        if time.monotonic() >= self.deadline:
            with self.lock:
                self.skipped += 1
            return
        entry = send_one(self.client(), self.base_url, planned)
        line = json.dumps(entry, separators=(",", ":"))
        with self.lock:
            self.sent += 1
            if entry["error"] is None:
                self.ok += 1
                self.statuses[int(entry["status"])] += 1  # type: ignore[call-overload]
            else:
                self.errors += 1
            if self.log is not None:
                self.log.write(line + "\n")
        if self.on_done is not None:
            self.on_done(entry)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def generate(
    url: str,
    count: int,
    concurrency: int,
    seed: int = 0,
    log_path: str | Path | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    timeout: float = DEFAULT_TIMEOUT,
    on_done: Callable[[dict[str, object]], None] | None = None,
) -> TrafficSummary:
    """Send ``count`` requests of the mix to ``url`` from ``concurrency`` threads.

    Stops starting new requests once ``max_seconds`` have passed (those are ``skipped``). With
    ``log_path``, writes one JSON line per completed exchange (in completion order; ``i`` is the
    planned index).
    """
    if count < 0 or concurrency < 1:
        raise ValueError("count must be >= 0 and concurrency >= 1")
    plan = build_requests(count, seed)
    started = time.monotonic()
    log = open(log_path, "w", encoding="utf-8") if log_path is not None else None  # noqa: SIM115
    state = _Run(url, timeout, started + max_seconds, log, on_done)
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="traffic")
    try:
        for future in [pool.submit(state.run, planned) for planned in plan]:
            future.result()
    except BaseException:
        # Ctrl-C or a failure: finish what is in flight, start nothing new
        state.deadline = 0.0
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        state.close()
        if log is not None:
            log.close()
    return TrafficSummary(
        planned=count,
        sent=state.sent,
        ok=state.ok,
        errors=state.errors,
        skipped=state.skipped,
        elapsed=time.monotonic() - started,
        statuses=dict(state.statuses),
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m shadowdiff.demo.traffic",
        description="Send a deterministic, production-style request mix to a demo server.",
        epilog="example: python -m shadowdiff.demo.traffic http://127.0.0.1:8001 --count 200 "
        "--concurrency 4 --seed 1 --log traffic.jsonl",
    )
    parser.add_argument("url", help="base URL of the server, e.g. http://127.0.0.1:8001")
    parser.add_argument("--count", type=int, default=100, help="requests to send (default 100)")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel clients (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="mix seed (default 0)")
    parser.add_argument("--log", default=None, help="write one JSON line per exchange here")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="per-request timeout in seconds"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help="stop starting requests after this long (default 120)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    summary = generate(
        args.url,
        args.count,
        args.concurrency,
        seed=args.seed,
        log_path=args.log,
        max_seconds=args.max_seconds,
        timeout=args.timeout,
    )
    print(summary.line())
    return 0 if summary.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
