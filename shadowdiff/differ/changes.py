"""The change class of one counting difference (``ChangeClass``), and shifted lists.

Run only on differences DeepDiff found, never on the fast path of equal bodies, and bounded:
strings longer than ``MAX_CLASSIFIED`` are ``other`` without analysis, and the one regex
(word tokens) is linear.

``change_of`` decides, in order: a status difference is its pair (``500→200``); a key absent
on one side is ``null`` when the present side is JSON null, else ``absent``; a list's
``order`` is ``reordered``; a JSON null on either side is ``null``; both sides the same shape
of id/token/timestamp is ``volatile`` (``differ/volatile.py``); numbers are ``int-float``
(equal values, other types) or ``number``; strings are ``whitespace``, ``case``,
``number-format``, ``reordered``, ``affix`` or ``other``.

``shifted``: a list that equals the other side's shifted by 1..``MAX_SHIFT`` positions (an
off-by-one page) is one difference at the list, so the cause gives one signature whatever
inner fields happen to differ.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from shadowdiff.differ.trees import strict_equal
from shadowdiff.differ.volatile import Times, is_volatile
from shadowdiff.vocabulary import ChangeClass, DiffKind, status_change

__all__ = ["MAX_CLASSIFIED", "MAX_SHIFT", "change_of", "is_shifted", "string_change"]

MAX_CLASSIFIED: Final = 4096  # characters of a string classified; longer ones are `other`
MAX_SHIFT: Final = 8  # positions a shifted list may be off by
MAX_SHIFT_ITEMS: Final = 1000  # longer lists are never tested for a shift
_NUMBER_CHARS: Final = 64

_WORD: Final = re.compile(r"\w+")
_PRESENCE: Final = frozenset({DiffKind.MISSING, DiffKind.EXTRA})
_NUMBERS: Final = (int, float)


def change_of(path: str, kind: DiffKind, old: Any, new: Any, times: Times | None) -> str:
    """The class of the difference ``old`` -> ``new`` of ``kind`` at ``path`` (raw values;
    the absent side of a missing/extra one is ignored). See the module docstring."""
    if kind == DiffKind.STATUS:
        return status_change(old, new)
    if kind in _PRESENCE:
        present = old if kind == DiffKind.MISSING else new
        return ChangeClass.NULL if present is None else ChangeClass.ABSENT
    if kind == DiffKind.ORDER:
        return ChangeClass.REORDERED
    if kind == DiffKind.LENGTH:
        return ChangeClass.OTHER
    if old is None or new is None:
        return ChangeClass.NULL
    if is_volatile(path, old, new, times):
        return ChangeClass.VOLATILE
    to, tn = type(old), type(new)
    if to is str and tn is str:
        return string_change(old, new)
    if to in _NUMBERS and tn in _NUMBERS:
        return ChangeClass.INT_FLOAT if to is not tn and old == new else ChangeClass.NUMBER
    return ChangeClass.OTHER


def string_change(a: str, b: str) -> ChangeClass:
    """The class of a change between two strings (``volatile`` apart)."""
    if len(a) > MAX_CLASSIFIED or len(b) > MAX_CLASSIFIED:
        return ChangeClass.OTHER
    if "".join(a.split()) == "".join(b.split()):
        return ChangeClass.WHITESPACE
    if a.casefold() == b.casefold():
        return ChangeClass.CASE
    if _same_number(a, b):
        return ChangeClass.NUMBER_FORMAT
    if _reordered(a, b):
        return ChangeClass.REORDERED
    if _affix(a, b):
        return ChangeClass.AFFIX
    return ChangeClass.OTHER


def _same_number(a: str, b: str) -> bool:
    if len(a) > _NUMBER_CHARS or len(b) > _NUMBER_CHARS:
        return False
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isfinite(x) and x == y


def _reordered(a: str, b: str) -> bool:
    """The same word tokens (at least two) in another order."""
    ta, tb = _WORD.findall(a), _WORD.findall(b)
    return len(ta) >= 2 and ta != tb and sorted(ta) == sorted(tb)


def _affix(a: str, b: str) -> bool:
    """One is the other with text added: once the common head and tail are taken off, the
    shorter rest is empty or inside the longer (``{not json`` -> ``b'{not json'``)."""
    short = min(len(a), len(b))
    i = 0
    while i < short and a[i] == b[i]:
        i += 1
    j = 0
    while j < short - i and a[-1 - j] == b[-1 - j]:
        j += 1
    ra, rb = a[i : len(a) - j], b[i : len(b) - j]
    if len(ra) > len(rb):
        ra, rb = rb, ra
    return ra in rb


def is_shifted(a: Any, b: Any) -> bool:
    """Whether list ``b`` is list ``a`` shifted by 1..MAX_SHIFT positions either way (the
    overlap at least two items and at least half the shorter list)."""
    if type(a) is not list or type(b) is not list:
        return False
    if max(len(a), len(b)) > MAX_SHIFT_ITEMS:
        return False
    return _shifted_by(a, b) or _shifted_by(b, a)


def _shifted_by(a: list[Any], b: list[Any]) -> bool:
    """``b`` starts ``k`` items into ``a``."""
    for k in range(1, MAX_SHIFT + 1):
        m = min(len(a) - k, len(b))
        if m < 2 or 2 * m < min(len(a), len(b)):
            return False
        if all(strict_equal(a[k + i], b[i]) for i in range(m)):
            return True
    return False
