"""The closeness test of ``tolerance`` rules, defined once.

Two numbers are close when ``|a - b| <= max(rel * max(|a|, |b|), abs)``: symmetric, relative
to the larger magnitude, with an absolute floor for values near zero. ``digits = d`` in a rule
means ``rel = 10 ** -d``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["within_tolerance"]

_INF: Final = float("inf")


def within_tolerance(a: float, b: float, rel: float, abs_: float) -> bool:
    """Is ``|a - b| <= max(rel * max(|a|, |b|), abs_)``? Never for an infinite difference
    (an infinity against anything else), a NaN, or ints too large for a float. Callers decide
    whether equal values and two NaNs count as close; the pre-pass calls this per number."""
    try:
        d = abs(a - b)
        return d <= max(rel * max(abs(a), abs(b)), abs_) and d != _INF
    except OverflowError:  # ints too large for a float
        return False
