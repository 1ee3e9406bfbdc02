"""One retry where browsers retry: a reused keep-alive connection the server had closed.

A server may close an idle keep-alive connection at the moment the client reuses it; the
request then fails before any byte of a response (reset, broken pipe, "server
disconnected"). curl and browsers send it once more on a fresh connection (RFC 9112
section 9.3.1). Both transports do the same through `send_with_retry`: an `Attempt`
(held in a context variable, so the transport's connection layer can fill it in) says
whether the connection was reused and whether any response byte arrived. Never after a
response started, never twice, never for a timeout or a refused connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

import httpx

from shadowdiff.replayer.build import Outgoing

__all__ = [
    "RETRIED",
    "Attempt",
    "RetryFailed",
    "current_attempt",
    "send_with_retry",
]

RETRIED = "retried"
R = TypeVar("R")


@dataclass
class Attempt:
    """What the connection layer saw of one send."""

    retry: bool = False  # the one retry: its connection must be new and not kept
    fresh: bool = False  # connected anew for this request
    reused: bool = False  # went out on a pooled connection that had served a request
    received: bool = False  # a byte of the response arrived


_ATTEMPT: ContextVar[Attempt | None] = ContextVar("shadowdiff_attempt", default=None)


def current_attempt() -> Attempt | None:
    """The attempt in progress in this task (None outside `send_with_retry`)."""
    return _ATTEMPT.get()


class RetryFailed(httpx.TransportError):
    """The one retry on a fresh connection failed too (its error is the cause)."""


Stale = Callable[[BaseException], bool]


async def _attempt(
    send: Callable[[Outgoing, bool], Awaitable[R]], request: Outgoing, fresh: bool
) -> tuple[Attempt, R | Exception]:
    attempt = Attempt(retry=fresh)
    token = _ATTEMPT.set(attempt)
    try:
        return attempt, await send(request, fresh)
    except Exception as exc:  # noqa: BLE001 - the caller decides from the attempt
        return attempt, exc
    finally:
        _ATTEMPT.reset(token)


async def send_with_retry(
    request: Outgoing, send: Callable[[Outgoing, bool], Awaitable[R]], stale: Stale
) -> tuple[R, bool]:
    """`send(request, fresh=False)`; once more with `fresh=True` when the first went out on a
    reused connection and failed with a `stale` error before any response byte. Returns the
    response and whether it came from the retry."""
    attempt, outcome = await _attempt(send, request, False)
    if not isinstance(outcome, Exception):
        return outcome, False
    if not (attempt.reused and not attempt.fresh and not attempt.received and stale(outcome)):
        raise outcome
    _, second = await _attempt(send, request, True)
    if not isinstance(second, Exception):
        return second, True
    raise RetryFailed(f"{second} (after a retry on a fresh connection)") from second
