"""Cross-cutting findings: a difference the new service shows on most endpoints, reported once.

A difference key is (part, general path, kind) (`FindingKey`, built from a stored row by
`key_of` only). After a run is diffed (`diff_one_run` and `--jobs` alike end in
`apply_findings`), a key is *cross-cutting* when it counts on most of the endpoints where its
field exists (`is_crosscutting`):

* on at least ``MIN_ENDPOINTS`` (3) endpoints and on at least ``MIN_SHARE`` (half) of the
  endpoints where the field exists; or on both when the field exists on exactly 2 endpoints.
  A field on one endpoint is never cross-cutting.

"Where the field exists" is collected while diffing (`FieldPresence`): per endpoint, the header
names and the top-level body keys seen on either side. A header key exists where its header
was seen; a body path exists where its top-level key was seen (a deeper path is assumed to
exist wherever its top-level key does, which can only make a key look less cross-cutting);
``status`` and the whole ``body`` exist everywhere. An endpoint where the key differs always
counts as one where it exists.

Cross-cutting keys of one part and kind that differ on exactly the same exchanges are one
cause, so one finding (CORS: headers ``access-control-allow-origin`` and ``vary`` added
together); a header whose value changes on those exchanges too is another finding. A
finding's id is the hash of its keys' ``path:kind`` items (stable across runs of the same
traffic) and is accepted like a signature. Its keys are then taken out of every signature of
the run: an exchange is re-signed with its remaining keys (`signature_for`), and one whose
only differences are run-wide gets the finding's id and text (or, carrying several findings,
one signature naming them all).
So each signature names only what is specific to its endpoint.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from shadowdiff.differ import parse_concrete_path, signature_for, signature_item
from shadowdiff.store import CountingRow, FindingRow, Resigned, Store

__all__ = [
    "MIN_ENDPOINTS",
    "MIN_SHARE",
    "RUN_WIDE",
    "FieldPresence",
    "Finding",
    "FindingKey",
    "apply_findings",
    "find_crosscutting",
    "is_crosscutting",
    "key_of",
    "resign",
]

MIN_ENDPOINTS: Final = 3
MIN_SHARE: Final = 0.5
RUN_WIDE: Final = "run-wide"
MAX_FIELDS_PER_ENDPOINT: Final = 4096  # header names and top-level keys remembered


@dataclass(frozen=True, order=True)
class FindingKey:
    """What a finding is about; a signature item is its ``path:kind/class``. The change class
    is part of the key, so two causes at one path (set order, a leaked bytes repr) never make
    one finding."""

    part: str
    general_path: str
    kind: str
    change: str = ""  # the change class ("" for none)

    @property
    def item(self) -> str:
        return signature_item(self.general_path, self.kind, self.change or None)


def key_of(row: CountingRow) -> FindingKey:
    """The key of a stored counting difference (the one place a key is built)."""
    return FindingKey(row.part, row.general_path, row.kind, row.change or "")


@lru_cache(maxsize=4096)
def _top(path: str) -> tuple[str, str] | None:
    """The part and top-level key of a path (``headers.vary`` -> ("headers", "vary"),
    ``body.items[*].id`` -> ("body", "items")); None for ``body`` and ``status`` themselves."""
    try:
        keys = parse_concrete_path(path.replace("[*]", "[0]"))
    except ValueError:
        return None
    if len(keys) < 2 or keys[0] not in ("headers", "body"):
        return None
    return str(keys[0]), str(keys[1])


class FieldPresence:
    """Per endpoint: the header names and top-level body keys seen on either side. Merged
    across `--jobs` chunks with `merge`. Cheap per exchange: two set updates."""

    def __init__(self) -> None:
        self.by_endpoint: dict[str, tuple[set[str], set[Any]]] = {}

    def add(self, endpoint: str, *trees: dict[str, Any]) -> None:
        seen = self.by_endpoint.get(endpoint)
        if seen is None:
            seen = self.by_endpoint[endpoint] = (set(), set())
        headers_seen, keys_seen = seen
        if len(headers_seen) + len(keys_seen) >= MAX_FIELDS_PER_ENDPOINT:
            return
        for tree in trees:
            headers, body = tree.get("headers"), tree.get("body")
            if isinstance(headers, dict):
                headers_seen.update(headers)
            if isinstance(body, dict):
                keys_seen.update(body)

    def merge(self, other: FieldPresence) -> None:
        for endpoint, (headers, keys) in other.by_endpoint.items():
            mine = self.by_endpoint.setdefault(endpoint, (set(), set()))
            mine[0].update(headers)
            mine[1].update(keys)

    def endpoints_with(self, path: str) -> set[str]:
        """Endpoints where the field of `path` exists (see the module docstring)."""
        top = _top(path)
        if top is None:
            return set(self.by_endpoint)
        i = 0 if top[0] == "headers" else 1
        return {ep for ep, seen in self.by_endpoint.items() if top[1] in seen[i]}


def is_crosscutting(occurs: int, exists: int) -> bool:
    """Does a key differing on `occurs` of the `exists` endpoints with its field qualify?"""
    if exists == 2:
        return occurs == 2
    return occurs >= MIN_ENDPOINTS and occurs >= math.ceil(MIN_SHARE * exists)


@dataclass
class Finding:
    """A run-wide finding: one or more keys that differ on the same exchanges."""

    finding_id: str
    keys: tuple[FindingKey, ...]
    endpoints: int  # where the keys differ
    endpoints_with_field: int  # where the (first) key's field exists
    exchanges: int
    samples: dict[FindingKey, tuple[str | None, str | None]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f"{RUN_WIDE} | {', '.join(k.item for k in self.keys)}"

    @property
    def coverage(self) -> str:
        return (
            f"on {self.endpoints} of {self.endpoints_with_field} endpoints where "
            f"{self.keys[0].general_path} exists; {self.exchanges} exchanges"
        )


def _finding_id(keys: Iterable[FindingKey]) -> str:
    text = f"{RUN_WIDE} | " + ", ".join(sorted(k.item for k in keys))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def find_crosscutting(rows: Iterable[CountingRow], presence: FieldPresence) -> list[Finding]:
    """The run-wide findings of a run's counting rows, most exchanges first."""
    endpoints: dict[FindingKey, set[str]] = defaultdict(set)
    exchanges: dict[FindingKey, set[int]] = defaultdict(set)
    samples: dict[FindingKey, tuple[str | None, str | None]] = {}
    for row in rows:
        key = key_of(row)
        endpoints[key].add(row.endpoint)
        exchanges[key].add(row.exchange_id)
        samples.setdefault(key, (row.old_value, row.new_value))
    exists: dict[FindingKey, int] = {}
    groups: dict[tuple[str, str, frozenset[int]], list[FindingKey]] = defaultdict(list)
    for key in sorted(endpoints):
        exists[key] = len(presence.endpoints_with(key.general_path) | endpoints[key])
        if is_crosscutting(len(endpoints[key]), exists[key]):
            groups[(key.part, key.kind, frozenset(exchanges[key]))].append(key)
    found = [
        Finding(
            _finding_id(keys),
            tuple(keys),
            len(endpoints[keys[0]]),
            max(exists[k] for k in keys),
            len(group[2]),
            {k: samples[k] for k in keys},
        )
        for group, keys in groups.items()
    ]
    return sorted(found, key=lambda f: (-f.exchanges, f.finding_id))


def resign(rows: Iterable[CountingRow], findings: list[Finding]) -> list[Resigned]:
    """New signatures of the exchanges carrying a finding (see the module docstring)."""
    of_key = {k: f for f in findings for k in f.keys}
    per_exchange: dict[int, tuple[str, set[tuple[FindingKey, str]]]] = {}
    for row in rows:
        item = signature_item(row.general_path, row.kind, row.change)  # with its change class
        per_exchange.setdefault(row.exchange_id, (row.endpoint, set()))[1].add((key_of(row), item))
    out: list[Resigned] = []
    for ex_id, (endpoint, pairs) in per_exchange.items():
        carried = {of_key[k].finding_id: of_key[k] for k, _ in pairs if k in of_key}
        if not carried:
            continue
        rest = [item for k, item in pairs if k not in of_key]
        if rest:
            sig, text = signature_for(endpoint, rest)
        elif len(carried) == 1:
            only = next(iter(carried.values()))
            sig, text = only.finding_id, only.text
        else:
            sig, text = signature_for(RUN_WIDE, (k.item for f in carried.values() for k in f.keys))
        out.append(Resigned(ex_id, sig, text))
    return out


def _rows(run_id: int, findings: list[Finding]) -> list[FindingRow]:
    return [
        FindingRow(
            run_id,
            f.finding_id,
            k.part,
            k.general_path,
            k.kind,
            f.text,
            f.endpoints,
            f.endpoints_with_field,
            f.exchanges,
            *f.samples[k],
            k.change,
        )
        for f in findings
        for k in f.keys
    ]


def apply_findings(store: Store, run_id: int, presence: FieldPresence) -> list[Finding]:
    """Find a diffed run's cross-cutting findings, store them and re-sign its diffs."""
    rows = list(store.iter_counting_rows(run_id))
    findings = find_crosscutting(rows, presence)
    store.replace_findings(run_id, _rows(run_id, findings), resign(rows, findings))
    return findings
