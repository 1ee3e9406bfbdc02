"""What each exchange produces and consumes at replay (`ChainPlan`), held compactly.

A session of a million requests may carry hundreds of thousands of links (every request
consuming a login's token). Held as dicts of lists of tuples, with a string per row, that
cost about 500 bytes a link; here places are sorted by exchange id in integer arrays (the
id, then per field an index into one table of distinct locations and values, or the
producer's id), about 30 bytes a place, looked up by binary search. A place's fields come
back as the same tuples the dicts held.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from shadowdiff.chains.detect import Link
from shadowdiff.chains.locations import Scalar
from shadowdiff.redaction import TOKEN_PATTERN

__all__ = ["ChainPlan", "Places"]


class _Table:
    """Distinct locations and values, each stored once (1 and "1" kept apart)."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.index: dict[tuple[type, Any], int] = {}

    def number(self, value: Any) -> int:
        key = (type(value), value)
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.values)
            self.values.append(value)
        return found


class Places(Mapping[int, list[tuple[Any, ...]]]):
    """Exchange id -> its places (tuples of fields, in the order given), from rows of
    (exchange id, fields); `ints` says which fields are exchange ids (stored as they are),
    the others go through `table`. A place already given for an id at the same first field
    (its location) is left out: the first one wins."""

    def __init__(
        self, rows: Iterable[tuple[int, tuple[Any, ...]]], table: _Table, ints: tuple[bool, ...]
    ) -> None:
        self.table, self.ints = table, ints
        self.ids = array("q")
        self.starts = array("q")
        self.columns = [array("q") for _ in ints]
        first = self.columns[0]
        for key, fields in sorted(rows, key=lambda row: row[0]):  # stable: given order kept
            if not self.ids or self.ids[-1] != key:
                self.ids.append(key)
                self.starts.append(len(first))
            coded = [
                f if is_int else table.number(f) for f, is_int in zip(fields, ints, strict=True)
            ]
            if coded[0] in first[self.starts[-1] :]:
                continue  # one place per location
            for column, value in zip(self.columns, coded, strict=True):
                column.append(value)
        self.starts.append(len(first))

    def _at(self, key: object) -> int:
        if not isinstance(key, int):
            return -1
        i = bisect_left(self.ids, key)
        return i if i < len(self.ids) and self.ids[i] == key else -1

    def __getitem__(self, key: int) -> list[tuple[Any, ...]]:
        i = self._at(key)
        if i < 0:
            raise KeyError(key)
        return self._places(i)

    def get(self, key: int, default: Any = None) -> Any:  # asked for every request sent
        i = self._at(key)
        return default if i < 0 else self._places(i)

    def _places(self, i: int) -> list[tuple[Any, ...]]:
        values, ints = self.table.values, self.ints
        return [
            tuple(
                c[k] if is_int else values[c[k]]
                for c, is_int in zip(self.columns, ints, strict=True)
            )
            for k in range(self.starts[i], self.starts[i + 1])
        ]

    def __contains__(self, key: object) -> bool:
        return self._at(key) >= 0

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


class ChainPlan:
    """Per exchange id: what it produces (location, recorded value) and what it consumes
    (location, recorded value, producer exchange id)."""

    def __init__(
        self,
        produces: Mapping[int, list[tuple[Any, ...]]] | None = None,
        consumes: Mapping[int, list[tuple[Any, ...]]] | None = None,
    ) -> None:
        self.produces: Mapping[int, list[tuple[Any, ...]]] = produces or {}
        self.consumes: Mapping[int, list[tuple[Any, ...]]] = consumes or {}

    @classmethod
    def of(cls, links: Iterable[Link]) -> ChainPlan:
        """The plan of `links` (one producer per consumed place, the first link's)."""
        consumed: list[tuple[int, tuple[Any, ...]]] = []
        produced: list[tuple[int, tuple[Any, ...]]] = []
        for link in links:
            consumed.append(
                (link.consumer_id, (link.consumer_location, link.value, link.producer_id))
            )
            was: Scalar = link.value if link.produced is None else link.produced
            produced.append((link.producer_id, (link.producer_location, was)))
        table = _Table()
        consumes = Places(consumed, table, (False, False, True))
        del consumed
        return cls(Places(produced, table, (False, False)), consumes)

    def after(self, exchange_id: int) -> set[int]:
        """The exchanges whose answers this one's request needs."""
        return {producer for _, _, producer in self.consumes.get(exchange_id, ())}

    def tokens(self) -> frozenset[str]:
        """The redaction tokens chains put back (the secret guard need not supply them)."""
        return frozenset(
            str(value)
            for places in self.consumes.values()
            for _, value, _ in places
            if isinstance(value, str) and TOKEN_PATTERN.fullmatch(value)
        )

    def __bool__(self) -> bool:
        return bool(self.consumes)
