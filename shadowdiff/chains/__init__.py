"""Chained server-issued values: ids and tokens a response issued that later requests send.

Pure (no I/O): `locations` (where a value sits in a request or response, read and written),
`detect` (a session's exchanges -> chains and their links), `rules` (a rules file's
``[[chains]]`` entries), `book` (per target: recorded value -> the value that target issued;
request rewriting and answer canonicalisation), `pairs` (the same between two recordings),
`stored` (detect once and keep the result through any store with the chain methods).
Detection itself is `shadowdiff.chains.detect.detect`.
"""

from __future__ import annotations

from shadowdiff.chains.book import ChainBook, Rewritten
from shadowdiff.chains.detect import Chain, ChainSet, Link, looks_issued
from shadowdiff.chains.pairs import canonical_pairs
from shadowdiff.chains.plan import ChainPlan
from shadowdiff.chains.rules import ChainRule, apply_rules, parse_chain_entry

__all__ = [
    "Chain",
    "ChainBook",
    "ChainPlan",
    "ChainRule",
    "ChainSet",
    "Link",
    "Rewritten",
    "apply_rules",
    "canonical_pairs",
    "looks_issued",
    "parse_chain_entry",
]
