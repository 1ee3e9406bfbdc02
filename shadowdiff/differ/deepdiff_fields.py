"""DeepDiff on two prepared trees, and its report turned into FieldDiffs in our path syntax.

DeepDiff runs with ``verbose_level=2``, ``threshold_to_diff_deeper=0`` (dicts key by key),
``zip_ordered_iterables=True`` (lists position by position), ``ignore_private_variables=False``
(a key such as ``__typename`` is compared like any other), no distance cache, and
``ignore_order_func`` only for lists an ``ignore_order`` rule names. For trees of JSON values
without an ``ignore_order`` rule, ``tree_walk.walk`` finds the very same report directly, and
DeepDiff does not run. The findings become:
values_changed -> ``value``, type_changes -> ``type``, dictionary_item_removed/added ->
``missing``/``extra``, iterable items removed/added -> one ``length`` at the list, a list that is
a permutation of the other -> one ``order`` at the outermost such list; anything under
``status`` -> ``status``; under ``headers.<name>`` -> one diff at that header.

Each gets its change class (``differ/changes.py``) from the raw values. Where two or more
differences lie in one body list that is the other side's list shifted by a few positions
(``is_shifted``), they become one ``value`` difference at the list, class ``shifted``.
"""

from __future__ import annotations

from typing import Any, Final

from deepdiff import DeepDiff

from shadowdiff.differ.changes import change_of, is_shifted
from shadowdiff.differ.fields import FieldDiff, shown
from shadowdiff.differ.paths import Key, format_path
from shadowdiff.differ.plan import Plan
from shadowdiff.differ.tree_walk import Raw, walk
from shadowdiff.differ.trees import MISSING, get_at, same_multiset, strict_equal
from shadowdiff.differ.volatile import Times
from shadowdiff.vocabulary import ChangeClass, DiffKind, Part

__all__ = ["deepdiff_fields", "deepdiff_raws"]

_REPORT_KINDS: Final[dict[str, DiffKind]] = {
    "values_changed": DiffKind.VALUE,
    "type_changes": DiffKind.TYPE,
    "dictionary_item_removed": DiffKind.MISSING,
    "dictionary_item_added": DiffKind.EXTRA,
    "iterable_item_removed": DiffKind.MISSING,
    "iterable_item_added": DiffKind.EXTRA,
    "set_item_removed": DiffKind.MISSING,
    "set_item_added": DiffKind.EXTRA,
    "attribute_removed": DiffKind.MISSING,
    "attribute_added": DiffKind.EXTRA,
    "attribute_value_changed": DiffKind.VALUE,
    "repetition_change": DiffKind.LENGTH,
}


def _is_list_key(key: Key) -> bool:
    return type(key) is int


def _raws(old: Any, new: Any, plan: Plan) -> list[Raw]:
    """The differences of two trees: by the direct walk where it applies, else DeepDiff."""
    if not plan.unordered:
        found = walk(old, new)
        if found is not None:
            return found
    return deepdiff_raws(old, new, plan)


def deepdiff_raws(old: Any, new: Any, plan: Plan) -> list[Raw]:
    """DeepDiff's report on two trees, as Raw differences."""
    options: dict[str, Any] = {
        "verbose_level": 2,
        "view": "tree",
        "threshold_to_diff_deeper": 0,
        "zip_ordered_iterables": True,
        "ignore_nan_inequality": True,
        "ignore_private_variables": False,
        "cache_size": 0,
        "cache_purge_level": 0,
        "log_frequency_in_sec": 0,
    }
    if plan.unordered:
        options["ignore_order_func"] = lambda level: plan.is_unordered(
            level.path(output_format="list")
        )
        options["report_repetition"] = True
    result = DeepDiff(old, new, **options)
    raws: list[Raw] = []
    for report, levels in result.tree.items():
        kind = _REPORT_KINDS.get(report)
        if kind is None:
            continue
        for level in levels:
            use_t2 = report.endswith("_added")
            keys = tuple(level.path(output_format="list", use_t2=use_t2))
            if report == "repetition_change":
                rep = level.additional.get("repetition", {})
                raws.append(Raw(keys, kind, rep.get("old_repeat"), rep.get("new_repeat")))
            elif kind == DiffKind.MISSING:
                raws.append(Raw(keys, kind, level.t1, MISSING))
            elif kind == DiffKind.EXTRA:
                raws.append(Raw(keys, kind, MISSING, level.t2))
            else:
                raws.append(Raw(keys, kind, level.t1, level.t2))
    return raws


class _Converter:
    """DeepDiff's findings -> FieldDiffs: headers and status by part, list growth as one
    ``length`` diff per list, permuted lists as one ``order`` diff (each once per path)."""

    def __init__(self, old: Any, new: Any, plan: Plan, times: Times | None = None) -> None:
        self.old = old
        self.new = new
        self.plan = plan
        self.times = times
        self.permuted: dict[tuple[Key, ...], bool] = {}
        self.out: dict[tuple[str, str], FieldDiff] = {}
        self.lists: dict[tuple[Key, ...], list[tuple[str, str]]] = {}  # outermost list -> keys

    def add(self, part: Part, keys: tuple[Key, ...], kind: DiffKind, left: Any, right: Any) -> None:
        path = format_path(keys)
        if (path, kind) not in self.out:
            change = change_of(path, kind, left, right, self.times)
            self.out[(path, kind)] = FieldDiff(
                part, path, kind, shown(left), shown(right), None, change
            )
            if part == Part.BODY:
                self._note_list(keys, (path, kind))

    def _note_list(self, keys: tuple[Key, ...], key: tuple[str, str]) -> None:
        """Remember the outermost list at or above ``keys`` (a length diff sits at it)."""
        for depth in range(1, len(keys) + 1):
            prefix = keys[:depth]
            if type(get_at(self.old, prefix)) is list:
                self.lists.setdefault(prefix, []).append(key)
                return

    def collapse_shifted(self) -> None:
        """Two or more differences in one list shifted against the other side's: one."""
        for prefix, members in self.lists.items():
            if len(members) < 2:
                continue
            a, b = get_at(self.old, prefix), get_at(self.new, prefix)
            if not is_shifted(a, b):
                continue
            for key in members:
                self.out.pop(key, None)
            path = format_path(prefix)
            self.out[(path, DiffKind.VALUE)] = FieldDiff(
                Part.BODY, path, DiffKind.VALUE, shown(a), shown(b), None, ChangeClass.SHIFTED
            )

    def add_at(self, part: Part, keys: tuple[Key, ...], kind: DiffKind) -> None:
        """A diff whose sides are the old and new values at ``keys``."""
        self.add(part, keys, kind, get_at(self.old, keys), get_at(self.new, keys))

    def unordered(self, keys: tuple[Key, ...]) -> bool:
        return bool(self.plan.unordered) and self.plan.is_unordered(keys)

    def order_root(self, keys: tuple[Key, ...]) -> tuple[Key, ...] | None:
        """The outermost list on the way to ``keys`` that is a permutation of the other side's
        (None if there is none, or an ``ignore_order`` list comes first)."""
        for depth in range(len(keys)):
            prefix = keys[:depth]
            if not _is_list_key(keys[depth]):
                continue
            if self.unordered(prefix):
                return None  # DeepDiff already compared it as a multiset
            known = self.permuted.get(prefix)
            if known is None:
                a, b = get_at(self.old, prefix), get_at(self.new, prefix)
                known = (
                    type(a) is list
                    and type(b) is list
                    and not strict_equal(a, b)
                    and same_multiset(a, b)
                )
                self.permuted[prefix] = known
            if known:
                return prefix
        return None

    def convert(self, raw: Raw) -> None:
        keys = raw.keys
        if not keys:
            self.add(Part.BODY, keys, raw.kind, raw.left, raw.right)
            return
        head = keys[0]
        if head == "status":
            self.add_at(Part.STATUS, keys[:1], DiffKind.STATUS)
            return
        if head == "headers" and len(keys) >= 2:
            name = keys[:2]
            vo, vn = get_at(self.old, name), get_at(self.new, name)
            kind = (
                DiffKind.EXTRA
                if vo is MISSING
                else DiffKind.MISSING
                if vn is MISSING
                else DiffKind.HEADER
            )
            self.add(Part.HEADER, name, kind, vo, vn)
            return
        part = Part.HEADER if head == "headers" else Part.BODY
        root = self.order_root(keys)
        if root is not None:
            self.add_at(part, root, DiffKind.ORDER)
            return
        if raw.kind in (DiffKind.MISSING, DiffKind.EXTRA) and _is_list_key(keys[-1]):
            parent = keys[:-1]
            if not self.unordered(parent):
                a, b = get_at(self.old, parent), get_at(self.new, parent)
                length_a = len(a) if type(a) is list else None
                length_b = len(b) if type(b) is list else None
                self.add(part, parent, DiffKind.LENGTH, length_a, length_b)
                return
        self.add(part, keys, raw.kind, raw.left, raw.right)


def _convert(
    raws: list[Raw], old: Any, new: Any, plan: Plan, times: Times | None
) -> list[FieldDiff]:
    """DeepDiff's findings as FieldDiffs, sorted by path and kind (see ``_Converter``)."""
    converter = _Converter(old, new, plan, times)
    for raw in raws:
        converter.convert(raw)
    converter.collapse_shifted()
    return sorted(converter.out.values(), key=lambda f: (f.path, f.kind))


def deepdiff_fields(old: Any, new: Any, plan: Plan, times: Times | None = None) -> list[FieldDiff]:
    """The counting differences between two prepared trees, sorted by path and kind, each
    with its change class (``times``: the recording's and the replay's start, for
    timestamps)."""
    return _convert(_raws(old, new, plan), old, new, plan, times)
