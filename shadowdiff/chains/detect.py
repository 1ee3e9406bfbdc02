"""Finding chains: values a response issued that later requests send back.

`detect` walks a session's exchanges in recorded order. Each response PRODUCES the values
that look issued by a server (`looks_issued`: uuids, ulids, long hex or token-like strings,
slugs with digits, redaction tokens, cookies it sets, integers of two digits or more under
a key that names an id); each later request CONSUMES the values it carries (path segments,
query values, JSON and form body values, header credentials, cookies). A consumed value
links to the most recent earlier producer of that exact value, one of the same client
identity first (but a value's first consumer links the answer that issued it, so that
answer is learned at replay). Values are matched in token space (`match_key`: a value is
its redaction token under the store's key), so a secret stored as its token at one end and
in clear at the other (a ``"jwt"`` answer key that is not a secret name, a CSRF cookie sent
back in a plain header) still links. A chain is the aggregate of its links: (producer
endpoint, location) -> (consumer endpoint, location), with a count and the first value as
an example (recorded values: a secret is already its redaction token). Bounded: values per
exchange, value length, JSON depth (`locations`), links per session, values remembered.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from shadowdiff.chains.locations import MAX_VALUE, Scalar, consumed, general, produced
from shadowdiff.records import Exchange
from shadowdiff.redaction import TOKEN_PATTERN, redaction_token

__all__ = [
    "MAX_LINKS",
    "Chain",
    "ChainSet",
    "Link",
    "default_identity",
    "detect",
    "endpoint_of",
    "looks_issued",
    "match_key",
    "names_an_id",
]

MAX_PER_EXCHANGE: Final = 64  # values produced, and links made, per exchange
MAX_LINKS: Final = 200_000  # links per session
MAX_REMEMBERED: Final = 100_000  # distinct produced values kept while walking, the newest
MIN_INT_ID: Final = 10  # smaller integers never chain (1, 2, 3 are everywhere)
DETECTED: Final = "detected"
RULES: Final = "rules"

_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_HEX = re.compile(r"[0-9a-fA-F]{16,}")
_TOKENISH = re.compile(r"[A-Za-z0-9_\-.~+/=]{16,}")
_SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGITS = re.compile(r"-?\d+")


class Chain(NamedTuple):
    """A producer (endpoint, location) and a consumer (endpoint, location); locations in
    their general form (``body.items[*].id``)."""

    producer_endpoint: str
    producer_location: str
    consumer_endpoint: str
    consumer_location: str
    uses: int  # links: consumed values (stored as `count`)
    example: str
    origin: str = DETECTED  # detected | rules
    enabled: bool = True


class Link(NamedTuple):
    """One consumed value and the exchange that produced it (locations concrete)."""

    chain: int  # index of its Chain in ChainSet.chains
    consumer_id: int
    consumer_location: str
    producer_id: int
    producer_location: str
    value: Scalar  # as the consumer holds it (recorded)
    produced: Scalar | None = None  # as the producer holds it, when it differs (in clear)


@dataclass
class ChainSet:
    chains: list[Chain] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def enabled_links(self) -> list[Link]:
        return [link for link in self.links if self.chains[link.chain].enabled]


def names_an_id(key: str) -> bool:
    """``id``, ``user_id``, ``userId``, ``ID``: a key whose value is an identifier."""
    return key.lower() == "id" or key.lower().endswith("_id") or key.endswith(("Id", "ID"))


def looks_issued(key: str, value: Scalar) -> bool:
    """Whether a produced value looks issued by the server (worth chaining), not a word,
    a flag, a count or a date that many unrelated answers share."""
    if isinstance(value, int):
        return names_an_id(key) and abs(value) >= MIN_INT_ID
    if len(value) <= 20 and _DIGITS.fullmatch(value):
        return names_an_id(key) and abs(int(value)) >= MIN_INT_ID
    if not 6 <= len(value) <= MAX_VALUE:
        return False
    if TOKEN_PATTERN.fullmatch(value) or _UUID.fullmatch(value) or _ULID.fullmatch(value):
        return True
    if _DATE.match(value):
        return False
    if _HEX.fullmatch(value):
        return True
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if _TOKENISH.fullmatch(value):
        return has_digit and has_alpha
    return bool(_SLUG.fullmatch(value)) and has_digit and has_alpha


def endpoint_of(exchange: Exchange) -> str:
    return exchange.endpoint or f"{exchange.method} {exchange.path}"


def default_identity(exchange: Exchange) -> str:
    """Who sent a request, for preferring its own producers: the Authorization value, else
    the Cookie header, else the client address."""
    for wanted in ("authorization", "cookie"):
        value = exchange.request_header(wanted)
        if value:
            return f"{wanted}:{value}"
    return f"client:{exchange.client or ''}"


@dataclass
class _Producer:
    exchange_id: int
    location: str
    endpoint: str
    value: Scalar


@dataclass
class _Seen:
    numeric: bool  # an integer id: consumed only where an id goes
    latest: _Producer
    by_identity: dict[str, _Producer] = field(default_factory=dict)
    origin: _Producer | None = None  # the exchange that issued it (its first producer)
    origin_linked: bool = False


def match_key(value: Scalar, key: bytes) -> str:
    """A value in token space: a redaction token as it is, anything else its token under
    ``key`` (so a secret in clear matches its token elsewhere)."""
    text = str(value)
    return text if TOKEN_PATTERN.fullmatch(text) else redaction_token(key, text)


def _id_place(location: str, key: str) -> bool:
    return location.startswith("path[") or names_an_id(key)


class _Walk:
    """The state of one detection walk."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.seen: dict[str, _Seen] = {}
        self.arrived: deque[str] = deque()  # the keys of `seen`, oldest first
        self.result = ChainSet()
        self.index: dict[tuple[str, str, str, str], int] = {}

    def consume(self, ex: Exchange, identity: str) -> None:
        assert ex.id is not None
        made = 0
        for location, key, value in consumed(ex):
            found = self.seen.get(match_key(value, self.key))
            if found is None or (found.numeric and not _id_place(location, key)):
                continue
            producer = found.by_identity.get(identity, found.latest)
            if not found.origin_linked and found.origin is not None:
                # the value's first consumer links the exchange that issued it, so that
                # its answer is learned and mapped back at replay too (a later producer,
                # e.g. a list repeating the id, may be what other consumers link)
                producer, found.origin_linked = found.origin, True
            self.add(producer, ex, location, value)
            made += 1
            if made >= MAX_PER_EXCHANGE or len(self.result.links) >= MAX_LINKS:
                return

    def add(self, producer: _Producer, ex: Exchange, location: str, value: Scalar) -> None:
        assert ex.id is not None
        chain_key = (
            producer.endpoint,
            general(producer.location),
            endpoint_of(ex),
            general(location),
        )
        at = self.index.get(chain_key)
        chains = self.result.chains
        if at is None:
            at = self.index[chain_key] = len(chains)
            chains.append(Chain(*chain_key, 0, str(value)))
        chains[at] = chains[at]._replace(uses=chains[at].uses + 1)
        produced = producer.value if str(producer.value) != str(value) else None
        link = Link(at, ex.id, location, producer.exchange_id, producer.location, value, produced)
        self.result.links.append(link)

    def produce(self, ex: Exchange, identity: str) -> None:
        assert ex.id is not None
        if ex.status is None or ex.response_truncated:
            return
        made = 0
        for location, key, value in produced(ex.response_headers, ex.response_body):
            if not looks_issued(key, value):
                continue
            producer = _Producer(ex.id, location, endpoint_of(ex), value)
            match = match_key(value, self.key)
            found = self.seen.get(match)
            if found is None:
                if len(self.seen) >= MAX_REMEMBERED:  # forget the oldest: consumers follow
                    del self.seen[self.arrived.popleft()]  # their producers closely
                self.arrived.append(match)
                found = self.seen[match] = _Seen(isinstance(value, int), producer, origin=producer)
            elif found.latest.exchange_id == ex.id:
                continue  # one answer, one place per value: the first (the body before headers)
            found.latest = producer
            found.by_identity[identity] = producer
            made += 1
            if made >= MAX_PER_EXCHANGE:
                return


def detect(
    exchanges: Iterable[Exchange],
    identity: Callable[[Exchange], str] = default_identity,
    key: bytes = b"",
) -> ChainSet:
    """The chains and links of a session's exchanges, given in recorded (seq) order (a
    stream: only the values produced so far are kept); `key` is the store's redaction key."""
    walk = _Walk(key)
    for ex in exchanges:
        if ex.id is None:
            continue
        who = identity(ex)
        if len(walk.result.links) < MAX_LINKS and not ex.request_truncated:
            walk.consume(ex, who)
        walk.produce(ex, who)
    return walk.result
