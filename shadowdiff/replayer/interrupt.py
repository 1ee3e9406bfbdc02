"""Stopping a replay on SIGINT / SIGTERM without losing what it got.

The first signal stops the run from taking new work; requests in flight finish (each is
bounded by the run's timeout) and every outcome is stored, so a resume re-sends nothing
the target answered. A second signal cancels the requests in flight at once; their
outcomes are lost, and the in-flight journal (replayer/writer.py) lets the resume say how
many requests it may send again. Either way the run ends `interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any, Final

__all__ = ["SIGNALS", "Interruption"]

SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


class Interruption:
    """Which signal stopped the run (``signum``), and the event the workers watch."""

    def __init__(self, on_signal: Callable[[int], None] | None = None) -> None:
        self.on_signal = on_signal  # told of the first signal
        self.signum: int | None = None
        self.hard = False  # a second signal cancelled the requests in flight
        self.stopping = asyncio.Event()
        self._task: asyncio.Future[Any] | None = None
        self._previous: dict[int, Any] = {}

    def install(self, task: asyncio.Future[Any]) -> None:
        """Handle SIGINT and SIGTERM on the running loop while `task` runs (main thread
        only: elsewhere signals keep their handlers)."""
        loop = asyncio.get_running_loop()
        self._task = task
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (ValueError, RuntimeError, NotImplementedError):
                continue  # not the main thread
            self._previous[sig] = previous

    def remove(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, previous in self._previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _on_signal(self, sig: int) -> None:
        if self.signum is None:
            self.signum = sig
            self.stopping.set()
            if self.on_signal is not None:
                self.on_signal(sig)
        elif self._task is not None and not self.hard:
            self.hard = True
            self._task.cancel()

    async def wait(self, delay: float) -> bool:
        """Sleep `delay` seconds, or less when a signal comes; whether one came."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay)
        return self.stopping.is_set()


class Pacer:
    """Slots at `rate` requests per second from the first request on; a signal cuts the
    wait short."""

    def __init__(self, rate: float | None, stop: Interruption) -> None:
        self.rate = rate
        self.stop = stop
        self.start: float | None = None
        self.ticket = 0

    async def wait(self) -> bool:
        """Wait for the next slot; whether a signal came (then nothing should be sent)."""
        if self.rate is None:
            return self.stop.stopping.is_set()
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        slot = self.start + self.ticket / self.rate
        self.ticket += 1
        delay = slot - loop.time()
        if delay > 0:
            return await self.stop.wait(delay)
        return self.stop.stopping.is_set()
