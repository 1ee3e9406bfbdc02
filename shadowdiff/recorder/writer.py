"""The single batched writer behind the recorder addon, and its live counters.

The addon's hooks only `offer()` finished flows; this thread converts them to exchanges
(off the event loop) and commits them in batches. A batch the store refuses for what it holds
is written again one exchange at a time: an unstorable exchange is dropped (counted, with its
reason), never the others of its batch. A database that cannot be written (locked, full)
drops the batch (counted). Never the traffic.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadowdiff.store import Exchange, Store

log = logging.getLogger("shadowdiff")


@dataclass
class RecorderStats:
    seen: int = 0
    skipped: int = 0
    refused: int = 0  # requests refused while shutting down (not exchanges: never stored)
    queued: int = 0
    stored: int = 0
    dropped: int = 0
    bytes: int = 0
    errors: int = 0
    last_error: str | None = None
    session: str | None = None
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class BatchWriter(threading.Thread):
    """The single writer: wakes every `interval`, drains the queue, commits in batches.

    The hot path (`offer`) is a deque append: no lock, no wake-up of this thread per item,
    so the proxy's event loop never hands the GIL over for each flow.
    """

    def __init__(
        self,
        store: Store,
        session_id: int,
        convert: Callable[[Any], Exchange],
        stats: RecorderStats,
        *,
        batch_size: int = 500,
        interval: float = 0.05,
        stats_path: Path | None = None,
        max_queue: int = 100_000,
    ) -> None:
        super().__init__(name="shadowdiff-writer", daemon=True)
        self.store = store
        self.convert = convert
        self.session_id = session_id
        self.stats = stats
        self.batch_size = batch_size
        self.interval = interval
        self.stats_path = stats_path
        self.max_queue = max_queue
        self.pending: deque[Any] = deque()
        self._stopping = threading.Event()
        self._stats_written = 0.0
        self._lock = threading.Lock()
        self._last_why: str | None = None

    def offer(self, item: Any) -> None:
        """Non-blocking; a full queue drops (and counts) the item."""
        if len(self.pending) >= self.max_queue:
            self.drop(1, "queue full: the store cannot keep up")
            return
        self.pending.append(item)
        self.stats.queued += 1

    def drop(self, n: int, why: str, what: str = "") -> None:
        """Count `n` exchanges as dropped for `why` (`what` names the exchange, if one);
        a reason is logged once, not per exchange."""
        with self._lock:
            first = self._last_why != why
            self._last_why = why
            self.stats.dropped += n
            self.stats.errors += 1
            self.stats.last_error = f"{what}: {why}" if what else why
        if first:
            log.warning(
                f"shadowdiff: cannot store exchanges ({self.stats.last_error}); "
                "traffic is unaffected"
            )

    def run(self) -> None:
        while True:
            stopping = self._stopping.wait(self.interval)
            self._drain()
            self.write_stats()
            if stopping:
                return

    def _drain(self) -> None:
        while self.pending:
            batch: list[Exchange] = []
            while self.pending and len(batch) < self.batch_size:
                item = self.pending.popleft()
                try:
                    batch.append(self.convert(item))
                except Exception as exc:  # one bad flow never stops the writer
                    self.drop(1, f"capture failed: {type(exc).__name__}: {exc}")
            if batch:
                self._write(batch)

    def _write(self, batch: list[Exchange]) -> None:
        """Commit `batch` in one transaction; if that fails, commit it one exchange at a time,
        so one unstorable exchange is dropped (counted, with its reason) and no other."""
        try:
            self._commit(batch)
            return
        except Exception as exc:  # fail open: a store failure never reaches the traffic
            if len(batch) == 1:
                self.drop(1, _why(exc), _what(batch[0]))
                return
            if not _about_an_exchange(exc):  # locked, full, unwritable: each would fail too
                self.drop(len(batch), _why(exc))
                return
        for ex in batch:
            try:
                self._commit([ex])
            except Exception as exc:
                self.drop(1, _why(exc), _what(ex))

    def _commit(self, batch: list[Exchange]) -> None:
        n = self.store.add_exchanges(self.session_id, batch)
        with self._lock:
            self.stats.stored += n
            self.stats.bytes += sum(len(e.request_body) + len(e.response_body) for e in batch)

    def write_stats(self, force: bool = False) -> None:
        if self.stats_path is None:
            return
        now = time.monotonic()
        if not force and now - self._stats_written < 0.25:
            return
        self._stats_written = now
        tmp = self.stats_path.with_name(self.stats_path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self.stats.as_dict()))
            os.replace(tmp, self.stats_path)
        except OSError:
            pass

    def stop(self, timeout: float = 60.0) -> None:
        """Drain what is queued, write it, and end the thread."""
        self._stopping.set()
        self.join(timeout)


def _about_an_exchange(exc: Exception) -> bool:
    """Whether a failed batch may hold exchanges that can be stored on their own: not when the
    database itself failed (locked past the busy timeout, disk full, I/O error), where one
    exchange at a time would only wait for the same failure once per exchange."""
    return not isinstance(exc, sqlite3.OperationalError | OSError)


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _what(ex: Exchange) -> str:
    """The exchange a drop speaks of, its path bounded."""
    path = ex.path if len(ex.path) <= 80 else ex.path[:77] + "..."
    return f"{ex.method} {path}"
