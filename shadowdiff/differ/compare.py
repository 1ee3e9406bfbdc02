"""Compare two lifted responses under a RuleSet: field differences, verdict and signature.

How a pair is compared:

0. ``rename`` rules (``rename.py``): where the two sides spell one key differently, the new
   side's key takes the old side's spelling, so its value is compared.
1. The rule *pre-pass* (``prepass.py``) applies the rules in scope (``plan.py``) to the pair,
   copy-on-write along the paths that rules touch (inputs are never modified). Every difference
   a rule absorbs is kept as a FieldDiff naming the rule, and counted as one hit of that rule.
2. *Fast path*: when the two prepared trees have equal canonical bytes (orjson, sorted keys;
   1, 1.0 and true stay apart; a null also needs Python equality, since orjson writes NaN as
   null) the pair is the same and DeepDiff never runs.
   Otherwise the ``normalize`` rules in scope (``normalizers.py``) put both sides in one form
   (tracebacks, HTML/XML whitespace, Content-Type defaults, framework 404/405 pages), and
   the fast path is tried again.
3. Otherwise DeepDiff compares the prepared trees and its report becomes FieldDiffs in the
   differ's own path syntax (``deepdiff_fields.py``). These are the counting differences.

The verdict is ``different`` when any difference counts. The signature is a short hash of the
endpoint and the sorted, unique (path with indices as ``[*]``, kind, change class) of the
counting differences, so the same kind of breakage on any list element groups together, and
two causes at one path (set order in a message vs a leaked ``b'...'``; a 500 that became a 403
vs one that became a 200) do not.

``hold_volatile`` takes volatile differences out of the count (stored with the rule
``VOLATILE_MARK``): the caller decides which (``analysis/volatile_policy.py``: without a
baseline, or where the baseline differs too).
"""

from __future__ import annotations

import hashlib
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, Final

import orjson

from shadowdiff.differ.deepdiff_fields import deepdiff_fields
from shadowdiff.differ.fields import (
    Absorbed,
    Comparison,
    FieldDiff,
    PendingFields,
    make_field_diff,
)
from shadowdiff.differ.normalizers import apply_normalizers
from shadowdiff.differ.paths import generalize_path
from shadowdiff.differ.plan import Plan
from shadowdiff.differ.prepass import RulePass
from shadowdiff.differ.rename import apply_renames
from shadowdiff.differ.ruleset import Rule, RuleSet
from shadowdiff.differ.volatile import Times
from shadowdiff.vocabulary import VOLATILE_MARK, ChangeClass, DiffKind, Verdict

__all__ = [
    "Comparer",
    "Comparison",
    "FieldDiff",
    "compare",
    "comparer_for",
    "hold_volatile",
    "signature_for",
    "signature_item",
    "signature_of",
    "signature_of_keys",
]

_MAX_PLANS: Final = 4096
_SHORT: Final = 16  # absorbed lists up to this long are counted entry by entry
_RULE_OF: Final = itemgetter(4)
_new: Final = object.__new__
_dumps: Final = orjson.dumps
_SORTED: Final = orjson.OPT_SORT_KEYS
_SAME: Final = Verdict.SAME
_DIFFERENT: Final = Verdict.DIFFERENT
_SET_CHANGE: Final = FieldDiff.__dict__["change"].__set__


def signature_of(endpoint: str, fields: Iterable[FieldDiff]) -> tuple[str, str]:
    """(12-hex hash, text) of an endpoint and the sorted unique (generalized path, kind,
    change class) of ``fields``, e.g. ``"POST /predict/ | body.message:value/affix,
    status:500→200"``."""
    keys = ((generalize_path(f.path), f.kind, f.change) for f in fields)
    return signature_of_keys(endpoint, keys)


def signature_of_keys(
    endpoint: str, keys: Iterable[tuple[str, str, str | None]]
) -> tuple[str, str]:
    """``signature_of`` from (general path, kind, change class) triples (stored rows)."""
    return signature_for(endpoint, (signature_item(p, kind, change) for p, kind, change in keys))


def signature_for(endpoint: str, items: Iterable[str]) -> tuple[str, str]:
    """(12-hex hash, text) of an endpoint and signature items (``signature_item``), sorted,
    unique: the one definition of a signature (run-wide findings re-sign with it)."""
    text = f"{endpoint} | {', '.join(sorted(set(items)))}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12], text


def signature_item(path: str, kind: str, change: str | None) -> str:
    """``path:kind/class``; a status ``status:500→200``; a plain absent key (class
    ``absent``, said by its kind already) ``path:missing``, a JSON null ``path:missing/null``."""
    if change is None or change == ChangeClass.ABSENT:
        return f"{path}:{kind}"
    if kind == DiffKind.STATUS:
        return f"{path}:{change}"
    return f"{path}:{kind}/{change}"


def hold_volatile(
    result: Comparison, endpoint: str, holds: Callable[[FieldDiff], bool]
) -> tuple[Comparison, int]:
    """``result`` with the volatile differences ``holds`` picks no longer counting (rule
    ``VOLATILE_MARK``), its verdict and signature from what still counts; and how many were
    held."""
    if result.verdict != _DIFFERENT:
        return result, 0
    counting = result.counting
    held = [f for f in counting if f.change == ChangeClass.VOLATILE and holds(f)]
    if not held:
        return result, 0
    held_ids = {id(f) for f in held}
    rest = [f for f in counting if id(f) not in held_ids]
    marked = [_marked(f) for f in held]
    pending = result.__dict__["_fields"]
    fields: list[FieldDiff] | PendingFields
    if type(pending) is PendingFields and not pending.held:  # absorbed ones stay pending
        fields = PendingFields(pending.absorbed, rest, marked)
    else:
        fields = [*result.absorbed, *marked, *rest]
    if not rest:
        return Comparison(_SAME, fields, None, None, result.rule_hits), len(held)
    signature, text = signature_of(endpoint, rest)
    return Comparison(_DIFFERENT, fields, signature, text, result.rule_hits), len(held)


def _marked(f: FieldDiff) -> FieldDiff:
    """``replace(f, rule=VOLATILE_MARK)`` without the dataclass machinery (hot: every held
    volatile value)."""
    marked: FieldDiff = make_field_diff(f.part, f.path, f.kind, f.left, f.right, VOLATILE_MARK)
    _SET_CHANGE(marked, f.change)
    return marked


class Comparer:
    """Compares many pairs under one RuleSet, keeping compiled rules per endpoint and status."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._by_endpoint: dict[str, tuple[Rule, ...]] = {}
        self._plans: dict[tuple[str, Any, Any], Plan] = {}

    def plan(self, endpoint: str, old_status: Any, new_status: Any) -> Plan:
        """The compiled rules in scope for this endpoint and pair of statuses (cached)."""
        key = (endpoint, old_status, new_status)
        plan = self._plans.get(key)
        if plan is None:
            scoped = self._by_endpoint.get(endpoint)
            if scoped is None:
                scoped = tuple(r for r in self.rules if r.applies_to_endpoint(endpoint))
                self._by_endpoint[endpoint] = scoped
            plan = Plan(
                (r for r in scoped if r.applies_to_statuses(old_status, new_status)),
                old_status,
                new_status,
            )
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def compare(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        endpoint: str,
        *,
        fast: bool = True,
        times: Times | None = None,
    ) -> Comparison:
        """Compare two lifted responses of ``endpoint`` (``"GET /users/{id}"``); ``times``
        (the recording's and the replay's start) lets timestamps near them be volatile."""
        so, sn = old.get("status"), new.get("status")
        plan = self._plans.get((endpoint, so, sn)) or self.plan(endpoint, so, sn)
        rule_pass = RulePass(plan)
        if plan.renames:
            new = apply_renames(plan.renames, old, new, rule_pass.absorbed)
        po, pn = rule_pass.run(old, new)
        absorbed = rule_pass.absorbed
        texts = None
        if fast:
            if po is pn:
                return _same(absorbed, _hits(absorbed))
            texts = _canonical_pair(po, pn)
            if texts is not None and _equal_texts(po, pn, *texts):
                return _same(absorbed, _hits(absorbed))
        if plan.normalizers:
            qo, qn = apply_normalizers(plan.normalizers, po, pn, absorbed, texts)
            # unchanged trees were tried already
            if fast and (qo is not po or qn is not pn) and _fast_equal(qo, qn):
                return _same(absorbed, _hits(absorbed))
            po, pn = qo, qn
        hits = _hits(absorbed)
        counting = deepdiff_fields(po, pn, plan, times)
        if not counting:
            return _same(absorbed, hits)
        signature, text = signature_of(endpoint, counting)
        return Comparison(_DIFFERENT, PendingFields(absorbed, counting), signature, text, hits)


def _hits(absorbed: list[Absorbed]) -> Counter[str]:
    """Absorbed differences per rule name (a plain dict count: cheaper than Counter(...)).
    A long list comes in runs of one rule (a tolerance or ignore rule over a big body's
    list), so it is counted by runs."""
    counts: dict[str, int] = {}
    get = counts.get
    if len(absorbed) <= _SHORT:
        for entry in absorbed:
            name = entry[4].name
            counts[name] = get(name, 0) + 1
    else:
        last: Rule | None = None
        run = 0
        for rule in map(_RULE_OF, absorbed):
            if rule is last:
                run += 1
                continue
            if last is not None:
                counts[last.name] = get(last.name, 0) + run
            last, run = rule, 1
        if last is not None:
            counts[last.name] = get(last.name, 0) + run
    hits: Counter[str] = Counter.__new__(Counter)
    dict.update(hits, counts)
    return hits


def _same(absorbed: list[Absorbed], hits: Counter[str]) -> Comparison:
    """``Comparison(SAME, PendingFields(absorbed, []), None, None, hits)``, its instance dict
    filled directly (the dataclass __init__ and the fields descriptor cost twice as much)."""
    result = _new(Comparison)
    attrs = result.__dict__
    attrs["verdict"] = _SAME
    attrs["_fields"] = PendingFields(absorbed, [])
    attrs["signature"] = None
    attrs["signature_text"] = None
    attrs["rule_hits"] = hits
    return result


def _fast_equal(old: Any, new: Any) -> bool:
    """Same without DeepDiff: equal canonical bytes (which tell 1, 1.0 and true apart). orjson
    writes NaN as null, so bytes holding a null also need Python equality (NaN != None).
    Trees orjson cannot encode as they are (non-str keys, huge ints) go to DeepDiff."""
    try:
        a = _dumps(old, option=_SORTED)
        if a != _dumps(new, option=_SORTED):
            return False
    except TypeError:
        return False
    return b"null" not in a or bool(old == new)


def _canonical_pair(old: Any, new: Any) -> tuple[bytes, bytes] | None:
    """Both trees' canonical bytes (as ``_fast_equal`` writes them), or None when orjson
    cannot encode one."""
    try:
        return _dumps(old, option=_SORTED), _dumps(new, option=_SORTED)
    except TypeError:
        return None


def _equal_texts(old: Any, new: Any, a: bytes, b: bytes) -> bool:
    """``_fast_equal`` from the canonical bytes of ``old`` and ``new``."""
    return a == b and (b"null" not in a or bool(old == new))


_COMPARERS: weakref.WeakKeyDictionary[RuleSet, Comparer] = weakref.WeakKeyDictionary()


def comparer_for(rules: RuleSet) -> Comparer:
    """The shared Comparer of a RuleSet (created on first use)."""
    comparer = _COMPARERS.get(rules)
    if comparer is None:
        comparer = _COMPARERS[rules] = Comparer(rules)
    return comparer


def compare(
    old: dict[str, Any],
    new: dict[str, Any],
    rules: RuleSet,
    endpoint: str,
    *,
    fast: bool = True,
    times: Times | None = None,
) -> Comparison:
    """Compare two lifted responses of ``endpoint`` under ``rules``; see the module docstring."""
    return comparer_for(rules).compare(old, new, endpoint, fast=fast, times=times)
