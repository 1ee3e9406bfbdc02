"""The httpx transport the replayer sends with.

httpx's own async pool collapses under concurrency (encode/httpx#3215), so by default
requests go through httpx-aiohttp's `AiohttpTransport`: httpx's request/response API,
aiohttp's connection pool. The replayer calls the transport directly
(`handle_async_request`): the AsyncClient layer above it (cookie jar, auth flow,
redirects, event hooks) is nothing a faithful replayer wants and cost ~13% of the
replayer's CPU per request. `bench/replay.py` measures both transports against a raw
load generator.
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


def make_transport(kind: str = "aiohttp", *, concurrency: int = 16) -> httpx.AsyncBaseTransport:
    """A transport that never follows redirects and never adds default headers."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if kind == "aiohttp":
        return AiohttpTransport(limits=limits, client=lambda: _aiohttp_session(concurrency))
    if kind == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits, retries=0)
    raise ValueError(f"unknown transport {kind!r} (expected one of {', '.join(TRANSPORTS)})")
