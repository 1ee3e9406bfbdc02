"""``tolerance`` rules below the path they match: every number in the subtree, by position.

Where a tolerance rule matches and no other rule reaches further down, the pre-pass hands the
pair to ``tolerate``: a new number close to the old one (``within_tolerance``) becomes the old
one, and the difference is recorded as absorbed. Only the new side changes, and containers
are copied only when something in them changed (copy-on-write, like the pre-pass).
"""

from __future__ import annotations

from typing import Any, Final

from shadowdiff.differ.fields import Absorbed
from shadowdiff.differ.ruleset import Rule
from shadowdiff.differ.tolerance import within_tolerance
from shadowdiff.differ.trees import MISSING, join_path
from shadowdiff.vocabulary import DiffKind

__all__ = ["tolerate"]

_INF: Final = float("inf")
_VALUE: Final = DiffKind.VALUE


def tolerate(o: Any, n: Any, tol: Rule, path: str, absorbed: list[Absorbed]) -> tuple[Any, Any]:
    """Tolerance below a matched path where no other rule reaches: numbers only.
    Only the new side changes (a close number becomes the old one)."""
    t = type(o)
    if t is dict:
        return o, (_tol_dict(o, n, tol, path, absorbed) if type(n) is dict else n)
    if t is list:
        return o, (_tol_list(o, n, tol, path, absorbed) if type(n) is list else n)
    if (t is float or t is int) and type(n) is t and o != n:
        if t is float and o == o and n == n:  # `within_tolerance` inlined (no NaN here)
            d, big, other = abs(o - n), abs(o), abs(n)
            limit, atol = tol.rel_tol * (big if big >= other else other), tol.abs_tol
            close = d <= (limit if limit >= atol else atol) and d != _INF
        else:
            close = tol.within_tolerance(o, n)
        if close:
            absorbed.append((path, _VALUE, o, n, tol))
            return o, o
    return o, n


def _tol_dict(
    o: dict[Any, Any], n: dict[Any, Any], tol: Rule, path: str, absorbed: list[Absorbed]
) -> Any:
    """``tolerate`` of two dicts: the new dict, copied only if a value changed."""
    rel, atol = tol.rel_tol, tol.abs_tol
    within = within_tolerance
    new_n: Any = None
    for k, co in o.items():
        cn = n.get(k, MISSING)
        if cn is co:
            continue
        tc = type(co)
        if tc is float:  # `within_tolerance`, inlined: this runs for every ruled number
            if type(cn) is not float or co == cn:
                continue
            d, big, other = abs(co - cn), abs(co), abs(cn)
            limit = rel * (big if big >= other else other)
            if not (d <= (limit if limit >= atol else atol)) or d == _INF:
                continue
            absorbed.append((join_path(path, k), _VALUE, co, cn, tol))
            rn = co
        elif tc is int:
            if type(cn) is not int or co == cn or not within(co, cn, rel, atol):
                continue
            absorbed.append((join_path(path, k), _VALUE, co, cn, tol))
            rn = co
        elif tc is dict and type(cn) is dict:
            rn = _tol_dict(co, cn, tol, join_path(path, k), absorbed)
            if rn is cn:
                continue
        elif tc is list and type(cn) is list:
            rn = _tol_list(co, cn, tol, join_path(path, k), absorbed)
            if rn is cn:
                continue
        else:
            continue
        if new_n is None:
            new_n = dict(n)
        new_n[k] = rn
    return n if new_n is None else new_n


def _tol_list(o: list[Any], n: list[Any], tol: Rule, path: str, absorbed: list[Absorbed]) -> Any:
    """``tolerate`` of two lists, position by position: the new list, copied only if an
    element changed."""
    rel, atol = tol.rel_tol, tol.abs_tol
    within = within_tolerance
    new_l: Any = None
    for i, (co, cn) in enumerate(zip(o, n, strict=False)):
        if co is cn:
            continue
        tc = type(co)
        if tc is float:  # `within_tolerance`, inlined: this runs for every ruled number
            if type(cn) is not float or co == cn:
                continue
            d, big, other = abs(co - cn), abs(co), abs(cn)
            limit = rel * (big if big >= other else other)
            if not (d <= (limit if limit >= atol else atol)) or d == _INF:
                continue
            absorbed.append((f"{path}[{i}]", _VALUE, co, cn, tol))
            rn = co
        elif tc is int:
            if type(cn) is not int or co == cn or not within(co, cn, rel, atol):
                continue
            absorbed.append((f"{path}[{i}]", _VALUE, co, cn, tol))
            rn = co
        elif tc is dict and type(cn) is dict:
            rn = _tol_dict(co, cn, tol, f"{path}[{i}]", absorbed)
            if rn is cn:
                continue
        elif tc is list and type(cn) is list:
            rn = _tol_list(co, cn, tol, f"{path}[{i}]", absorbed)
            if rn is cn:
                continue
        else:
            continue
        if new_l is None:
            new_l = list(n)
        new_l[i] = rn
    return n if new_l is None else new_l
