"""The rule pre-pass: rules applied to a pair of trees before anything is compared.

``equivalent_status`` makes equal statuses equal, ``headers`` and ``ignore`` drop what they
name from both sides, ``allow_extra`` drops what only the new side has, ``keys_only`` copies the
old value over the new one, ``tolerance`` copies an old number over a close new one, and
``ignore_order`` copies the old list over a new list holding the same elements in another
order. Every difference a rule absorbs is recorded. The inputs are never modified: containers
are copied only along the paths where something changed (copy-on-write).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import Any, Final

from shadowdiff.differ.fields import Absorbed, kind_of
from shadowdiff.differ.plan import ROUTE_PLAIN, ROUTE_TOLERATE, Plan, PlanNode
from shadowdiff.differ.ruleset import Rule
from shadowdiff.differ.tolerance_walk import tolerate
from shadowdiff.differ.trees import (
    IGNORED,
    MISSING,
    REMOVED,
    join_path,
    same_multiset,
    strict_equal,
)
from shadowdiff.vocabulary import DiffKind

_INF: Final = float("inf")

__all__ = ["RulePass"]

# Members bound once: a module global is cheaper than an enum attribute on the hot path.
_VALUE: Final = DiffKind.VALUE
_EXTRA: Final = DiffKind.EXTRA
_MISSING: Final = DiffKind.MISSING
_HEADER: Final = DiffKind.HEADER
_ORDER: Final = DiffKind.ORDER
_STATUS: Final = DiffKind.STATUS


def _skippable(value: Any, node: PlanNode | None) -> bool:
    """Can a pair of == values be skipped? Always for scalars of one type; for containers
    unless an ignore or keys_only rule may match inside (they absorb differences of type
    alone, such as 1 vs 1.0 or 1 vs true, which == does not see)."""
    t = type(value)
    return (t is not dict and t is not list) or node is None or not node.strict


def _apply_list_changes(
    o: list[Any], n: list[Any], changed: list[tuple[int, Any, Any, Any, Any]]
) -> tuple[list[Any], list[Any]]:
    """Copy-on-write of two lists: element i becomes its new value; REMOVED on both sides
    pins the position (IGNORED), REMOVED on one side (a tail element) drops it."""
    new_o: list[Any] | None = None
    new_n: list[Any] | None = None
    drop_o = drop_n = False
    for i, co, cn, ro, rn in changed:
        if ro is REMOVED and rn is REMOVED and co is not MISSING and cn is not MISSING:
            ro = rn = IGNORED
        if ro is not co and co is not MISSING:
            if new_o is None:
                new_o = list(o)
            new_o[i] = ro
            drop_o = drop_o or ro is REMOVED
        if rn is not cn and cn is not MISSING:
            if new_n is None:
                new_n = list(n)
            new_n[i] = rn
            drop_n = drop_n or rn is REMOVED
    if new_o is not None and drop_o:
        new_o = [v for v in new_o if v is not REMOVED]
    if new_n is not None and drop_n:
        new_n = [v for v in new_n if v is not REMOVED]
    return (o if new_o is None else new_o), (n if new_n is None else new_n)


def _keyed_items(
    o: dict[Any, Any], n: dict[Any, Any], node: PlanNode
) -> Iterable[tuple[Any, PlanNode | None, None]]:
    """(key, node, None) for every key of either dict (old's order, then new's own) where
    any key may have a node (a ``*`` or ``**`` pattern, or a tolerance above)."""
    keys: Iterable[Any] = o if o.keys() == n.keys() else (*o, *(k for k in n if k not in o))
    if node.has_str_literals:
        child = node.child
        return [(k, child(k), None) for k in keys]
    return zip(keys, repeat(node.str_child()), repeat(None))


class RulePass:
    """Applies a plan's rules to one pair, collecting the absorbed differences.

    The walk functions return the (possibly new) old and new values of a node; ``REMOVED``
    asks the parent to drop the node. Containers are copied only when a child changed.
    """

    __slots__ = ("absorbed", "plan")

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.absorbed: list[Absorbed] = []

    def run(self, old: dict[str, Any], new: dict[str, Any]) -> tuple[Any, Any]:
        plan = self.plan
        rule = plan.status_rule
        if rule is not None:  # the plan is made for this pair of statuses
            so = old.get("status")
            self.absorbed.append(("status", _STATUS, so, new.get("status"), rule))
            new = {**new, "status": so}
        headers = self._headers(old, new) if plan.header_rules else None
        if headers is not None and plan.root_sees_headers:  # path rules see them dropped
            old, new = {**old, "headers": headers[0]}, {**new, "headers": headers[1]}
            headers = None
        po, pn = old, new
        if plan.root is not None and type(old) is dict and type(new) is dict:
            po, pn = self._dict(old, new, plan.root, None, "")
        if headers is not None:  # set after the walk, which never reads them: no 2nd copy
            if po is old:
                po = {**old, "headers": headers[0]}
            else:
                po["headers"] = headers[0]  # a copy the walk made
            if pn is new:
                pn = {**new, "headers": headers[1]}
            else:
                pn["headers"] = headers[1]
        return po, pn

    def _headers(self, old: dict[str, Any], new: dict[str, Any]) -> tuple[Any, Any] | None:
        """The header dicts without what the ``headers`` rules take out (recorded as
        absorbed), or None when they take nothing out."""
        ho, hn = old.get("headers"), new.get("headers")
        if type(ho) is not dict or type(hn) is not dict:
            return None
        plan = self.plan
        if plan.header_drop is None:
            return self._kept_headers(ho, hn)
        # only `ignore` lists: which names go is known per pair of name tuples
        key = (tuple(ho), tuple(hn))
        entries, keep_o, keep_n = plan.header_sets.get(key) or plan.header_set(key)
        if not entries:
            return None
        absorbed = self.absorbed
        for name, path, rule in entries:
            vo, vn = ho.get(name, MISSING), hn.get(name, MISSING)
            if vo != vn or type(vo) is not type(vn):
                kind = _EXTRA if vo is MISSING else _MISSING if vn is MISSING else _HEADER
                absorbed.append((path, kind, vo, vn, rule))
        return {k: ho[k] for k in keep_o}, {k: hn[k] for k in keep_n}

    def _kept_headers(self, ho: dict[str, Any], hn: dict[str, Any]) -> tuple[Any, Any] | None:
        """``_headers`` when a ``compare`` list says which headers stay."""
        header_rule = self.plan.header_rule
        gone = [k for k in (*ho, *(k for k in hn if k not in ho)) if header_rule(k)]
        if not gone:
            return None
        for k in gone:
            vo, vn = ho.get(k, MISSING), hn.get(k, MISSING)
            if vo != vn or type(vo) is not type(vn):
                kind = _EXTRA if vo is MISSING else _MISSING if vn is MISSING else _HEADER
                rule = header_rule(k)
                if rule is not None:
                    self.absorbed.append((join_path("headers", k), kind, vo, vn, rule))
        drop = set(gone)
        return (
            {k: v for k, v in ho.items() if k not in drop},
            {k: v for k, v in hn.items() if k not in drop},
        )

    def _node(self, o: Any, n: Any, node: PlanNode | None, tol: Rule | None, path: str) -> Any:
        """One place where the sides differ (``o is not n``); returns its new (old, new).
        The node's route, decided once per node, picks the way; ``_ruled`` takes the rest."""
        if node is None:  # below a tolerance, where no other rule reaches
            return (o, n) if tol is None else tolerate(o, n, tol, path, self.absorbed)
        route = node.route
        if route == ROUTE_PLAIN:
            t = type(o)
            if t is dict and type(n) is dict:
                return self._dict(o, n, node, tol, path)
            if t is list and type(n) is list:
                return self._list(o, n, node, tol, path)
            # no pair of containers and no rule here: only an inherited tolerance applies
            return (o, n) if tol is None else tolerate(o, n, tol, path, self.absorbed)
        if route == ROUTE_TOLERATE:
            return tolerate(o, n, node.tolerance, path, self.absorbed)  # type: ignore[arg-type]
        rule = node.ignore
        if rule is None:
            return self._ruled(o, n, node, tol, path)
        if not strict_equal(o, n):
            self.absorbed.append((path, kind_of(path, o, n), o, n, rule))
        return REMOVED, REMOVED

    def _ruled(self, o: Any, n: Any, node: PlanNode, tol: Rule | None, path: str) -> Any:
        """``_node`` where other rules meet: allow_extra, keys_only, ignore_order, or a
        tolerance with rules below it."""
        if o is MISSING or n is MISSING:
            rule = node.allow_extra
            if rule is not None and o is MISSING:
                self.absorbed.append((path, _EXTRA, o, n, rule))
                return o, REMOVED
            return o, n
        rule = node.keys_only
        if rule is not None:
            if not strict_equal(o, n):
                self.absorbed.append((path, kind_of(path, o, n), o, n, rule))
            return o, o
        if node.tolerance is not None:
            tol = node.tolerance
        rule = node.ignore_order
        if rule is not None and type(o) is list and type(n) is list:
            if strict_equal(o, n):
                return o, n
            if same_multiset(o, n):
                self.absorbed.append((path, _ORDER, o, n, rule))
                return o, o
        t = type(o)
        if tol is not None:
            if (t is float or t is int) and type(n) is t:
                if o != n and tol.within_tolerance(o, n):
                    self.absorbed.append((path, _VALUE, o, n, tol))
                    return o, o
                return o, n
            if node.leaf:
                return tolerate(o, n, tol, path, self.absorbed)
        if node.leaf:
            return o, n
        if t is dict and type(n) is dict:
            return self._dict(o, n, node, tol, path)
        if t is list and type(n) is list:
            return self._list(o, n, node, tol, path)
        return o, n

    def _dict(
        self, o: dict[Any, Any], n: dict[Any, Any], node: PlanNode, tol: Rule | None, path: str
    ) -> tuple[Any, Any]:
        # literal keys come with their path suffix, computed once
        items: Iterable[tuple[Any, PlanNode | None, str | None]] = (
            _keyed_items(o, n, node)
            if node.any_str or tol is not None
            else node.lit_str_items or node.str_items()
        )
        new_o: dict[Any, Any] | None = None
        new_n: dict[Any, Any] | None = None
        for k, sub, suffix in items:
            if sub is None and tol is None:
                continue
            co = o.get(k, MISSING)
            cn = n.get(k, MISSING)
            if co is cn or (type(co) is type(cn) and co == cn and _skippable(co, sub)):
                continue
            if suffix is None:
                cpath = join_path(path, k)
            elif path:
                cpath = path + suffix
            else:
                cpath = suffix[1:]
            # the node's route, inline for the common ones (see _node)
            if sub is None:  # below a tolerance, where no other rule reaches
                ro, rn = (co, cn) if tol is None else tolerate(co, cn, tol, cpath, self.absorbed)
            elif sub.ignore is not None:
                tc = type(co)
                # same-type scalars here are unequal (equal ones were skipped above), except NaN
                scalars = tc is type(cn) and tc is not dict and tc is not list and tc is not float
                if scalars or not strict_equal(co, cn):
                    self.absorbed.append((cpath, kind_of(cpath, co, cn), co, cn, sub.ignore))
                ro = rn = REMOVED
            elif sub.route == ROUTE_TOLERATE and sub.tolerance is not None:
                ro, rn = tolerate(co, cn, sub.tolerance, cpath, self.absorbed)
            elif sub.plain and type(co) is dict and type(cn) is dict:
                ro, rn = self._dict(co, cn, sub, tol, cpath)
            else:
                ro, rn = self._node(co, cn, sub, tol, cpath)
            if ro is co and rn is cn:
                continue
            if ro is not co and co is not MISSING:
                if new_o is None:
                    new_o = dict(o)
                if ro is REMOVED:
                    del new_o[k]
                else:
                    new_o[k] = ro
            if rn is not cn and cn is not MISSING:
                if new_n is None:
                    new_n = dict(n)
                if rn is REMOVED:
                    del new_n[k]
                else:
                    new_n[k] = rn
        return (o if new_o is None else new_o), (n if new_n is None else new_n)

    def _list(
        self, o: list[Any], n: list[Any], node: PlanNode, tol: Rule | None, path: str
    ) -> tuple[Any, Any]:
        if not (node.any_int or tol is not None) or node.has_int_literals:
            at = self._indexed(o, n, node, tol, path)
            return _apply_list_changes(o, n, at) if at else (o, n)
        # The common shape (`[*]`, `**`, tolerance): one node for every index. zip is the
        # fastest walk; equal elements are skipped inline, and the node's route is taken once.
        sub = node.int_child()
        if sub is None and tol is None:
            return o, n
        changed: list[tuple[int, Any, Any, Any, Any]] = []  # (index, old, new, old', new')
        strict = sub is not None and sub.strict
        plain = sub if sub is not None and sub.plain else None  # dicts go to _dict
        # a tolerance-only leaf, or below a tolerance with no node: straight to tolerate
        only_tol = tol if sub is None else sub.tolerance if sub.route == ROUTE_TOLERATE else None
        for i, (co, cn) in enumerate(zip(o, n, strict=False)):
            if co is cn:
                continue
            tc = type(co)
            if tc is type(cn) and co == cn and (not strict or (tc is not dict and tc is not list)):
                continue  # see _skippable
            if only_tol is not None:
                ro, rn = tolerate(co, cn, only_tol, f"{path}[{i}]", self.absorbed)
            elif plain is not None and tc is dict and type(cn) is dict:
                ro, rn = self._dict(co, cn, plain, tol, f"{path}[{i}]")
            else:
                ro, rn = self._node(co, cn, sub, tol, f"{path}[{i}]")
            if ro is not co or rn is not cn:
                changed.append((i, co, cn, ro, rn))
        lo, ln = len(o), len(n)
        for i in range(lo, ln) if lo < ln else range(ln, lo):  # the longer list's tail
            co = o[i] if i < lo else MISSING
            cn = n[i] if i < ln else MISSING
            ro, rn = self._node(co, cn, sub, tol, f"{path}[{i}]")
            if ro is not co or rn is not cn:
                changed.append((i, co, cn, ro, rn))
        return _apply_list_changes(o, n, changed) if changed else (o, n)

    def _indexed(
        self, o: list[Any], n: list[Any], node: PlanNode, tol: Rule | None, path: str
    ) -> list[tuple[int, Any, Any, Any, Any]]:
        """``_list`` where patterns name indices (``[0]``): each index with its own node.
        Returns the changed positions (index, old, new, old', new')."""
        lo, ln = len(o), len(n)
        changed: list[tuple[int, Any, Any, Any, Any]] = []
        items: Iterable[tuple[int, PlanNode | None]]
        if node.any_int or tol is not None:
            child = node.child
            items = [(i, child(i)) for i in range(max(lo, ln))]
        else:
            items = [(i, sub) for i, sub in node.int_items() if i < lo or i < ln]
        for i, sub in items:
            if sub is None and tol is None:
                continue
            co = o[i] if i < lo else MISSING
            cn = n[i] if i < ln else MISSING
            if co is cn or (type(co) is type(cn) and co == cn and _skippable(co, sub)):
                continue
            ro, rn = (
                self._dict(co, cn, sub, tol, f"{path}[{i}]")
                if sub is not None and sub.plain and type(co) is dict and type(cn) is dict
                else self._node(co, cn, sub, tol, f"{path}[{i}]")
            )
            if ro is not co or rn is not cn:
                changed.append((i, co, cn, ro, rn))
        return changed
