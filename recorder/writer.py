"""The single batched writer behind the recorder addon, and its live counters.

The addon's hooks only `offer()` finished flows; this thread converts them to exchanges
(off the event loop) and commits them in batches. A store failure drops that batch
(counted), never the traffic.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store import Exchange, Store

log = logging.getLogger("shadowdiff")

_STOP = object()


@dataclass
class RecorderStats:
    seen: int = 0
    skipped: int = 0
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
    """The single writer: drains the queue and commits exchanges in batches."""

    def __init__(
        self,
        store: Store,
        session_id: int,
        convert: Callable[[Any], Exchange],
        stats: RecorderStats,
        *,
        batch_size: int = 200,
        stats_path: Path | None = None,
        max_queue: int = 100_000,
    ) -> None:
        super().__init__(name="shadowdiff-writer", daemon=True)
        self.store = store
        self.convert = convert
        self.session_id = session_id
        self.stats = stats
        self.batch_size = batch_size
        self.stats_path = stats_path
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._stats_written = 0.0
        self._lock = threading.Lock()

    def offer(self, item: Any) -> None:
        """Non-blocking put; a full queue drops (and counts) the item."""
        try:
            self.queue.put_nowait(item)
            self.stats.queued += 1
        except queue.Full:
            self.drop(1, "queue full: the store cannot keep up")

    def drop(self, n: int, why: str) -> None:
        with self._lock:
            first = self.stats.last_error != why
            self.stats.dropped += n
            self.stats.errors += 1
            self.stats.last_error = why
        if first:
            log.warning(f"shadowdiff: cannot store exchanges ({why}); traffic is unaffected")

    def run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[Exchange] = []
            try:
                item = self.queue.get(timeout=0.25)
            except queue.Empty:
                self.write_stats()
                continue
            while True:
                if item is _STOP:
                    stopping = True
                    break
                try:
                    batch.append(self.convert(item))
                except Exception as exc:  # one bad flow never stops the writer
                    self.drop(1, f"capture failed: {type(exc).__name__}: {exc}")
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            self.write_stats()
        self.write_stats()

    def _write(self, batch: list[Exchange]) -> None:
        try:
            n = self.store.add_exchanges(self.session_id, batch)
        except Exception as exc:  # fail open: any store failure drops this batch only
            self.drop(len(batch), f"{type(exc).__name__}: {exc}")
            return
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
        self.queue.put(_STOP)
        self.join(timeout)
