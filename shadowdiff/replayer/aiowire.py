"""The default transport: aiohttp's connection pool, sending requests exactly as built.

It sends what `build_request` built, as built: the request target bytes (through
`yarl.URL(..., encoded=True)`, never re-encoded),
the method as recorded, header names in their case and order with duplicates, and nothing
aiohttp would add by itself (no `Content-Length: 0` on a body-less request, no
User-Agent, Accept, Content-Type or cookies). aiohttp writes the request line and headers
as UTF-8, so bytes that are not UTF-8 cannot go out as recorded: in the target they are
percent-encoded; in a header that request fails (`--transport httpx` sends them).
"""

from __future__ import annotations

import errno
import weakref
from collections.abc import AsyncIterator, Iterable
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import aiohttp
import httpx
import yarl
from aiohttp import hdrs
from multidict import CIMultiDict

from shadowdiff.replayer.bodyread import read_capped
from shadowdiff.replayer.build import Outgoing
from shadowdiff.replayer.retry import current_attempt, send_with_retry
from shadowdiff.replayer.wire import Answer, Wire

__all__ = ["AiohttpWire"]

SKIP_AUTO = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
STALE_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})

# the connections (their protocols) that have carried a request: a send on one is a reuse
_USED: weakref.WeakSet[Any] = weakref.WeakSet()
# what this task is sending: the method as recorded (or None: as given), the header list.
# aiohttp's session would merge header names that differ in case, so they go around it.
_WIRE: ContextVar[tuple[str | None, CIMultiDict[str]] | None] = ContextVar(
    "shadowdiff_wire", default=None
)


class _FaithfulRequest(aiohttp.ClientRequest):
    """aiohttp's request, minus what it adds or reorders on its own."""

    def update_headers(self, headers: Any) -> None:
        wire = _WIRE.get()
        given: Iterable[tuple[str, str]] = headers.items() if headers else ()
        self.headers = wire[1] if wire is not None else CIMultiDict(given)
        if hdrs.HOST not in self.headers:
            host = self.url.host_port_subcomponent
            assert host is not None
            self.headers = CIMultiDict([(hdrs.HOST, host), *self.headers.items()])

    def update_body_from_data(self, body: Any, _stacklevel: int = 3) -> None:
        if body is None:  # no body: no Content-Length: 0 either
            self._body = None
            return
        super().update_body_from_data(body)  # (older aiohttp has no _stacklevel)

    async def send(self, conn: Any) -> aiohttp.ClientResponse:
        protocol = conn.protocol
        used = protocol is not None and protocol in _USED
        if protocol is not None and not used:
            _USED.add(protocol)
        attempt = current_attempt()
        if attempt is not None and protocol is not None:
            attempt.reused = used
            attempt.fresh = not used
            if attempt.retry:
                protocol.force_close()  # closed after this response: retries stay fresh
        wire = _WIRE.get()
        if wire is not None and wire[0] is not None:
            self.method = wire[0]  # as recorded (aiohttp upper-cases)
        return await super().send(conn)


def _session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
    session = aiohttp.ClientSession(
        connector=connector,
        skip_auto_headers=SKIP_AUTO,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        request_class=_FaithfulRequest,
    )
    session._retry_connection = False  # we retry ourselves, once, and count it
    return session


def _stale(exc: BaseException) -> bool:
    """A failure that means the server had closed the (reused) connection."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return isinstance(exc.message, str)  # else a partial response head had arrived
    if isinstance(exc, aiohttp.ClientConnectorError):
        return False
    if isinstance(exc, aiohttp.ClientConnectionResetError):
        return True
    return isinstance(exc, aiohttp.ClientOSError) and exc.errno in STALE_ERRNOS


def _mapped(exc: BaseException) -> httpx.TransportError:
    """The httpx exception for an aiohttp one (the engine classifies by the cause)."""
    if isinstance(exc, TimeoutError):
        return httpx.TimeoutException(str(exc) or type(exc).__name__)
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return httpx.ConnectError(str(exc))
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        if isinstance(exc.message, str):
            return httpx.RemoteProtocolError(exc.message)
        return httpx.RemoteProtocolError("server disconnected in the middle of the response head")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(str(exc) or "server disconnected")
    return httpx.NetworkError(str(exc) or type(exc).__name__)


@lru_cache(maxsize=4096)
def _url(origin: str, target: bytes) -> yarl.URL:
    try:
        text = target.decode("utf-8")
    except UnicodeDecodeError:  # aiohttp writes UTF-8: percent-encode only what is not
        text = "".join(
            f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else c
            for c in target.decode("utf-8", "surrogateescape")
        )
    return yarl.URL(origin + text, encoded=True)


@lru_cache(maxsize=64)
def _timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)


def _headers(headers: list[tuple[str, str]]) -> CIMultiDict[str]:
    for k, v in headers:
        if not (k.isascii() and v.isascii()):
            try:
                k.encode("utf-8")
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise httpx.LocalProtocolError(
                    "a header holds bytes that are not UTF-8, which the aiohttp transport "
                    "cannot send as recorded; replay with --transport httpx"
                ) from None
    return CIMultiDict(headers)


async def _chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except (aiohttp.ClientError, OSError) as exc:
        raise _mapped(exc) from exc


async def _body(response: aiohttp.ClientResponse, max_body: int) -> tuple[bytes, bool]:
    """The body, at most `max_body` bytes, and whether it was cut: read at once when its
    Content-Length is within the cap (the parser reads no byte past it), else streamed."""
    length = response.content_length
    if length is None or length > max_body:
        return await read_capped(_chunks(response), max_body)
    try:
        return await response.read(), False
    except (aiohttp.ClientError, OSError) as exc:
        raise _mapped(exc) from exc


class AiohttpWire(Wire):
    """A transport over aiohttp's connection pool that sends requests exactly as built."""

    def __init__(self, concurrency: int) -> None:
        self._limit = concurrency
        self._pooled: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None

    async def send(self, request: Outgoing, max_body: int) -> Answer:
        try:
            response, retried = await send_with_retry(request, self._send, _stale)
        except httpx.TransportError:
            raise
        except (aiohttp.ClientError, OSError) as exc:
            raise _mapped(exc) from exc
        try:
            body, truncated = await _body(response, max_body)
        finally:
            response.release()
        return Answer.received(
            response.status,
            response.reason or "",
            response.raw_headers,
            body,
            retried=retried,
            truncated=truncated,
        )

    async def _send(self, request: Outgoing, fresh: bool) -> aiohttp.ClientResponse:
        session = self._session(fresh)
        method = request.method
        upper = method.upper()
        token = _WIRE.set((method if method != upper else None, _headers(request.headers)))
        try:
            t = request.timeout
            return await session.request(
                upper,
                _url(request.origin, request.target),
                data=request.body or None,
                allow_redirects=False,
                compress=None,
                timeout=_timeout(t, t, t),
            )
        finally:
            _WIRE.reset(token)

    def _session(self, fresh: bool) -> aiohttp.ClientSession:
        if fresh:
            if self._fresh is None:
                self._fresh = _session(self._limit)
            return self._fresh
        if self._pooled is None:
            self._pooled = _session(self._limit)
        return self._pooled

    async def aclose(self) -> None:
        for session in (self._pooled, self._fresh):
            if session is not None:
                await session.close()
