"""Walk two lifted trees along a path pattern, pairing the leaves found on both sides.

`pair_leaves(segments, old, new, visit)` finds the nodes the pattern matches (on both sides),
then every leaf at or below each match, and calls ``visit(general_path, old_leaf, new_leaf)``
once per leaf present on both sides. General paths write list indices as ``[*]``, as
`generalize_path` does. A list of leaves under one general path is handed over whole:
``visit(general_path, old_list, new_list)`` with `is_leaf_list` true, so the caller loops over
``zip`` without a call per element. Where a ``**`` matches at a node, nothing below that node
is searched again for the same pattern (a leaf is paired once per pattern).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from shadowdiff.differ.paths import Segment, Wildcard
from shadowdiff.differ.trees import join_path

__all__ = ["SCALARS", "Visit", "is_leaf_list", "pair_leaves"]

#: Types of the leaves figures are kept for (bool is a label, not a number).
SCALARS: Final = frozenset({int, float, str, bool})
_ANY_KEY: Final = Wildcard.ANY_KEY
_ANY_INDEX: Final = Wildcard.ANY_INDEX
_DEEP: Final = Wildcard.DEEP
_MAX_DEPTH: Final = 64

Visit = Callable[[str, Any, Any], None]


def is_leaf_list(value: Any) -> bool:
    """A non-empty list of scalars (checked on its first element)."""
    return type(value) is list and bool(value) and type(value[0]) in SCALARS


def pair_leaves(segments: tuple[Segment, ...], old: Any, new: Any, visit: Visit) -> None:
    """Pair the leaves of `old` and `new` at and below the matches of `segments`."""
    _match(segments, 0, old, new, "", visit, 0)


def _match(
    segs: tuple[Segment, ...], i: int, o: Any, n: Any, path: str, visit: Visit, depth: int
) -> None:
    if depth > _MAX_DEPTH:
        return
    if i == len(segs):
        _leaves(o, n, path, visit, depth)
        return
    seg = segs[i]
    to, tn = type(o), type(n)
    if seg is _DEEP:
        if _matches_here(segs, i + 1, o, n):
            _match(segs, i + 1, o, n, path, visit, depth)
            return
        for key, co, cn in _children(o, n):
            _match(segs, i, co, cn, _child_path(path, key), visit, depth + 1)
        return
    if to is dict and tn is dict:
        if seg is _ANY_KEY:
            for key, co in o.items():
                if key in n:
                    _match(segs, i + 1, co, n[key], join_path(path, key), visit, depth + 1)
        elif type(seg) is str and seg in o and seg in n:
            _match(segs, i + 1, o[seg], n[seg], join_path(path, seg), visit, depth + 1)
    elif to is list and tn is list:
        cpath = f"{path}[*]"
        if seg is _ANY_INDEX:
            if i + 1 == len(segs) and is_leaf_list(o):
                visit(cpath, o, n)
                return
            for co, cn in zip(o, n, strict=False):
                _match(segs, i + 1, co, cn, cpath, visit, depth + 1)
        elif type(seg) is int and seg < len(o) and seg < len(n):
            _match(segs, i + 1, o[seg], n[seg], cpath, visit, depth + 1)


def _matches_here(segs: tuple[Segment, ...], i: int, o: Any, n: Any) -> bool:
    """Does the rest of the pattern (after a ``**``) match at or below this node? Only the
    next segment is looked at: a ``**`` stops descending where its next key appears."""
    if i == len(segs):
        return type(o) in SCALARS
    seg = segs[i]
    if seg is _ANY_KEY or type(seg) is str:
        return type(o) is dict and type(n) is dict and (seg is _ANY_KEY or seg in o)
    return type(o) is list and type(n) is list


def _children(o: Any, n: Any) -> list[tuple[str | int, Any, Any]]:
    if type(o) is dict and type(n) is dict:
        return [(k, v, n[k]) for k, v in o.items() if k in n]
    if type(o) is list and type(n) is list:
        return [(i, a, b) for i, (a, b) in enumerate(zip(o, n, strict=False))]
    return []


def _child_path(path: str, key: str | int) -> str:
    return f"{path}[*]" if type(key) is int else join_path(path, key)


def _leaves(o: Any, n: Any, path: str, visit: Visit, depth: int) -> None:
    to = type(o)
    if to in SCALARS:
        if type(n) in SCALARS:
            visit(path, o, n)
        return
    if depth > _MAX_DEPTH:
        return
    if to is dict and type(n) is dict:
        for key, co in o.items():
            if key in n:
                _leaves(co, n[key], join_path(path, key), visit, depth + 1)
    elif to is list and type(n) is list:
        cpath = f"{path}[*]"
        if is_leaf_list(o):
            visit(cpath, o, n)
            return
        for co, cn in zip(o, n, strict=False):
            _leaves(co, cn, cpath, visit, depth + 1)
