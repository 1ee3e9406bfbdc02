"""DeepDiff on two prepared trees, and its report turned into FieldDiffs in our path syntax.

DeepDiff runs with ``verbose_level=2``, ``threshold_to_diff_deeper=0`` (dicts key by key),
``zip_ordered_iterables=True`` (lists position by position), no distance cache, and
``ignore_order_func`` only for lists an ``ignore_order`` rule names. Its findings become:
values_changed -> ``value``, type_changes -> ``type``, dictionary_item_removed/added ->
``missing``/``extra``, iterable items removed/added -> one ``length`` at the list, a list that is
a permutation of the other -> one ``order`` at the outermost such list; anything under
``status`` -> ``status``; under ``headers.<name>`` -> one diff at that header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from deepdiff import DeepDiff

from shadowdiff.differ.fields import FieldDiff, shown
from shadowdiff.differ.paths import Key, format_path
from shadowdiff.differ.plan import Plan
from shadowdiff.differ.trees import MISSING, get_at, same_multiset, strict_equal

__all__ = ["deepdiff_fields"]

_REPORT_KINDS: Final = {
    "values_changed": "value",
    "type_changes": "type",
    "dictionary_item_removed": "missing",
    "dictionary_item_added": "extra",
    "iterable_item_removed": "missing",
    "iterable_item_added": "extra",
    "set_item_removed": "missing",
    "set_item_added": "extra",
    "attribute_removed": "missing",
    "attribute_added": "extra",
    "attribute_value_changed": "value",
    "repetition_change": "length",
}


def _is_list_key(key: Key) -> bool:
    return type(key) is int


@dataclass(slots=True)
class _Raw:
    keys: tuple[Key, ...]
    kind: str
    left: Any
    right: Any


def _deepdiff(old: Any, new: Any, plan: Plan) -> list[_Raw]:
    options: dict[str, Any] = {
        "verbose_level": 2,
        "view": "tree",
        "threshold_to_diff_deeper": 0,
        "zip_ordered_iterables": True,
        "ignore_nan_inequality": True,
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
    raws: list[_Raw] = []
    for report, levels in result.tree.items():
        kind = _REPORT_KINDS.get(report)
        if kind is None:
            continue
        for level in levels:
            use_t2 = report.endswith("_added")
            keys = tuple(level.path(output_format="list", use_t2=use_t2))
            if report == "repetition_change":
                rep = level.additional.get("repetition", {})
                raws.append(_Raw(keys, kind, rep.get("old_repeat"), rep.get("new_repeat")))
            elif kind == "missing":
                raws.append(_Raw(keys, kind, level.t1, MISSING))
            elif kind == "extra":
                raws.append(_Raw(keys, kind, MISSING, level.t2))
            else:
                raws.append(_Raw(keys, kind, level.t1, level.t2))
    return raws


def _convert(raws: list[_Raw], old: Any, new: Any, plan: Plan) -> list[FieldDiff]:
    """DeepDiff's findings -> FieldDiffs: headers and status by part, list growth as one
    ``length`` diff per list, permuted lists as one ``order`` diff."""
    permuted: dict[tuple[Key, ...], bool] = {}

    def order_root(keys: tuple[Key, ...]) -> tuple[Key, ...] | None:
        for depth in range(len(keys)):
            prefix = keys[:depth]
            if not _is_list_key(keys[depth]):
                continue
            if plan.unordered and plan.is_unordered(prefix):
                return None  # DeepDiff already compared it as a multiset
            known = permuted.get(prefix)
            if known is None:
                a, b = get_at(old, prefix), get_at(new, prefix)
                known = (
                    type(a) is list
                    and type(b) is list
                    and not strict_equal(a, b)
                    and same_multiset(a, b)
                )
                permuted[prefix] = known
            if known:
                return prefix
        return None

    out: dict[tuple[str, str], FieldDiff] = {}

    def add(part: str, keys: tuple[Key, ...], kind: str, left: Any, right: Any) -> None:
        path = format_path(keys)
        if (path, kind) not in out:
            out[(path, kind)] = FieldDiff(part, path, kind, shown(left), shown(right), None)

    for raw in raws:
        keys = raw.keys
        if not keys:
            add("body", keys, raw.kind, raw.left, raw.right)
            continue
        head = keys[0]
        if head == "status":
            add("status", keys[:1], "status", get_at(old, keys[:1]), get_at(new, keys[:1]))
            continue
        if head == "headers" and len(keys) >= 2:
            name = keys[:2]
            vo, vn = get_at(old, name), get_at(new, name)
            kind = "extra" if vo is MISSING else "missing" if vn is MISSING else "header"
            add("header", name, kind, vo, vn)
            continue
        part = "header" if head == "headers" else "body"
        root = order_root(keys)
        if root is not None:
            add(part, root, "order", get_at(old, root), get_at(new, root))
            continue
        if raw.kind in ("missing", "extra") and _is_list_key(keys[-1]):
            parent = keys[:-1]
            if not (plan.unordered and plan.is_unordered(parent)):
                a, b = get_at(old, parent), get_at(new, parent)
                add(
                    part,
                    parent,
                    "length",
                    len(a) if type(a) is list else None,
                    len(b) if type(b) is list else None,
                )
                continue
        add(part, keys, raw.kind, raw.left, raw.right)
    return sorted(out.values(), key=lambda f: (f.path, f.kind))


def deepdiff_fields(old: Any, new: Any, plan: Plan) -> list[FieldDiff]:
    """The counting differences between two prepared trees, sorted by path and kind."""
    return _convert(_deepdiff(old, new, plan), old, new, plan)
