"""How the renderers write numbers: rates, milliseconds, ratios (one place, same everywhere)."""

from __future__ import annotations

from typing import Final

DASH: Final = "–"
SLOWER: Final = 1.2  # a p50 ratio above this is worth a colour
FASTER: Final = 0.8


def pct(rate: float | None) -> str:
    """0.41 -> '41.0%'; tiny non-zero rates keep a digit that shows they are not zero."""
    if rate is None:
        return DASH
    if 0 < rate < 0.001:
        return "<0.1%"
    return f"{rate:.1%}"


def ms(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(value: float | None) -> str:
    return DASH if value is None else f"×{value:.2f}"


def rate_level(rate: float) -> str:
    """A word for how bad a diff rate is: ok (0), low (< 1%), high."""
    if rate <= 0:
        return "ok"
    return "low" if rate < 0.01 else "high"


def ratio_level(value: float | None) -> str:
    """slower / faster / even for a new-vs-old latency ratio."""
    if value is None:
        return "even"
    if value > SLOWER:
        return "slower"
    return "faster" if value < FASTER else "even"
