"""A run's work list at constant memory: ids up front, exchanges read a page at a time.

`select_paged` keeps, of the exchanges a run covers, only their ids (8 bytes each);
`PagedExchanges` is a sequence over them that reads exchanges from the store by page (on its
own read-only connection, so it never meets the replay's writer; without the recorded
responses, which a replay never sends) and keeps the last few pages.
`sendable_work` is `pending_work` without the exchanges whose request was cut at capture, as
a `WorkList`: per item its position among the exchanges and its sides, the `Work` built when
asked for. So the replay holds what is in flight and a few pages, whatever the session's size.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, overload

from shadowdiff.records import Exchange, Run
from shadowdiff.replayer.identity import identity_of
from shadowdiff.replayer.idset import IdSet
from shadowdiff.replayer.work import Work, iter_selected
from shadowdiff.store import Store

if TYPE_CHECKING:
    from shadowdiff.replayer.config import ReplayConfig

__all__ = [
    "PAGE",
    "Interned",
    "PagedExchanges",
    "WorkList",
    "requests_with_tokens",
    "select_paged",
    "sendable_work",
    "work_seqs",
]

PAGE: Final = 512  # exchanges read per query
_KEEP: Final = 8  # pages kept: workers take items near each other


class PagedExchanges(Sequence[Exchange]):
    """The exchanges of `ids` (recorded order) of a session, read by page when needed."""

    def __init__(self, path: Path, session_id: int, ids: array[int]) -> None:
        self.path, self.session_id, self.ids = path, session_id, ids
        self.seqs = array("q")  # filled by `select_paged`, as the ids
        self.truncated = bytearray()  # 1 where the recorded request was cut at capture
        self.identities = Interned()  # each exchange's client identity (`identity_of`)
        self._store: Store | None = None
        self._pages: OrderedDict[int, list[Exchange]] = OrderedDict()
        # the first pages as selected, without their request bodies (read when first needed)
        self._selected: dict[int, list[Exchange]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Exchange: ...
    @overload
    def __getitem__(self, index: slice) -> list[Exchange]: ...
    def __getitem__(self, index: int | slice) -> Exchange | list[Exchange]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._page(index // PAGE)[index % PAGE]

    def __iter__(self) -> Iterator[Exchange]:
        for page in range(-(-len(self) // PAGE)):
            yield from self._page(page)

    def _page(self, page: int) -> list[Exchange]:
        found = self._pages.get(page)
        if found is not None:
            self._pages.move_to_end(page)
            return found
        if self._store is None:
            self._store = Store.open(self.path, readonly=True)
        ids = self.ids[page * PAGE : (page + 1) * PAGE]
        loaded = self._selected.pop(page, None)
        if loaded is not None:  # read when selected: only the bodies are missing
            bodies = self._store.request_bodies(ids)
            for ex in loaded:
                ex.request_body = bodies.get(ex.id or 0, b"")
        else:
            read = self._store.iter_exchanges(self.session_id, ids=ids, responses=False)
            by_id = {ex.id: ex for ex in read}
            loaded = [by_id[x] for x in ids]
        self._pages[page] = loaded
        if len(self._pages) > _KEEP:
            self._pages.popitem(last=False)
        return loaded

    def keep_selected(self, exchange: Exchange) -> None:
        """Keep the exchange just appended (read without its request body) if it falls in
        the first pages: they are not read again, only their bodies."""
        position = len(self.ids) - 1
        if position < PAGE * _KEEP:
            self._selected.setdefault(position // PAGE, []).append(exchange)

    def close(self) -> None:
        self._selected.clear()
        if self._store is not None:
            self._store.close()
            self._store = None


class Interned(Sequence[str]):
    """Strings by position, each distinct one held once (an index per position)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.numbers: dict[str, int] = {}
        self.at = array("l")

    def append(self, name: str) -> None:
        self.at.append(self.numbers.setdefault(name, len(self.names)))
        if self.at[-1] == len(self.names):
            self.names.append(name)

    def __len__(self) -> int:
        return len(self.at)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self.names[i] for i in self.at[index]]
        return self.names[self.at[index]]


def select_paged(
    store: Store, session_id: int, config: ReplayConfig, timed_out: list[int] | None = None
) -> PagedExchanges:
    """`select_exchanges` keeping only ids, seqs and client identities (the exchanges are
    read again by page), and the first pages' exchanges as read (their request bodies are
    read when those pages are first needed)."""
    paged = PagedExchanges(store.path, session_id, array("q"))
    for ex in iter_selected(store, session_id, config, timed_out, bodies=False):
        paged.ids.append(ex.id or 0)
        paged.seqs.append(ex.seq or 0)
        paged.truncated.append(ex.request_truncated)
        paged.keep_selected(ex)
        if config.order == "identity":
            paged.identities.append(identity_of(ex, config.identity))
    return paged


_SIDE_BITS: Final = {"candidate": 1, "baseline": 2, "primary": 4}


class WorkList(Sequence[Work]):
    """Work items over a sequence of exchanges: positions and sides, 9 bytes an item."""

    def __init__(self, exchanges: Sequence[Exchange]) -> None:
        self.exchanges = exchanges
        self.positions = array("q")
        self.sides = bytearray()  # bit 1: candidate, bit 2: baseline, bit 4: primary

    def add(self, position: int, candidate: bool, baseline: bool, primary: bool = False) -> None:
        self.positions.append(position)
        self.sides.append(candidate | baseline << 1 | primary << 2)

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, index: int) -> Work: ...
    @overload
    def __getitem__(self, index: slice) -> list[Work]: ...
    def __getitem__(self, index: int | slice) -> Work | list[Work]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        sides = self.sides[index]
        exchange = self.exchanges[self.positions[index]]
        return Work(exchange, bool(sides & 1), bool(sides & 2), bool(sides & 4))

    def __iter__(self) -> Iterator[Work]:
        return (self[i] for i in range(len(self)))

    def ids(self, side: str | None = None) -> array[int]:
        """The exchange ids of the items, in order (`side`: candidate, baseline or primary,
        those that side is sent), without reading paged exchanges."""
        bit = _SIDE_BITS[side] if side is not None else 7
        source = self.exchanges
        if isinstance(source, PagedExchanges):
            return array("q", (source.ids[p] for p, s in self._each() if s & bit))
        return array("q", (source[p].id or 0 for p, s in self._each() if s & bit))

    @property
    def sends(self) -> int:
        """How many sends the items make (every side of every item)."""
        return sum(bin(s).count("1") for s in self.sides)

    def seqs(self) -> Sequence[int]:
        """Each item's seq (without reading the exchanges where they were selected here)."""
        source = self.exchanges
        if isinstance(source, PagedExchanges):
            return array("q", (source.seqs[p] for p in self.positions))
        return [source[p].seq or 0 for p in self.positions]

    def identities(self, identity: str | None) -> Sequence[str]:
        """Each item's client identity (`identity_of`)."""
        source = self.exchanges
        if isinstance(source, PagedExchanges) and len(source.identities) == len(source):
            picked = Interned()
            for p in self.positions:
                picked.append(source.identities[p])
            return picked
        return [identity_of(source[p], identity) for p in self.positions]

    def _each(self) -> Iterator[tuple[int, int]]:
        return zip(self.positions, self.sides, strict=True)


def sendable_work(
    store: Store,
    run: Run,
    baseline: Run | None,
    exchanges: Sequence[Exchange],
    primary: Run | None = None,
) -> tuple[WorkList, int]:
    """`pending_work` without the requests cut at capture (they cannot be sent as recorded),
    and how many those were. In lockstep (`primary`) the primary is a side too."""
    done = store.replayed_ids(run.id)
    base_done = store.replayed_ids(baseline.id) if baseline is not None else None
    prim_done = store.replayed_ids(primary.id) if primary is not None else None
    work = WorkList(exchanges)
    skipped = 0
    for position, (exchange_id, truncated) in enumerate(_ids_and_cuts(exchanges)):
        cand = exchange_id not in done
        base = base_done is not None and exchange_id not in base_done
        prim = prim_done is not None and exchange_id not in prim_done
        if not (cand or base or prim):
            continue
        if truncated:
            skipped += 1
        else:
            work.add(position, cand, base, prim)
    return work, skipped


def _ids_and_cuts(exchanges: Sequence[Exchange]) -> Iterator[tuple[int, bool]]:
    """(id, request cut at capture) of each exchange, without reading paged ones again."""
    if isinstance(exchanges, PagedExchanges) and len(exchanges.truncated) == len(exchanges):
        return zip(exchanges.ids, map(bool, exchanges.truncated), strict=True)
    return ((ex.id or 0, ex.request_truncated) for ex in exchanges)


def requests_with_tokens(
    store: Store, session_id: int, work: Sequence[Work], kept: int = PAGE * _KEEP
) -> Iterator[Exchange]:
    """The work's requests that may hold a redaction token (`Store.ids_with_request_tokens`):
    those the secret guard surveys. A paged work list larger than the pages kept (`kept`
    exchanges) has only them read, a page of ids at a time (the run reads its pages again
    anyway); a smaller one is read through its pages, which the run then finds kept."""
    marked = IdSet()
    for x in store.ids_with_request_tokens(session_id):
        marked.add(x)
    if (
        not isinstance(work, WorkList)
        or not isinstance(work.exchanges, PagedExchanges)
        or len(work.exchanges) <= kept
    ):
        if isinstance(work, WorkList):  # by position: no work item built for each
            source = work.exchanges
            yield from (ex for ex in map(source.__getitem__, work.positions) if ex.id in marked)
        else:
            yield from (w.exchange for w in work if (w.exchange.id or 0) in marked)
        return
    chosen = array("q", (x for x in work.ids() if x in marked))
    for start in range(0, len(chosen), PAGE):
        yield from store.iter_exchanges(
            session_id, ids=chosen[start : start + PAGE], responses=False
        )


def work_seqs(work: Sequence[Work]) -> Sequence[int]:
    """The seqs of a work list, in its order."""
    return work.seqs() if isinstance(work, WorkList) else [w.exchange.seq or 0 for w in work]
