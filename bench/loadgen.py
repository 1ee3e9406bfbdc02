"""A small closed-loop load generator for the benchmarks (aiohttp, bounded by count and time)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from shadowdiff.demo.traffic import PlannedRequest


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    elapsed: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(q / 100 * len(data)))]


async def _load(
    base: str, plan: Sequence[PlannedRequest], concurrency: int, max_seconds: float
) -> LoadResult:
    connector = aiohttp.TCPConnector(limit=concurrency)
    latencies: list[float] = []
    errors = 0
    next_i = 0
    deadline = time.monotonic() + max_seconds
    async with aiohttp.ClientSession(
        connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
    ) as session:

        async def worker() -> None:
            nonlocal next_i, errors
            while next_i < len(plan) and time.monotonic() < deadline:
                req = plan[next_i]
                next_i += 1
                t0 = time.perf_counter()
                try:
                    async with session.request(
                        req.method,
                        req.url(base),
                        headers=list(req.headers),
                        data=req.body or None,
                        allow_redirects=False,
                    ) as resp:
                        await resp.read()
                except aiohttp.ClientError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000.0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return LoadResult(len(latencies), errors, elapsed, latencies)


def run_load(
    base: str, plan: Sequence[PlannedRequest], concurrency: int, max_seconds: float = 120.0
) -> LoadResult:
    return asyncio.run(_load(base, plan, concurrency, max_seconds))
