"""Storing outcomes in batches off the event loop, and journaling what may be in flight.

Outcomes are written in batches (every WRITE_BATCH outcomes or WRITE_INTERVAL seconds),
so a killed run loses the outcomes not yet written; the requests behind them were sent,
and a resume sends them again. To say so, the writer journals a *claim* before sending:
the `seq` up to which exchanges may have been sent, written CLAIM_AHEAD exchanges ahead
(one small write under the same lock as the batches). The next claim is written in the
background once fewer than CLAIM_REFILL claimed exchanges are left, so a send waits for a
claim only when the store is slower than that many sends (a batch or a reader's write
holding the database lock).
A run that ends with every sent request stored clears its claim; after a `kill -9` the
claim stays, and resume counts the exchanges at or below it that have no stored outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from shadowdiff.records import Replay
from shadowdiff.store import Store

WRITE_BATCH: Final = 256
WRITE_INTERVAL: Final = 0.5  # seconds: a killed run loses at most this much to re-send on resume
CLAIM_AHEAD: Final = 64  # exchanges claimed ahead of the one about to be sent
CLAIM_REFILL: Final = CLAIM_AHEAD // 2  # fewer left claimed: the next claim is written


async def _in_thread(fn: Callable[..., Any], *args: Any) -> None:
    """Run a store write in a thread; cancelled, still wait for it (the store's connection
    must never see two writes at once), then re-raise."""
    job = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        await asyncio.shield(job)
    except asyncio.CancelledError:
        await job
        raise


def _refused(rp: Replay, error: str) -> Replay:
    """The outcome stored in place of one the store refused."""
    return Replay(
        run_id=rp.run_id,
        exchange_id=rp.exchange_id,
        started_at=rp.started_at,
        duration_ms=rp.duration_ms,
        error=error,
        flags=rp.flags,
    )


class _Writer:
    """Collects outcomes and writes them in batches off the event loop."""

    def __init__(self, store: Store, run_ids: Sequence[int] = ()) -> None:
        self.store = store
        self.pending: list[Replay] = []
        self.lock = asyncio.Lock()
        self.flushed_at = time.monotonic()
        self.run_ids = list(run_ids)
        self.claimed = -1  # index into the work list claimed so far
        self.wanted = -1  # the furthest index a send asked to claim
        self.claiming: asyncio.Future[None] | None = None  # a claim being written

    async def add(self, replay: Replay) -> None:
        self.pending.append(replay)
        if len(self.pending) >= WRITE_BATCH or time.monotonic() - self.flushed_at >= WRITE_INTERVAL:
            await self.flush()

    async def flush(self) -> None:
        await self._settle()
        async with self.lock:
            self.flushed_at = time.monotonic()
            batch, self.pending = self.pending, []
            if batch:
                await _in_thread(self._store, batch)

    def _store(self, batch: list[Replay]) -> None:
        """Write a batch; when the store refuses it, write its outcomes one by one, and an
        outcome the store refuses as an error outcome (``store: DataError: ...``): one
        outcome never costs the others. A store that refuses that too raises."""
        try:
            self.store.add_replays(batch)
            return
        except Exception:  # noqa: BLE001 - retried one by one below
            pass
        for rp in batch:
            try:
                self.store.add_replays([rp])
            except Exception as exc:  # noqa: BLE001 - becomes the outcome
                detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                self.store.add_replays([_refused(rp, f"store: {type(exc).__name__}: {detail}")])

    async def claim(self, index: int, seqs: Sequence[int]) -> None:
        """Journal that the work item at `index` (of `seqs`, the work list's seqs in send
        order) may be sent, before it is: returns once it is claimed. Claims run up to
        CLAIM_AHEAD items ahead; the next is written in the background when fewer than
        CLAIM_REFILL claimed items are left."""
        if not self.run_ids or self._ahead(index, seqs):
            return
        self.wanted = max(self.wanted, index)
        while True:
            if self.claiming is None or self.claiming.done():
                previous, self.claiming = self.claiming, None
                if previous is not None:
                    previous.result()  # a claim that failed fails the send that needs one
                if self._ahead(index, seqs):
                    return
                self.claiming = asyncio.ensure_future(self._claim(seqs))
            if index <= self.claimed:
                return
            await asyncio.shield(self.claiming)  # cancelled: the claim is still written

    def _ahead(self, index: int, seqs: Sequence[int]) -> bool:
        """Claimed well ahead of `index`, or up to the last item: nothing to write."""
        return index <= self.claimed - CLAIM_REFILL or self.claimed >= len(seqs) - 1

    async def _claim(self, seqs: Sequence[int]) -> None:
        async with self.lock:
            upto = min(self.wanted + CLAIM_AHEAD, len(seqs) - 1)
            if upto > self.claimed:
                await _in_thread(self._write_claim, seqs[upto])
                self.claimed = upto

    async def _settle(self) -> None:
        """Wait for a claim being written (it raises here if it failed)."""
        claiming, self.claiming = self.claiming, None
        if claiming is not None:
            await claiming

    def _write_claim(self, seq: int) -> None:
        for run_id in self.run_ids:
            self.store.claim_sent(run_id, seq)

    async def release(self) -> None:
        """Every sent request is stored: nothing can be re-sent by a resume."""
        await self._settle()
        if self.run_ids:
            async with self.lock:
                await _in_thread(self._clear_claims)

    def _clear_claims(self) -> None:
        for run_id in self.run_ids:
            self.store.clear_claim(run_id)
