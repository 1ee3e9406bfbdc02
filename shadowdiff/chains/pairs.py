"""Chains between two recordings of one scenario (`shadowdiff compare SESSION_A SESSION_B`):
B's server issued its own ids and tokens, so B's answers are mapped to A's values before
they are compared, the way replay maps a target's answers to the recording's.

`canonical_pairs` takes the aligned (exchange of A, exchange of B) pairs in order, learns
at each of A's producer places what B answered there, and returns B's exchanges with
their answers mapped back to A's values (copies; the inputs are not changed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from shadowdiff.chains.book import ChainBook
from shadowdiff.chains.detect import detect
from shadowdiff.chains.plan import ChainPlan
from shadowdiff.records import Exchange

__all__ = ["canonical_pairs"]


def canonical_pairs(
    pairs: Sequence[tuple[Exchange, Exchange]],
    key: bytes = b"",
    a_session: Iterable[Exchange] | None = None,
) -> list[Exchange]:
    """B's side of each pair with A's values in place of those B's server issued.

    Chains are detected on A (`a_session`: all of A's exchanges, default the paired ones);
    `key` is the store's redaction key (a secret equal on both sides needs no mapping).
    """
    plan = ChainPlan.of(
        detect(a_session if a_session is not None else [a for a, _ in pairs], key=key).links
    )
    book = ChainBook(key)
    out: list[Exchange] = []
    for a, b in pairs:
        if a.id is not None and a.id in plan.produces:
            book.learn(plan.produces[a.id], b.response_headers, b.response_body)
        headers, body, changed = book.canonical(b.response_headers, b.response_body)
        out.append(
            dataclasses.replace(b, response_headers=headers, response_body=body) if changed else b
        )
    return out
