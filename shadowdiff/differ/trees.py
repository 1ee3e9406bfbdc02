"""Helpers on lifted trees shared by the pre-pass and the DeepDiff bridge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from shadowdiff.differ.normalize import canonical
from shadowdiff.differ.paths import Key, format_path

__all__ = [
    "IGNORED",
    "MISSING",
    "REMOVED",
    "get_at",
    "join_path",
    "same_multiset",
    "strict_equal",
]

#: Stands in, on both sides, for an ignored list element (so later indices keep their place).
IGNORED: Final = "<ignored>"


class Sentinel:
    """A named marker that can never be confused with a JSON value."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# Typed Any: they stand where tree values stand, and are only ever tested with `is`.
#: A node absent on one side.
MISSING: Final[Any] = Sentinel("MISSING")
#: Returned by the pre-pass: drop this node from its parent.
REMOVED: Final[Any] = Sentinel("REMOVED")

_KEY_TEXT: dict[str, str] = {}


def join_path(path: str, key: Key) -> str:
    """The written path of child ``key`` of ``path`` (``""`` is the root)."""
    if type(key) is int:
        return f"{path}[{key}]"
    name = key if type(key) is str else str(key)
    text = _KEY_TEXT.get(name)
    if text is None:
        text = format_path((name,))
        if len(_KEY_TEXT) < 65536:
            _KEY_TEXT[name] = text
    return f"{path}.{text}" if path else text


def strict_equal(a: Any, b: Any) -> bool:
    """Equality that tells ``1``, ``1.0`` and ``True`` apart; NaN equals NaN."""
    if a is b:
        return True
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is dict or ta is list:
        return bool(a == b) and canonical(a) == canonical(b)
    if ta is float and a != a:
        return bool(b != b)
    return bool(a == b)


def same_multiset(a: list[Any], b: list[Any]) -> bool:
    """Do two lists hold the same elements, each as often, in any order?"""
    if len(a) != len(b):
        return False
    return sorted(map(canonical, a)) == sorted(map(canonical, b))


def get_at(tree: Any, keys: Sequence[Key]) -> Any:
    """The node at ``keys``, or MISSING."""
    node = tree
    for k in keys:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return node
