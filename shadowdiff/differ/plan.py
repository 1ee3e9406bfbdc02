"""Rules compiled for one (endpoint, old status, new status): what the pre-pass walks with.

Path patterns become an automaton over the tree: each PlanNode knows which rules match at
its place and the PlanNode of each child (literal keys, any key, any index, any depth). Nodes
are built lazily, interned by their set of pattern states, and shared by every pair the plan
compares, so a pair costs dictionary look-ups rather than pattern matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from shadowdiff.differ.paths import Key, Segment, Wildcard, format_path, match_segments
from shadowdiff.differ.ruleset import Rule
from shadowdiff.differ.trees import MISSING, Sentinel, join_path
from shadowdiff.vocabulary import RuleKind

__all__ = [
    "HeaderDrop",
    "ROUTE_IGNORE",
    "ROUTE_NODE",
    "ROUTE_PLAIN",
    "ROUTE_TOLERATE",
    "Plan",
    "PlanNode",
]

# How the pre-pass treats a pair at a node, decided once per node (PlanNode.route):
#: any other combination of rules: the general walk (RulePass._node)
ROUTE_NODE: Final = 0
#: no rule matches here: containers go straight to their children
ROUTE_PLAIN: Final = 1
#: a tolerance rule and nothing else, at a leaf (or no node, below a tolerance): tolerate()
ROUTE_TOLERATE: Final = 2
#: an ignore rule (it wins over every other kind)
ROUTE_IGNORE: Final = 3

_State = tuple[int, int]  # (entry index, position in its pattern)
#: Kinds that absorb a difference of type alone (see PlanNode.strict).
_STRICT_KINDS: Final = (RuleKind.IGNORE, RuleKind.KEYS_ONLY)


@dataclass(frozen=True, slots=True)
class _Entry:
    segments: tuple[Segment, ...]
    rule: Rule


#: Plan.header_set(): ((name, path, rule) dropped, names old keeps, names new keeps).
HeaderDrop = tuple[tuple[tuple[str, str, Rule], ...], tuple[str, ...], tuple[str, ...]]
_MAX_HEADER_SETS: Final = 64  # per plan: a service sends few sets of header names


class PlanNode:
    """What the rules say at one place of the tree: the rules matching there, and the nodes of
    its children. Built lazily, interned by the plan, shared by every pair the plan compares."""

    __slots__ = (
        "_int_base",
        "_int_child",
        "_lit",
        "_lit_children",
        "_plan",
        "_str_base",
        "_str_child",
        "lit_str_items",
        "_int_items",
        "allow_extra",
        "any_int",
        "any_str",
        "has_int_literals",
        "has_str_literals",
        "ignore",
        "ignore_order",
        "keys_only",
        "leaf",
        "plain",
        "route",
        "strict",
        "tolerance",
    )

    def __init__(self, plan: Plan, states: tuple[_State, ...]) -> None:
        self._plan = plan
        self.ignore: Rule | None = None
        self.allow_extra: Rule | None = None
        self.keys_only: Rule | None = None
        self.tolerance: Rule | None = None
        self.ignore_order: Rule | None = None
        lit: dict[Key, list[_State]] = {}
        str_base: list[_State] = []
        int_base: list[_State] = []
        for st in states:
            e, pos = st
            entry = plan.entries[e]
            segs = entry.segments
            if pos == len(segs):
                kind = entry.rule.kind
                if getattr(self, kind) is None:  # the first rule of a kind wins
                    setattr(self, kind, entry.rule)
                continue
            seg = segs[pos]
            if seg is Wildcard.DEEP:
                str_base.append(st)
                int_base.append(st)
            elif seg is Wildcard.ANY_KEY:
                str_base.append((e, pos + 1))
            elif seg is Wildcard.ANY_INDEX:
                int_base.append((e, pos + 1))
            else:
                lit.setdefault(seg, []).append((e, pos + 1))
        self._lit = lit
        self._str_base = str_base
        self._int_base = int_base
        self.any_str = bool(str_base)
        self.any_int = bool(int_base)
        self.leaf = not (lit or str_base or int_base)
        self.has_str_literals = any(type(k) is str for k in lit)
        self.has_int_literals = any(type(k) is int for k in lit)
        # No rule matches here: a pair of containers can go straight to its children.
        self.plain = (
            self.ignore is None
            and self.allow_extra is None
            and self.keys_only is None
            and self.tolerance is None
            and self.ignore_order is None
        )
        self.route = self._route()
        # Only ignore and keys_only absorb a difference of type alone (1 vs 1.0 vs true);
        # where neither can match at or below this node, subtrees that are == (Python
        # equality) can be skipped: whatever they still differ in counts anyway.
        self.strict = any(plan.entries[e].rule.kind in _STRICT_KINDS for e, _ in states)
        self._lit_children: dict[Key, PlanNode | None] = {}
        self._str_child: PlanNode | None | Sentinel = MISSING
        self._int_child: PlanNode | None | Sentinel = MISSING
        #: str_items() once built (None before): the pre-pass reads it without a call
        self.lit_str_items: tuple[tuple[str, PlanNode | None, str], ...] | None = None
        self._int_items: tuple[tuple[int, PlanNode | None], ...] | None = None

    def _route(self) -> int:
        """How the pre-pass treats a differing pair here (ROUTE_*), decided once."""
        if self.ignore is not None:
            return ROUTE_IGNORE
        if self.plain:
            return ROUTE_PLAIN
        others = (self.ignore_order, self.allow_extra, self.keys_only)
        if self.tolerance is not None and self.leaf and others == (None, None, None):
            return ROUTE_TOLERATE
        return ROUTE_NODE

    def child(self, key: Key) -> PlanNode | None:
        """The node of child ``key`` (None: no rule reaches below it)."""
        if key in self._lit:
            try:
                return self._lit_children[key]
            except KeyError:
                base = self._str_base if type(key) is str else self._int_base
                node = self._lit_children[key] = self._plan.node(self._lit[key] + base)
                return node
        return self.str_child() if type(key) is str else self.int_child()

    def str_child(self) -> PlanNode | None:
        """The node of any dict key that no pattern names literally."""
        if self._str_child is MISSING:
            self._str_child = self._plan.node(self._str_base)
        return self._str_child  # type: ignore[return-value]

    def int_child(self) -> PlanNode | None:
        """The node of any list index that no pattern names literally."""
        if self._int_child is MISSING:
            self._int_child = self._plan.node(self._int_base)
        return self._int_child  # type: ignore[return-value]

    def str_items(self) -> tuple[tuple[str, PlanNode | None, str], ...]:
        """Literal dict keys below this node, with their nodes and path suffixes (".key")."""
        if self.lit_str_items is None:
            self.lit_str_items = tuple(
                (k, self.child(k), "." + format_path((k,))) for k in self._lit if type(k) is str
            )
        return self.lit_str_items

    def int_items(self) -> tuple[tuple[int, PlanNode | None], ...]:
        """Literal list indices below this node, with their nodes."""
        if self._int_items is None:
            keys = sorted(k for k in self._lit if type(k) is int)
            self._int_items = tuple((k, self.child(k)) for k in keys)
        return self._int_items


class Plan:
    """The rules in scope for one (endpoint, old status, new status), compiled."""

    def __init__(
        self, rules: Iterable[Rule], old_status: Any = None, new_status: Any = None
    ) -> None:
        #: The equivalent_status rule that makes the two statuses equal, if any.
        self.status_rule: Rule | None = None
        self.header_rules: list[Rule] = []
        #: rename rules, applied before the pre-pass (differ/rename.py)
        self.renames: list[Rule] = []
        #: normalize rules, applied to a pair the fast path found unequal (normalizers.py)
        self.normalizers: list[Rule] = []
        entries: list[_Entry] = []
        self.unordered: list[tuple[Segment, ...]] = []
        for rule in rules:
            if rule.kind == RuleKind.EQUIVALENT_STATUS:
                if (
                    self.status_rule is None
                    and old_status != new_status
                    and any(old_status in g and new_status in g for g in rule.status_groups)
                ):
                    self.status_rule = rule
            elif rule.kind == RuleKind.HEADERS:
                self.header_rules.append(rule)
            elif rule.kind == RuleKind.RENAME:
                self.renames.append(rule)
            elif rule.kind == RuleKind.NORMALIZE:
                self.normalizers.append(rule)
            else:
                for pattern in rule.paths:
                    entries.append(_Entry(pattern.segments, rule))
                    if rule.kind == RuleKind.IGNORE_ORDER:
                        self.unordered.append(pattern.segments)
        self.entries: tuple[_Entry, ...] = tuple(entries)
        self.header_rules_by_name: dict[str, Rule | None] = {}
        # When every headers rule is an `ignore` list, the names they drop, each mapped to its
        # first rule, so the pre-pass can find them by set intersection.
        self.header_drop: frozenset[str] | None = None
        #: the dropped names, sorted, each with its written path and first rule (the pre-pass
        #: looks them up instead of formatting a path and searching the rules per pair)
        self.header_drop_table: tuple[tuple[str, str, Rule], ...] = ()
        if self.header_rules and all(r.header_ignore for r in self.header_rules):
            for rule in self.header_rules:
                for name in rule.header_ignore or ():
                    self.header_rules_by_name.setdefault(name, rule)
            self.header_drop = frozenset(self.header_rules_by_name)
            self.header_drop_table = tuple(
                (name, join_path("headers", name), rule)
                for name, rule in sorted(self.header_rules_by_name.items())
                if rule is not None
            )
        self.header_drop_index = {entry[0]: entry for entry in self.header_drop_table}
        #: header_set() by the pair of header-name tuples it was computed for
        self.header_sets: dict[tuple[tuple[str, ...], tuple[str, ...]], HeaderDrop] = {}
        self._nodes: dict[tuple[_State, ...], PlanNode | None] = {}
        self.root = self.node([(i, 0) for i in range(len(entries))])
        #: whether a path rule can reach a header (`headers.allow`, `*`, `**`): then the
        #: pre-pass drops headers before its walk, else after it (one copy of the tree less)
        self.root_sees_headers = self.root is not None and self.root.child("headers") is not None

    def _closure(self, states: Iterable[_State]) -> tuple[_State, ...]:
        out: list[_State] = []
        seen: set[_State] = set()
        stack = list(states)
        while stack:
            st = stack.pop()
            if st in seen:
                continue
            seen.add(st)
            out.append(st)
            e, pos = st
            segs = self.entries[e].segments
            if pos < len(segs) and segs[pos] is Wildcard.DEEP:
                stack.append((e, pos + 1))
        return tuple(sorted(out))

    def node(self, states: Iterable[_State]) -> PlanNode | None:
        key = self._closure(states)
        if not key:
            return None
        try:
            return self._nodes[key]
        except KeyError:
            node = self._nodes[key] = PlanNode(self, key)
            return node

    def header_set(self, key: tuple[tuple[str, ...], tuple[str, ...]]) -> HeaderDrop:
        """What the ``ignore``-only header rules do to a pair of header dicts with these
        names (old's, new's, in order): the dropped names either side has, in name order, each
        with its path and rule, and the names each side keeps. A service sends the same names
        answer after answer, so this is computed once per pair of name tuples (stored in
        ``header_sets``, up to _MAX_HEADER_SETS of them)."""
        names_o, names_n = key
        index = self.header_drop_index
        present = sorted((set(names_o) | set(names_n)) & index.keys())
        found = (
            tuple(index[k] for k in present),
            tuple(k for k in names_o if k not in index),
            tuple(k for k in names_n if k not in index),
        )
        if len(self.header_sets) < _MAX_HEADER_SETS:
            self.header_sets[key] = found
        return found

    def header_rule(self, name: str) -> Rule | None:
        """The first ``headers`` rule that takes header ``name`` out of the comparison."""
        if name in self.header_rules_by_name:
            return self.header_rules_by_name[name]
        found: Rule | None = None
        for rule in self.header_rules:
            keep, drop = rule.header_compare, rule.header_ignore
            if (name not in keep) if keep is not None else (drop is not None and name in drop):
                found = rule
                break
        if self.header_drop is None and len(self.header_rules_by_name) < 1024:
            self.header_rules_by_name[name] = found
        return found

    def is_unordered(self, path: Sequence[Key]) -> bool:
        return any(match_segments(segs, path) for segs in self.unordered)
