"""The httpx client the replayer sends with, and the transport under it.

httpx's own async pool collapses under concurrency (encode/httpx#3215), so by default
the client runs on httpx-aiohttp's `AiohttpTransport`: httpx's API, aiohttp's pool.
`bench/replay.py` measures both against a raw load generator.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

TRANSPORTS = ("aiohttp", "httpx")


def _aiohttp_session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
    # send only what the recording had: no default User-Agent, Accept or Content-Type
    return aiohttp.ClientSession(
        connector=connector,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        auto_decompress=False,
    )


def make_client(
    kind: str = "aiohttp", *, concurrency: int = 16, timeout: float = 10.0
) -> httpx.AsyncClient:
    """An AsyncClient that never follows redirects and never adds default headers."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport: httpx.AsyncBaseTransport
    if kind == "aiohttp":
        transport = AiohttpTransport(limits=limits, client=lambda: _aiohttp_session(concurrency))
    elif kind == "httpx":
        transport = httpx.AsyncHTTPTransport(limits=limits, retries=0)
    else:
        raise ValueError(f"unknown transport {kind!r} (expected one of {', '.join(TRANSPORTS)})")
    return httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
        trust_env=False,
    )
