"""In which order the work goes out: `--order identity|strict|none`.

`identity` (the default): the requests of one client identity (replayer/identity.py) go out
in recorded order, one at a time; identities run concurrently, up to the concurrency. Of the
identities with nothing in flight, the one whose next request was recorded first goes next.
`strict`: one global sequence in recorded order (a concurrency of 1 in effect). `none`: each
request is independent, handed out in recorded order to whichever worker is free (stateless
services; the fastest).

A worker takes an item (`take`), sends it (candidate, then baseline), and reports it `done`:
only then may the next request of that identity go out.
"""

from __future__ import annotations

import asyncio
import sys
from array import array
from collections.abc import Sequence
from typing import Final, overload

from shadowdiff.replayer.config import ORDERS
from shadowdiff.replayer.identity import identity_of
from shadowdiff.replayer.paged import WorkList
from shadowdiff.replayer.work import Work

__all__ = ["ORDERS", "EachAlone", "Lanes"]

_END: Final = sys.maxsize  # the index of the sentinel that tells a worker to stop


def lane_keys(work: Sequence[Work], order: str, identity: str | None) -> Sequence[str]:
    """The lane of each work item: items of one lane go out one at a time, in order."""
    if order == "strict":
        return [""] * len(work)
    if order == "none":
        return EachAlone(len(work))
    if isinstance(work, WorkList):  # identities kept when the work was selected
        return work.identities(identity)
    return [identity_of(item.exchange, identity) for item in work]


class EachAlone(Sequence[str]):
    """The lane keys of `--order none`: every item its own lane (made when asked for)."""

    def __init__(self, count: int) -> None:
        self.size = count

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [str(i) for i in range(*index.indices(self.size))]
        if not -self.size <= index < self.size:
            raise IndexError(index)
        return str(index % self.size)


class Lanes:
    """Hands out the indexes of a work list by lane, at most one per lane at a time.

    Compact: per item only the index of its lane's next item (8 bytes), and the ready
    lanes as a heap of indexes; `--order none` (`EachAlone` keys) keeps only a counter, so a
    million one-request lanes cost nothing per item, not a deque each."""

    def __init__(self, keys: Sequence[str], workers: int) -> None:
        self.workers = workers
        self.left = self.total = len(keys)
        self.ready: asyncio.PriorityQueue[int] = asyncio.PriorityQueue()
        # every item its own lane: taken in order (a subclass may hold some back: `admit`)
        self.alone = isinstance(keys, EachAlone)
        self.next = 0
        self.closed = False
        self.after = array("q", [-1]) * (0 if self.alone else len(keys))
        self.lane_count = len(keys) if self.alone else self._link(keys)
        if not self.left:
            self.close()

    def _link(self, keys: Sequence[str]) -> int:
        """Chain each lane's items (`after`), queue each lane's first; how many lanes."""
        last: dict[str, int] = {}
        for index, key in enumerate(keys):
            prev = last.get(key)
            if prev is None:
                self.offer(index)
            else:
                self.after[prev] = index
            last[key] = index
        return len(last)

    @property
    def count(self) -> int:
        """How many lanes (identities) there are."""
        return self.lane_count

    async def take(self) -> int | None:
        """The next index to send; None when there is no more (or the run stops)."""
        while self.alone:  # the next in order, until closed; held ones once released
            if not self.ready.empty():
                index = self.ready.get_nowait()
                return None if index == _END else index
            if self.closed:
                return None
            if self.next >= self.total:
                break  # what is left was held back: wait for its release (or the end)
            self.next += 1
            if self.admit(self.next - 1):
                return self.next - 1
        index = await self.ready.get()
        return None if index == _END else index

    def done(self, index: int) -> None:
        """The item at `index` is sent (both sides): its lane's next may go."""
        following = -1 if self.alone else self.after[index]
        if following >= 0:
            self.offer(following)
        self.left -= 1
        if not self.left:
            self.close()

    def offer(self, index: int) -> None:
        """A lane is idle with `index` next (replayer/chaining.py holds it back until the
        answers it needs are in)."""
        self.ready.put_nowait(index)

    def admit(self, index: int) -> bool:
        """Whether the item at `index` may go now (else it is held, and offered once it
        may: replayer/chaining.py)."""
        return True

    def close(self) -> None:
        """Wake every worker to stop (items not yet taken stay unsent)."""
        self.closed = True
        for _ in range(self.workers):
            self.ready.put_nowait(_END)
