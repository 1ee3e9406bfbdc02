"""Chains at replay (shadowdiff/chains): each target's own issued values, requests rewritten
with them, answers mapped back, and requests held until the answers they need are in.

`Chainer.start` gets the session's chains (detected when first needed, the rules file's
``[[chains]]`` applied) and keeps the links among the exchanges being sent. Per target
kind (candidate, baseline, ...) a `ChainBook` learns from the target's raw answers.
`request` rewrites a request before the secret guard fills it; `finish` learns and
canonicalises an answer before the guard redacts it, flagging it ``chained`` (something
was mapped back) or ``unchained`` (a consumed value its target never issued: the request
went as recorded). `ChainedLanes` holds a request back until every exchange producing a
value it consumes is done (sent to every target and answered); a producer is always
earlier in the work list, so the earliest unsent request can always go: no deadlock, and
the wait is bounded by the sends before it. A login belongs to the identity whose token
it produced (`lane_keys`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from shadowdiff.chains.book import ChainBook, ChainPlan
from shadowdiff.chains.rules import ChainRule
from shadowdiff.chains.stored import session_chainset
from shadowdiff.records import Exchange, Replay
from shadowdiff.replayer.config import ReplayConfig
from shadowdiff.replayer.idset import IdSet
from shadowdiff.replayer.order import EachAlone, Lanes
from shadowdiff.replayer.secret_guard import SecretGuard
from shadowdiff.store import Store
from shadowdiff.vocabulary import ReplayFlag

__all__ = ["ChainTallies", "ChainedLanes", "Chainer", "MovedKeys"]


class MovedKeys(Sequence[str]):
    """Lane keys with a few moved (a login into the lane of the identity it made), the
    rest read through: a million keys are not copied for a few."""

    def __init__(self, keys: Sequence[str], moved: dict[int, str]) -> None:
        self.keys, self.moved = keys, moved

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        if not isinstance(index, int):
            raise TypeError("lane keys are read one at a time")
        if index < 0:
            index += len(self.keys)
        return self.moved.get(index, self.keys[index])

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))


class ChainTallies(TypedDict):
    chained: int
    unchained: int


class ChainedLanes(Lanes):
    """Lanes whose next request waits until the requests it needs (`needs`: work index ->
    the work indexes whose answers it needs) are done. Per item nothing: only the waiting
    items, and the producers that finished, are held."""

    def __init__(
        self,
        keys: Sequence[str],
        workers: int,
        needs: Mapping[int, Collection[int]] | Sequence[Collection[int]],
    ) -> None:
        pairs = needs.items() if isinstance(needs, Mapping) else enumerate(needs)
        self.needs: dict[int, Collection[int]] = {i: n for i, n in pairs if n}
        self.producers = {p for n in self.needs.values() for p in n}
        self.finished: set[int] = set()  # producers done
        self.held: dict[int, int] = {}  # index -> answers still missing
        self.waiting: dict[int, list[int]] = {}  # producer index -> indexes held for it
        super().__init__(keys, workers)

    def admit(self, index: int) -> bool:
        missing = [p for p in self.needs.get(index, ()) if p not in self.finished]
        if not missing:
            return True
        self.held[index] = len(missing)
        for producer in missing:
            self.waiting.setdefault(producer, []).append(index)
        return False

    def offer(self, index: int) -> None:
        if self.admit(index):
            super().offer(index)

    def done(self, index: int) -> None:
        if index in self.producers:
            self.finished.add(index)
        super().done(index)
        for consumer in self.waiting.pop(index, ()):
            missing = self.held.pop(consumer)
            if missing > 1:
                self.held[consumer] = missing - 1
            else:
                super().offer(consumer)


@dataclass
class Chainer:
    plan: ChainPlan = field(default_factory=ChainPlan)
    key: bytes = b""
    books: dict[str, ChainBook] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    unchained: dict[tuple[int, str], bool] = field(default_factory=dict)

    @classmethod
    def start(
        cls, store: Store, session_id: int, config: ReplayConfig, ids: Iterable[int]
    ) -> Chainer:
        """The chains among the exchanges of `ids` (none with --no-chains)."""
        if not config.chains:
            return cls()
        rules = [ChainRule.from_stored(r) for r in config.chain_rules]
        total = store.session_totals(session_id)[0]
        found = session_chainset(store, session_id, total, rules)
        wanted = IdSet()  # a bit per id: a million cost 125 KB
        for x in ids:
            wanted.add(x)
        links = [link for link in found.enabled_links() if link.consumer_id in wanted]
        return cls(ChainPlan.of(links), store.redaction_key())

    @property
    def tokens(self) -> frozenset[str]:
        """Redaction tokens chains put back into requests (no --secrets value needed)."""
        return self.plan.tokens()

    def tallies(self) -> ChainTallies:
        """The ReplayResult's counts: answers mapped back, requests sent unchained."""
        return ChainTallies(chained=self.counts["chained"], unchained=self.counts["unchained"])

    def book(self, kind: str) -> ChainBook:
        found = self.books.get(kind)
        if found is None:
            found = self.books[kind] = ChainBook(self.key)
        return found

    def request(self, exchange: Exchange, kind: str, guard: SecretGuard) -> Exchange:
        """The request to send to the `kind` target: its values in, secrets filled."""
        places = self.plan.consumes.get(exchange.id) if exchange.id is not None else None
        if not places:
            return guard.outgoing(exchange)
        assert exchange.id is not None
        done = self.book(kind).rewrite(exchange, places)
        self.unchained[(exchange.id, kind)] = done.unchained
        if done.exchange is exchange:
            return guard.outgoing(exchange)
        return guard.rewritten(done.exchange)

    def finish(self, exchange: Exchange, kind: str, replay: Replay) -> Replay:
        """Learn from the raw answer, map the target's values back, flag (before redaction)."""
        if exchange.id is None:
            return replay
        if self.unchained.pop((exchange.id, kind), False):
            replay.flags.append(ReplayFlag.UNCHAINED)
            self.counts["unchained"] += 1
        if replay.error is not None or ReplayFlag.TRUNCATED in replay.flags:
            return replay
        book = self.book(kind)
        places = self.plan.produces.get(exchange.id)
        if places:
            book.learn(places, replay.headers, replay.body)
        headers, body, changed = book.canonical(replay.headers, replay.body)
        if changed:
            replay.headers, replay.body = headers, body
            replay.flags.append(ReplayFlag.CHAINED)
            self.counts["chained"] += 1
        return replay

    def lane_keys(self, keys: Sequence[str], ids: Sequence[int]) -> Sequence[str]:
        """A producer whose value a request's identity is made of (a login's token, a
        session cookie) goes in that identity's lane. `ids`: the work items' exchange ids
        (without chains, or with every item its own lane, `keys` as they are)."""
        if not self.plan or isinstance(keys, EachAlone):
            return keys
        index_of = self._positions(ids)
        moved: dict[int, str] = {}
        for x, i in index_of.items():
            for _location, value, producer in self.plan.consumes.get(x, ()):
                p = index_of.get(producer)
                if p is not None and p < i and str(value) in keys[i] and p not in moved:
                    moved[p] = keys[i]
        return MovedKeys(keys, moved) if moved else keys

    def lanes(self, keys: Sequence[str], workers: int, ids: Sequence[int]) -> Lanes:
        """The order's lanes, with each request held until its producers are done (`ids`:
        the work items' exchange ids)."""
        if not self.plan:
            return Lanes(keys, workers)
        index_of = self._positions(ids)
        needs: dict[int, set[int]] = {}
        for x, i in index_of.items():
            before = {index_of[p] for p in self.plan.after(x) if index_of.get(p, i) < i}
            if before:
                needs[i] = before
        return ChainedLanes(keys, workers, needs)

    def _positions(self, ids: Sequence[int]) -> dict[int, int]:
        """Work index of each exchange id some link names (not of every id: a million
        items, few chained)."""
        named = self.plan.involved()
        return {x: i for i, x in enumerate(ids) if x in named}
