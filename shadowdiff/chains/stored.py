"""A session's chains through a store: detected once (at record or import time, or when
first needed) and kept; the rules file's ``[[chains]]`` applied on top.

`ChainStore` is the part of `shadowdiff.store.Store` used here (the store does not import
this package, nor this package the store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol

from shadowdiff.chains.detect import Chain, ChainSet, Link, default_identity, detect
from shadowdiff.chains.rules import ChainRule, apply_rules
from shadowdiff.records import Exchange

__all__ = ["ChainStore", "ReadProgress", "compute_chains", "session_chainset"]

TICK: Final = 4096  # exchanges read between two ticks of the progress
# given how many exchanges a detection will read, what to tell how many it has read
ReadProgress = Callable[[int], Callable[[int], None]]


class ChainStore(Protocol):
    def chains_computed_at(self, session_id: int) -> int | None: ...
    def replace_chains(
        self,
        session_id: int,
        chains: Sequence[Sequence[Any]],
        links: Sequence[Sequence[Any]],
        exchanges: int,
    ) -> None: ...
    def session_chains(self, session_id: int) -> list[tuple[Any, ...]]: ...
    def session_links(self, session_id: int) -> list[tuple[Any, ...]]: ...
    def iter_exchanges(self, session_id: int) -> Iterable[Exchange]: ...
    def session_totals(self, session_id: int) -> tuple[int, int]: ...
    def redaction_key(self) -> bytes: ...


def compute_chains(
    store: ChainStore,
    session_id: int,
    rules: Sequence[ChainRule] = (),
    identity: Callable[[Exchange], str] = default_identity,
    progress: ReadProgress | None = None,
) -> ChainSet:
    """Detect a session's chains (with `rules` applied) and store them in place of any.
    `progress`, given how many exchanges will be read, returns what to tell as they are."""
    key = store.redaction_key()
    total = store.session_totals(session_id)[0]
    rereads = any(not r.off and r.consumer is not None for r in rules)  # a chain to add
    tick = progress(total * (2 if rereads else 1)) if progress is not None else None
    found = detect(_told(store.iter_exchanges(session_id), tick), identity, key)  # in seq order
    if rules:
        found = apply_rules(found, _told(store.iter_exchanges(session_id), tick), rules, key)
    store.replace_chains(session_id, found.chains, found.links, total)
    return found


def session_chainset(
    store: ChainStore,
    session_id: int,
    exchanges: int,
    rules: Sequence[ChainRule] = (),
    identity: Callable[[Exchange], str] = default_identity,
    progress: ReadProgress | None = None,
) -> ChainSet:
    """A session's chains: the stored ones when they are current (computed over its
    `exchanges` count, no rules to apply), else computed now and stored."""
    if not rules and store.chains_computed_at(session_id) == exchanges:
        chains = [Chain(*row) for row in store.session_chains(session_id)]
        links = [Link(*row) for row in store.session_links(session_id)]
        if all(c.origin != "rules" and c.enabled for c in chains):
            return ChainSet(chains, links)
    return compute_chains(store, session_id, rules, identity, progress)


def _told(exchanges: Iterable[Exchange], tick: Callable[[int], None] | None) -> Iterator[Exchange]:
    """The exchanges, `tick` told every TICK of them read."""
    n = 0
    for n, ex in enumerate(exchanges, 1):
        yield ex
        if tick is not None and n % TICK == 0:
            tick(TICK)
    if tick is not None and n % TICK:
        tick(n % TICK)
