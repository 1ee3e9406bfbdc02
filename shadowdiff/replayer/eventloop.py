"""The event loop a replay runs on: uvloop's where it is installed, else asyncio's own.

A replay is bound by its client's CPU (the target shares the machine in most set-ups), and
most of that CPU is the event loop and its socket transports: uvloop implements both in C
over libuv, and the same replay costs about a tenth less CPU per request on it. Nothing
changes on the wire (aiohttp and httpcore write the same bytes through either transport).
uvloop is a dependency where it is built (not on Windows); elsewhere, or if it cannot be
imported, asyncio's loop runs the replay as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the replay's loop: uvloop's when importable, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop `loop_factory` makes."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
