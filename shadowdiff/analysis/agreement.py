"""Agreement figures: how much the new service's values differ from the old one's, per path.

Collected while a run is diffed (`diff_one_run` feeds every compared pair to an
`AgreementCollector`) and stored per (run, endpoint, general path, value type) in the
`agreement` table. Which paths have figures:

* every path a ``tolerance`` rule names (in scope for the endpoint and statuses): each pair of
  numbers at or below it, equal ones too, so the figures describe every compared value (the
  walk is over the lifted trees: a number another rule ignores below such a path counts too);
* every body path where a *counting* value difference shows between two numbers or two labels
  (strings, booleans): such a path is learned the first time it differs, and the pairs of the
  endpoint's earlier exchanges (all equal there, since it never differed) are counted by a
  catch-up pass over those exchanges only (`pending` / `catch_up`). At most
  `MAX_LEARNED_PATHS` paths are learned per endpoint.

Per number path: count, how many agree (within the tolerance rule at that path; equal when no
rule covers it), the largest absolute and relative error (|a - b| / max(|a|, |b|)), and
p50/p99 of the absolute error from an `ErrorSketch` (exact up to 2,048 differing values, then
within 0.5%). Per label path: count, how many are equal, and the most frequent old -> new
changes (`TopChanges`). Memory is bounded per path, whatever the number of values.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from shadowdiff.analysis.agreement_walk import pair_leaves
from shadowdiff.analysis.sketch import ErrorSketch, TopChanges
from shadowdiff.differ import (
    Comparison,
    Rule,
    RuleSet,
    generalize_path,
    parse_concrete_path,
    parse_pattern,
)
from shadowdiff.differ.paths import Segment, match_segments
from shadowdiff.store import AgreementRow
from shadowdiff.vocabulary import DiffKind, Part, RuleKind, Verdict

__all__ = ["MAX_LEARNED_PATHS", "SHOWN_CHANGES", "AgreementCollector"]

MAX_LEARNED_PATHS: Final = 64
_INF: Final = float("inf")
SHOWN_CHANGES: Final = 5
NUMBER: Final = "number"
LABEL: Final = "label"


@dataclass
class _Figures:
    """Running figures of one (endpoint, general path, value type)."""

    rule: Rule | None
    compared: int = 0
    agreeing: int = 0
    max_rel: float = 0.0
    errors: ErrorSketch = field(default_factory=ErrorSketch)
    changes: TopChanges = field(default_factory=TopChanges)

    def numbers(self, olist: Iterable[Any], nlist: Iterable[Any]) -> None:
        """Count the pairs of numbers of two sequences (other pairs are skipped)."""
        rule = self.rule
        rel_tol, abs_tol = (rule.rel_tol, rule.abs_tol) if rule is not None else (0.0, 0.0)
        errors: list[float] = []
        append = errors.append
        compared = agreeing = zeros = 0
        max_rel = self.max_rel
        for a, b in zip(olist, nlist, strict=False):
            ta = type(a)
            if ta is not float or type(b) is not float:  # the common case is two floats
                tb = type(b)
                if not ((ta is float or ta is int) and (tb is float or tb is int)):
                    continue
            compared += 1
            if a == b:
                zeros += 1
                continue
            try:
                d = a - b if a > b else b - a
                aa = a if a >= 0 else -a
                bb = b if b >= 0 else -b
                scale = aa if aa > bb else bb
                rel = d / scale
            except (OverflowError, ZeroDivisionError):  # ints too large for a float
                d = rel = scale = _INF
            if d != d or scale != scale:  # a NaN: two agree (as for a rule), one is infinitely off
                if a != a and b != b:
                    zeros += 1
                    continue
                d = rel = scale = _INF
            if d != _INF and (d <= abs_tol or d <= rel_tol * scale):
                agreeing += 1
            if rel > max_rel:
                max_rel = rel
            append(d)
        self.compared += compared
        self.agreeing += agreeing + zeros
        self.max_rel = max_rel
        self.errors.add_zeros(zeros)
        self.errors.add_many(errors)

    def merge(self, other: _Figures) -> None:
        self.compared += other.compared
        self.agreeing += other.agreeing
        self.max_rel = max(self.max_rel, other.max_rel)
        self.errors.merge(other.errors)
        self.changes.merge(other.changes)

    def label(self, o: Any, n: Any) -> None:
        self.compared += 1
        if o == n:
            self.agreeing += 1
        else:
            self.changes.add(o, n)


@dataclass
class _Tracked:
    """A path pattern figures are kept for on one endpoint."""

    text: str
    segments: tuple[Segment, ...]
    rule: Rule | None  # the tolerance rule that names it
    value_type: str = NUMBER  # what is counted there: NUMBER (always for a rule) or LABEL
    learned_at: int = 0  # the endpoint's exchanges before this one need a catch-up


class AgreementCollector:
    """Agreement figures of one run, fed one compared pair at a time."""

    def __init__(self, rules: RuleSet) -> None:
        self._tolerance = [r for r in rules if r.kind == RuleKind.TOLERANCE]
        self._tracked: dict[str, list[_Tracked]] = {}
        self._figures: dict[tuple[str, str, str], _Figures] = {}
        # endpoint -> exchange ids compared, in order (8 bytes an exchange: a million is 8 MB)
        self._seen: dict[str, array[int]] = {}
        self._index: dict[int, int] = {}  # exchange id -> its place (only those pending)
        self._known: set[tuple[str, str, str]] = set()  # (endpoint, path, type) decided
        self._fixed = False  # paths given by `fix`: none is learned
        # (endpoint, [(path, value type)]): the learning candidates of each differing
        # exchange, in order, so that a parallel diff learns what a sequential one would; a
        # candidate once (the first proposal of a path decides it: learned or not, for good)
        self.events: list[tuple[str, list[tuple[str, str]]]] = []
        self._proposed: set[tuple[str, str, str]] = set()  # (endpoint, path, type) in events

    def add(
        self, exchange_id: int, endpoint: str, old: Any, new: Any, result: Comparison | None
    ) -> None:
        """Count the pairs of one compared exchange (lifted trees as given to the differ);
        `result` (what is learned from) may be None only once `fix`ed."""
        seen = self._seen.get(endpoint)
        if seen is None:
            seen = self._seen[endpoint] = array("q")
        seen.append(exchange_id)
        tracked = self._patterns(endpoint)
        statuses = (old.get("status"), new.get("status"))
        for t in tracked:
            if t.rule is None or t.rule.applies_to_statuses(*statuses):
                self._walk(endpoint, t, old, new)
        if self._fixed or result is None:
            return
        candidates = _candidates(result)
        proposed = self._proposed
        fresh = [c for c in candidates if (endpoint, *c) not in proposed]
        if fresh:  # a path proposed again decides nothing more: kept once (memory)
            proposed.update((endpoint, *c) for c in fresh)
            self.events.append((endpoint, fresh))
        for t in self._learn(endpoint, candidates, len(seen) - 1):
            self._walk(endpoint, t, old, new)

    def pending(self) -> set[int]:
        """Exchanges compared before a path was learned: `catch_up` wants them again."""
        self._index.clear()
        for endpoint, tracked in self._tracked.items():
            latest = max((t.learned_at for t in tracked), default=0)
            for place, exchange_id in enumerate(self._seen[endpoint][:latest]):
                self._index[exchange_id] = place
        return set(self._index)

    def catch_up(self, exchange_id: int, endpoint: str, old: Any, new: Any) -> None:
        """Count an earlier exchange's pairs at the paths learned after it was compared."""
        place = self._index[exchange_id]
        for t in self._tracked.get(endpoint, ()):
            if t.learned_at > place:
                self._walk(endpoint, t, old, new)

    def rows(self, run_id: int) -> list[AgreementRow]:
        """The figures as store rows, sorted by endpoint, value type and path."""
        out = []
        for (endpoint, path, kind), f in sorted(self._figures.items()):
            e = f.errors
            numbers = kind == NUMBER
            changes = [] if numbers else f.changes.top(SHOWN_CHANGES)
            out.append(
                AgreementRow(
                    run_id,
                    endpoint,
                    path,
                    kind,
                    f.rule.name if f.rule is not None else None,
                    f.compared,
                    f.agreeing,
                    e.max if numbers else None,
                    f.max_rel if numbers else None,
                    e.quantile(0.5) if numbers else None,
                    e.quantile(0.99) if numbers else None,
                    json.dumps(changes, ensure_ascii=False),
                )
            )
        return out

    # ------------------------------------------------------------- parallel diffs
    def replay_events(self, events: Iterable[tuple[str, list[tuple[str, str]]]]) -> None:
        """Learn from another collector's events (chunks fed in order): the paths a
        sequential diff would learn, without walking any values."""
        for endpoint, candidates in events:
            self._patterns(endpoint)
            self._learn(endpoint, candidates, 0)

    def learned(self) -> dict[str, list[tuple[str, str]]]:
        """Per endpoint, the learned (path, value type) pairs in the order learned."""
        return {
            endpoint: [(t.text, t.value_type) for t in tracked if t.rule is None]
            for endpoint, tracked in self._tracked.items()
        }

    def seen(self) -> dict[str, array[int]]:
        """Per endpoint, the exchange ids compared, in order."""
        return self._seen

    def fix(self, learned: dict[str, list[tuple[str, str]]]) -> None:
        """Track exactly these learned paths (and the rules' paths); learn none."""
        self._fixed = True
        for endpoint, pairs in learned.items():
            tracked = [t for t in self._patterns(endpoint) if t.rule is not None]
            for text, value_type in pairs:
                tracked.append(_Tracked(text, parse_pattern(text).segments, None, value_type))
            self._tracked[endpoint] = tracked

    def merge(self, other: AgreementCollector, endpoints: Iterable[str] | None = None) -> None:
        """Add another collector's figures (of `endpoints` only, when given): counts and
        maxima add exactly, the sketches merge within their bounds."""
        keep = set(endpoints) if endpoints is not None else None
        for key, f in other._figures.items():
            if keep is not None and key[0] not in keep:
                continue
            mine = self._figures.get(key)
            if mine is None:
                self._figures[key] = mine = _Figures(f.rule)
            mine.merge(f)

    # ------------------------------------------------------------------ internals
    def _patterns(self, endpoint: str) -> list[_Tracked]:
        tracked = self._tracked.get(endpoint)
        if tracked is None:
            tracked = []
            texts: set[str] = set()
            for rule in self._tolerance:
                if not rule.applies_to_endpoint(endpoint):
                    continue
                for p in rule.paths:
                    if p.text not in texts:
                        texts.add(p.text)
                        tracked.append(_Tracked(p.text, p.segments, rule))
            self._tracked[endpoint] = tracked
        return tracked

    def _learn(
        self, endpoint: str, candidates: list[tuple[str, str]], place: int
    ) -> list[_Tracked]:
        """Paths of counting value differences not tracked yet: tracked from now on."""
        learned: list[_Tracked] = []
        for path, value_type in candidates:
            general = generalize_path(path)
            key = (endpoint, general, value_type)
            if key in self._known:
                continue
            self._known.add(key)
            if self._covered(endpoint, path, value_type):
                continue
            tracked = self._tracked[endpoint]
            if sum(t.rule is None for t in tracked) >= MAX_LEARNED_PATHS:
                continue
            segments = parse_pattern(general).segments
            t = _Tracked(general, segments, None, value_type, place)
            tracked.append(t)
            learned.append(t)
        return learned

    def _covered(self, endpoint: str, path: str, value_type: str) -> bool:
        keys = parse_concrete_path(path)
        return any(
            any(match_segments(t.segments, keys[:k]) for k in range(len(keys), 0, -1))
            for t in self._tracked[endpoint]
            if t.value_type == value_type
        )

    def _walk(self, endpoint: str, t: _Tracked, old: Any, new: Any) -> None:
        figures = self._figures
        rule = t.rule

        def numbers(path: str, o: Any, n: Any) -> None:
            olist, nlist = (o, n) if type(o) is list else ((o,), (n,))
            if type(olist[0]) in _NUMERIC_TYPES or any(type(v) in _NUMERIC_TYPES for v in olist):
                _get(figures, (endpoint, path, NUMBER), rule).numbers(olist, nlist)

        def labels(path: str, o: Any, n: Any) -> None:
            olist, nlist = (o, n) if type(o) is list else ((o,), (n,))
            figs = None
            for a, b in zip(olist, nlist, strict=False):
                ta = type(a)
                if ta is type(b) and ta in _LABEL_TYPES:
                    if figs is None:
                        figs = _get(figures, (endpoint, path, LABEL), None)
                    figs.label(a, b)

        pair_leaves(t.segments, old, new, numbers if t.value_type == NUMBER else labels)


def _candidates(result: Comparison) -> list[tuple[str, str]]:
    """(concrete path, value type) of the counting body value differences that have one."""
    if result.verdict != Verdict.DIFFERENT:
        return []
    out = []
    for f in result.counting:
        if f.part == Part.BODY and f.kind == DiffKind.VALUE:
            value_type = _value_type(f.left, f.right)
            if value_type is not None:
                out.append((f.path, value_type))
    return out


_NUMERIC_TYPES: Final = frozenset({int, float})
_LABEL_TYPES: Final = frozenset({str, bool})


def _get(figures: dict[tuple[str, str, str], _Figures], key: tuple[str, str, str],
         rule: Rule | None) -> _Figures:  # fmt: skip
    f = figures.get(key)
    if f is None:
        f = figures[key] = _Figures(rule)
    return f


def _value_type(old: Any, new: Any) -> str | None:
    """NUMBER for two numbers, LABEL for two labels of one type, else None (no figures)."""
    to, tn = type(old), type(new)
    if to in _NUMERIC_TYPES and tn in _NUMERIC_TYPES:
        return NUMBER
    return LABEL if to is tn and to in _LABEL_TYPES else None
