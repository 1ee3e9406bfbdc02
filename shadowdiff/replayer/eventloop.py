"""How a replay's event loop runs: on uvloop's loop where it is installed, else asyncio's
own, with the objects made before it kept out of the cyclic garbage collector's scans.

A replay is bound by its client's CPU (the target shares the machine in most set-ups), and
most of that CPU is the event loop and its socket transports: uvloop implements both in C
over libuv, and the same replay costs about a tenth less CPU per request on it. Nothing
changes on the wire (aiohttp and httpcore write the same bytes through either transport).
uvloop is a dependency where it is built (not on Windows); elsewhere, or if it cannot be
imported, asyncio's loop runs the replay as before.

A replay allocates enough to trigger a full collection every few thousand requests, and a
full collection walks every object of the process (the libraries, the store, the run's
setup): tens of milliseconds each, about a twentieth of the replay's CPU. `run` freezes the
objects that exist when the loop starts (`gc.freeze`: collections skip them) and unfreezes
them when it ends, so a collection walks only what the run made; garbage among the frozen
objects waits for the next collection after the run.
"""

from __future__ import annotations

import asyncio
import gc
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
    """`asyncio.run(main)` on the loop `loop_factory` makes, the objects that exist before
    it frozen out of garbage collections until it ends."""
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(main)
    finally:
        gc.unfreeze()
