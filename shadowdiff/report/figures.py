"""How the renderers colour numbers: levels of a diff rate and of a latency ratio.

The numbers themselves are written by `shadowdiff.formatting` (pct, ms, ratio).
"""

from __future__ import annotations

from typing import Final

SLOWER: Final = 1.2  # a p50 ratio above this is worth a colour
FASTER: Final = 0.8


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
