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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from shadowdiff.chains.book import ChainBook
from shadowdiff.chains.plan import ChainPlan
from shadowdiff.chains.rules import ChainRule
from shadowdiff.chains.stored import ReadProgress, session_chainset
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
    """Lanes whose next request waits until the requests it needs are done: `needs` gives,
    per work index, the names of the items it waits for (a mapping or a list of them, or a
    function), `name` an item's name (its index unless given: the replay names items by
    exchange id). Per item nothing is held: the finished names as a bitmap, and the items
    waiting."""

    def __init__(
        self,
        keys: Sequence[str],
        workers: int,
        needs: Callable[[int], Collection[int]]
        | Mapping[int, Collection[int]]
        | Sequence[Collection[int]],
        name: Callable[[int], int] | None = None,
    ) -> None:
        if callable(needs):
            self.needs = needs
        else:
            pairs = needs.items() if isinstance(needs, Mapping) else enumerate(needs)
            table = {i: n for i, n in pairs if n}
            self.needs = lambda index: table.get(index, ())
        self.name = name
        self.finished = IdSet()  # names of the items done
        self.held: dict[int, int] = {}  # index -> answers still missing
        self.waiting: dict[int, list[int]] = {}  # name waited for -> indexes held for it
        super().__init__(keys, workers)

    def admit(self, index: int) -> bool:
        missing = [p for p in self.needs(index) if p not in self.finished]
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
        name = index if self.name is None else self.name(index)
        self.finished.add(name)
        super().done(index)
        for consumer in self.waiting.pop(name, ()):
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
        cls,
        store: Store,
        session_id: int,
        config: ReplayConfig,
        ids: Iterable[int],
        progress: ReadProgress | None = None,
    ) -> Chainer:
        """The chains among the exchanges of `ids` (none with --no-chains); `progress`
        hears of a detection that reads the session (its chains not stored yet)."""
        if not config.chains:
            return cls()
        rules = [ChainRule.from_stored(r) for r in config.chain_rules]
        total = store.session_totals(session_id)[0]
        found = session_chainset(store, session_id, total, rules, progress=progress)
        wanted = IdSet()  # a bit per id: a million cost 125 KB
        for x in ids:
            wanted.add(x)
        on = [chain.enabled for chain in found.chains]
        links = (x for x in found.links if on[x.chain] and x.consumer_id in wanted)
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
        makers = self.plan.produces  # positions of producers only: few next to a million
        position = {x: i for i, x in enumerate(ids) if x in makers}
        moved: dict[int, str] = {}
        for i, x in enumerate(ids):
            for _location, value, producer in self.plan.consumes.get(x, ()):
                p = position.get(producer)
                if p is not None and p < i and p not in moved and str(value) in keys[i]:
                    moved[p] = keys[i]
        return MovedKeys(keys, moved) if moved else keys

    def lanes(self, keys: Sequence[str], workers: int, ids: Sequence[int]) -> Lanes:
        """The order's lanes, with each request held until its producers are done (`ids`:
        the work items' exchange ids; a producer not among them is not waited for)."""
        if not self.plan:
            return Lanes(keys, workers)
        sent = IdSet()
        for x in ids:
            sent.add(x)
        consumes = self.plan.consumes

        def needs(index: int) -> list[int]:
            return [p for _, _, p in consumes.get(ids[index], ()) if p in sent]

        return ChainedLanes(keys, workers, needs, ids.__getitem__)
