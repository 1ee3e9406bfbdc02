"""Chains a rules file adds or turns off: its ``[[chains]]`` entries.

::

    [[chains]]                       # add a chain detection missed
    producer = "POST /login body.token"
    consumer = "* header.authorization"

    [[chains]]                       # turn off every chain from this producer
    producer = "GET /config body.build_id"
    off = true

An end is ``<endpoint> <location>``: the endpoint an exact template (``GET /items/{id}``),
``* /path`` for any method, or ``*`` for any endpoint; the location in the grammar of
`shadowdiff.chains.locations` (list indices as ``[*]``). An added chain links any value
(issued-looking or not) its producer location held to a later request holding it at the
consumer location. ``off`` with a consumer turns off only that pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from shadowdiff.chains.detect import (
    MAX_LINKS,
    RULES,
    Chain,
    ChainSet,
    Link,
    endpoint_of,
    match_key,
)
from shadowdiff.chains.locations import (
    MAX_VALUE,
    Scalar,
    check_location,
    consumed,
    general,
    produced,
)
from shadowdiff.records import Exchange

__all__ = ["ChainRule", "apply_rules", "parse_chain_entry"]

_KEYS: Final = frozenset({"producer", "consumer", "off", "reason"})


@dataclass(frozen=True)
class End:
    endpoint: str  # "*", "* /path" or "METHOD /path"
    location: str  # general form

    def matches(self, endpoint: str, location: str) -> bool:
        if general(location) != self.location:
            return False
        if self.endpoint == "*":
            return True
        method, _, path = self.endpoint.partition(" ")
        have_method, _, have_path = endpoint.partition(" ")
        return path == have_path and method in ("*", have_method.upper())

    def text(self) -> str:
        return f"{self.endpoint} {self.location}"


@dataclass(frozen=True)
class ChainRule:
    producer: End
    consumer: End | None = None
    off: bool = False

    def stored(self) -> dict[str, Any]:
        """As kept in a run's config (and read back by `from_stored`)."""
        consumer = self.consumer.text() if self.consumer else None
        return {"producer": self.producer.text(), "consumer": consumer, "off": self.off}

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> ChainRule:
        return parse_chain_entry(dict(data))


def _end(text: Any, what: str) -> End:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} must be a string '<endpoint> <location>'")
    endpoint, sep, location = text.strip().rpartition(" ")
    endpoint = " ".join(endpoint.split())
    if not sep or not endpoint:
        raise ValueError(f"{what} {text!r} must be '<endpoint> <location>' (endpoint '*': any)")
    method, _, path = endpoint.partition(" ")
    if endpoint != "*" and not path.startswith("/"):
        raise ValueError(f"{what} endpoint {endpoint!r} must be '*', '* /path' or 'METHOD /path'")
    problem = check_location(location)
    if problem is not None:
        raise ValueError(f"{what}: {problem}")
    method = method if method == "*" else method.upper()
    return End(endpoint if endpoint == "*" else f"{method} {path}", general(location))


def parse_chain_entry(raw: Any) -> ChainRule:
    """One ``[[chains]]`` table; ValueError (one line) when it is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("must be a table with producer = ... and consumer = ... or off = true")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (want producer, consumer, off, reason)")
    off = raw.get("off", False)
    if not isinstance(off, bool):
        raise ValueError("off must be true or false")
    producer = _end(raw.get("producer"), "producer")
    consumer = _end(raw["consumer"], "consumer") if raw.get("consumer") is not None else None
    if consumer is None and not off:
        raise ValueError("a chain to add needs a consumer (or off = true to turn one off)")
    return ChainRule(producer, consumer, off)


def apply_rules(
    found: ChainSet, exchanges: Iterable[Exchange], rules: Iterable[ChainRule], key: bytes = b""
) -> ChainSet:
    """Detected chains with the rules' chains added and the ones they turn off disabled
    (`exchanges` in recorded order, read once per added chain)."""
    rules = list(rules)
    offs = [r for r in rules if r.off]
    chains = [c._replace(enabled=not any(_turns_off(r, c) for r in offs)) for c in found.chains]
    result = ChainSet(chains, list(found.links))
    adds = [r for r in rules if not r.off and r.consumer is not None]
    if adds:
        _add(result, list(exchanges), adds, key)
    return result


def _turns_off(rule: ChainRule, chain: Chain) -> bool:
    if not rule.producer.matches(chain.producer_endpoint, chain.producer_location):
        return False
    return rule.consumer is None or rule.consumer.matches(
        chain.consumer_endpoint, chain.consumer_location
    )


def _add(result: ChainSet, exchanges: list[Exchange], adds: list[ChainRule], key: bytes) -> None:
    for rule in adds:
        assert rule.consumer is not None
        seen: dict[str, _Made] = {}  # value (token space) -> its producer
        index: dict[tuple[str, str, str, str], int] = {}
        for ex in exchanges:
            if ex.id is None:
                continue
            for location, _key, value in consumed(ex):
                producer = seen.get(match_key(value, key))
                if producer is None or not rule.consumer.matches(endpoint_of(ex), location):
                    continue
                if len(result.links) >= MAX_LINKS:
                    return
                _link(result, index, producer, ex, location, value)
            if ex.status is None:
                continue
            for location, _key, value in produced(ex.response_headers, ex.response_body):
                fits = 0 < len(str(value)) <= MAX_VALUE
                if fits and rule.producer.matches(endpoint_of(ex), location):
                    seen[match_key(value, key)] = _Made(ex.id, location, endpoint_of(ex), value)


class _Made(NamedTuple):
    exchange_id: int
    location: str
    endpoint: str
    value: Scalar


def _link(
    result: ChainSet,
    index: dict[tuple[str, str, str, str], int],
    producer: _Made,
    ex: Exchange,
    location: str,
    value: Scalar,
) -> None:
    assert ex.id is not None
    key = (producer.endpoint, general(producer.location), endpoint_of(ex), general(location))
    at = index.get(key)
    if at is None:
        at = index[key] = len(result.chains)
        result.chains.append(Chain(*key, 0, str(value), RULES, True))
    result.chains[at] = result.chains[at]._replace(uses=result.chains[at].uses + 1)
    produced = producer.value if str(producer.value) != str(value) else None
    link = Link(at, ex.id, location, producer.exchange_id, producer.location, value, produced)
    result.links.append(link)
