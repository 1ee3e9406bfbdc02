"""The replay writer's in-flight journal: claims are written ahead, in the background, so a
send waits for one only when the store is slower than CLAIM_REFILL sends."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from shadowdiff.replayer.writer import CLAIM_AHEAD, CLAIM_REFILL, _Writer

pytestmark = pytest.mark.unit


class _Journal:
    """A store that records claims; `gate` holds a claim write until it is set."""

    def __init__(self, fail: bool = False) -> None:
        self.claims: list[tuple[int, int]] = []
        self.cleared: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = fail

    def claim_sent(self, run_id: int, seq: int) -> None:
        self.gate.wait(10)
        if self.fail:
            raise OSError("disk full")
        self.claims.append((run_id, seq))

    def clear_claim(self, run_id: int) -> None:
        self.cleared.append(run_id)

    def add_replays(self, batch: list[Any]) -> None:
        return None


SEQS = list(range(1000, 1000 + 10 * CLAIM_AHEAD))


def _writer(journal: _Journal) -> _Writer:
    return _Writer(journal, [7])  # type: ignore[arg-type]  # the journal stands in


def test_every_sent_index_is_claimed_before_it_is_sent_and_claims_run_ahead() -> None:
    journal = _Journal()
    writer = _writer(journal)

    async def send_all() -> None:
        for index in range(len(SEQS)):
            await writer.claim(index, SEQS)
            assert writer.claimed >= index  # never sent unclaimed
            assert writer.claimed - index <= CLAIM_AHEAD  # never claimed far ahead
        await writer.release()

    asyncio.run(send_all())
    assert journal.claims[-1] == (7, SEQS[-1])
    # one write per refill, not one per send
    assert len(journal.claims) <= len(SEQS) // (CLAIM_AHEAD - CLAIM_REFILL) + 2
    assert journal.cleared == [7]


def test_a_send_well_inside_the_claim_does_not_wait_for_a_slow_claim_write() -> None:
    journal = _Journal()
    writer = _writer(journal)

    async def scenario() -> int:
        await writer.claim(0, SEQS)  # claims up to CLAIM_AHEAD
        journal.gate.clear()  # the next claim write is held (a slow store)
        refill_at = CLAIM_AHEAD - CLAIM_REFILL + 1
        for index in range(1, CLAIM_AHEAD + 1):  # every one of these is claimed already
            await asyncio.wait_for(writer.claim(index, SEQS), 1)
            if index == refill_at:
                assert writer.claiming is not None and not writer.claiming.done()
        blocked = asyncio.ensure_future(writer.claim(CLAIM_AHEAD + 1, SEQS))
        await asyncio.sleep(0.05)
        waited = not blocked.done()  # beyond the claim: it waits for the write
        journal.gate.set()
        await asyncio.wait_for(blocked, 5)
        await writer.release()
        return int(waited)

    assert asyncio.run(scenario()) == 1
    assert journal.claims[0] == (7, SEQS[CLAIM_AHEAD])


def test_a_claim_the_store_refuses_fails_the_send_that_needs_it() -> None:
    writer = _writer(_Journal(fail=True))
    with pytest.raises(OSError, match="disk full"):
        asyncio.run(writer.claim(0, SEQS))
