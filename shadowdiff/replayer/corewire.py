"""`--transport httpx`: httpx's own HTTP/1.1 stack (httpcore + h11), sending as built.

httpx's `AsyncHTTPTransport` takes the request target from `httpx.URL`, which
percent-encodes `<`, `>` and `"`; this transport hands httpcore the recorded target bytes,
the recorded method and the header list as built. h11 keeps header names' case and order
but writes `Host` first, and refuses request targets with bytes outside visible ASCII
(RFC 9112): those bytes are percent-encoded, the rest go out as recorded.
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator
from functools import lru_cache

import httpcore
import httpx

from shadowdiff.replayer.bodyread import read_capped
from shadowdiff.replayer.build import Outgoing
from shadowdiff.replayer.retry import current_attempt, send_with_retry
from shadowdiff.replayer.wire import Answer, Wire

__all__ = ["HttpcoreWire"]


class _Stream(httpcore.AsyncNetworkStream):
    """A connection that tells the attempt in progress when a response byte arrives."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        if data and (attempt := current_attempt()) is not None:
            attempt.received = True
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if (attempt := current_attempt()) is not None and not attempt.fresh:
            attempt.reused = True
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    """anyio's backend; a connect marks the attempt in progress as on a fresh connection."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if (attempt := current_attempt()) is not None:
            attempt.fresh = True
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _pool(concurrency: int, keepalive: int) -> httpcore.AsyncConnectionPool:
    return httpcore.AsyncConnectionPool(
        max_connections=concurrency,
        max_keepalive_connections=keepalive,
        retries=0,
        network_backend=_Backend(),
    )


def _stale(exc: BaseException) -> bool:
    # with no response byte received, h11's "server disconnected" means a closed connection
    return isinstance(exc, httpcore.RemoteProtocolError | httpcore.ReadError | httpcore.WriteError)


def _mapped(exc: Exception) -> Exception:
    """httpx's exception of the same name for an httpcore one (as httpx itself maps)."""
    if not isinstance(
        exc, httpcore.TimeoutException | httpcore.NetworkError | httpcore.ProtocolError
    ):
        return exc
    kind = getattr(httpx, type(exc).__name__, httpx.TransportError)
    return kind(str(exc)) if issubclass(kind, httpx.TransportError) else exc


def _ascii_target(raw: bytes) -> bytes:
    if raw.isascii():
        return raw
    return b"".join(b"%%%02X" % b if b >= 0x80 else bytes([b]) for b in raw)


@lru_cache(maxsize=64)
def _origin(origin: str) -> tuple[bytes, bytes, int | None]:
    url = httpx.URL(origin)
    return url.raw_scheme, url.raw_host, url.port


async def _chunks(response: httpcore.Response) -> AsyncIterator[bytes]:
    try:
        async for part in response.aiter_stream():
            yield part
    except Exception as exc:
        mapped = _mapped(exc)
        if mapped is exc:
            raise
        raise mapped from exc


def _raised(exc: Exception) -> Exception:
    """What to raise for a failed send: httpx's exception for an httpcore one."""
    return exc if isinstance(exc, httpx.TransportError) else _mapped(exc)


class HttpcoreWire(Wire):
    """A transport over httpcore that sends requests exactly as built."""

    def __init__(self, concurrency: int) -> None:
        self._pooled = _pool(concurrency, concurrency)
        self._fresh = _pool(concurrency, 0)  # retries: a new connection each, never kept

    async def send(self, request: Outgoing, max_body: int) -> Answer:
        try:
            response, retried = await send_with_retry(request, self._send, _stale)
        except Exception as exc:
            raised = _raised(exc)
            if raised is exc:
                raise
            raise raised from exc
        try:
            body, truncated = await read_capped(_chunks(response), max_body)
        finally:
            await response.aclose()
        reason = response.extensions.get("reason_phrase", b"")
        return Answer.received(
            response.status,
            reason.decode("latin-1") if isinstance(reason, bytes) else "",
            response.headers,
            body,
            retried=retried,
            truncated=truncated,
        )

    async def _send(self, request: Outgoing, fresh: bool) -> httpcore.Response:
        scheme, host, port = _origin(request.origin)
        t = request.timeout
        core = httpcore.Request(
            method=request.method.encode("utf-8", "surrogateescape"),
            url=httpcore.URL(
                scheme=scheme, host=host, port=port, target=_ascii_target(request.target)
            ),
            headers=[
                (k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
                for k, v in request.headers
            ],
            content=request.body or b"",
            extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), t)},
        )
        return await (self._fresh if fresh else self._pooled).handle_async_request(core)

    async def aclose(self) -> None:
        await self._pooled.aclose()
        await self._fresh.aclose()
