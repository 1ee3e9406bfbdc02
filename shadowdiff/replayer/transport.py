"""The transport the replayer sends with (`wire.Wire`).

Both transports are ours, thin, and send a request exactly as `build_request` built it
(target bytes, method, header case, order and duplicates, no added headers), with one retry
on a fresh connection when a reused keep-alive connection turns out closed (`retry.py`). By
default requests go over aiohttp's connection pool (`aiowire.py`): httpx's own async pool
collapses under concurrency (encode/httpx#3215), and httpx-aiohttp re-encodes the target,
lower-cases header names and merges duplicates. `--transport httpx` uses httpx's own stack,
httpcore and h11 (`corewire.py`). The replayer calls the transport directly with an
`Outgoing` and gets an `Answer` back: the AsyncClient layer (cookie jar, auth flow,
redirects, event hooks) is nothing a faithful replayer wants and cost ~13% of the replayer's
CPU per request, and carrying each request and answer in httpx's Request and Response types
cost about as much again. `bench/replay.py` measures both transports against a raw load
generator.
"""

from __future__ import annotations

from shadowdiff.replayer.aiowire import AiohttpWire
from shadowdiff.replayer.corewire import HttpcoreWire
from shadowdiff.replayer.wire import Wire

TRANSPORTS = ("aiohttp", "httpx")


def make_transport(kind: str = "aiohttp", *, concurrency: int = 16) -> Wire:
    """A transport that never follows redirects and never adds default headers."""
    if kind == "aiohttp":
        return AiohttpWire(concurrency)
    if kind == "httpx":
        return HttpcoreWire(concurrency)
    raise ValueError(f"unknown transport {kind!r} (expected one of {', '.join(TRANSPORTS)})")
