"""A session's chains through a store: detected once (at record or import time, or when
first needed) and kept; the rules file's ``[[chains]]`` applied on top.

`ChainStore` is the part of `shadowdiff.store.Store` used here (the store does not import
this package, nor this package the store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from shadowdiff.chains.detect import Chain, ChainSet, Link, default_identity, detect
from shadowdiff.chains.rules import ChainRule, apply_rules
from shadowdiff.records import Exchange

__all__ = ["ChainStore", "compute_chains", "session_chainset"]


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
) -> ChainSet:
    """Detect a session's chains (with `rules` applied) and store them in place of any."""
    key = store.redaction_key()
    found = detect(store.iter_exchanges(session_id), identity, key)  # streamed, in seq order
    if rules:
        found = apply_rules(found, store.iter_exchanges(session_id), rules, key)
    total = store.session_totals(session_id)[0]
    store.replace_chains(session_id, found.chains, found.links, total)
    return found


def session_chainset(
    store: ChainStore,
    session_id: int,
    exchanges: int,
    rules: Sequence[ChainRule] = (),
    identity: Callable[[Exchange], str] = default_identity,
) -> ChainSet:
    """A session's chains: the stored ones when they are current (computed over its
    `exchanges` count, no rules to apply), else computed now and stored."""
    if not rules and store.chains_computed_at(session_id) == exchanges:
        chains = [Chain(*row) for row in store.session_chains(session_id)]
        links = [Link(*row) for row in store.session_links(session_id)]
        if all(c.origin != "rules" and c.enabled for c in chains):
            return ChainSet(chains, links)
    return compute_chains(store, session_id, rules, identity)
