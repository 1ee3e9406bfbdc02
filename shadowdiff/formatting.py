"""How shadowdiff writes numbers for people: rates, milliseconds, ratios (one place, same
everywhere: the report's renderers and the gate's lines).

>>> pct(0.41), pct(0.0007), pct(0.0), ms(3.14159), ratio(1.5)
('41.0%', '<0.1%', '0.0%', '3.1', '×1.50')
>>> share(0.99949), share(1.0), figure(4.9e-11), figure(1.0)
('99.94%', '100%', '4.9e-11', '1')
"""

from __future__ import annotations

import math
from typing import Final

DASH: Final = "–"


def pct(rate: float | None) -> str:
    """0.41 -> '41.0%'; a tiny non-zero rate is '<0.1%', never a rounded '0.0%' or '0.1%'."""
    if rate is None:
        return DASH
    if 0 < rate < 0.001:
        return "<0.1%"
    return f"{rate:.1%}"


def ms(value: float | None) -> str:
    """Milliseconds: one decimal below 100, none from 100 up."""
    if value is None:
        return DASH
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(value: float | None) -> str:
    """A new-vs-old ratio: '×1.50'."""
    return DASH if value is None else f"×{value:.2f}"


def share(rate: float | None) -> str:
    """An agreement share, rounded down so that it never reads 100% unless it is:
    0.99949 -> '99.94%', 1.0 -> '100%'."""
    if rate is None:
        return DASH
    if rate >= 1:
        return "100%"
    return f"{math.floor(rate * 10000) / 100:.2f}%"


def figure(value: float | None) -> str:
    """An error figure in three significant digits: 5e-11, 0.0213, 1, inf."""
    if value is None:
        return DASH
    return f"{value:.3g}"
