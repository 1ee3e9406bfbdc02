"""Comparing a response body that was cut at a size cap.

A body recorded past the recorder's ``--max-body`` (``Exchange.response_truncated``) or
replayed past replay's ``--max-body`` (``Replay.flags`` holds ``truncated``) is only a
prefix: compared with a whole body it would always differ. Such a pair is compared by
prefix and size only, as one marker in the body of both trees::

    {"$truncated": {"prefix_equal": true, "cut": "old", "size_old": 16777216, "size_new": 20971520}}

``prefix_equal`` says whether the bytes both sides have agree and the sizes are consistent
with the cut (a whole body shorter than the other side's prefix differs). The old tree
always says ``true``; so equal prefixes are no difference, and unequal ones are one field
difference at ``body.$truncated.prefix_equal``. When the common bytes differ, both markers
also hold ``differs_at``, the first offset that differs (the same on both sides, so it is
shown with the body, not counted as a second difference).
"""

from __future__ import annotations

from typing import Any, Final

from shadowdiff.vocabulary import ReplayFlag

__all__ = ["TRUNCATED", "truncated_bodies"]

#: The `Replay.flags` marker of a body cut at replay's --max-body.
TRUNCATED: Final = ReplayFlag.TRUNCATED


def _first_difference(old: bytes, new: bytes) -> int | None:
    n = min(len(old), len(new))
    if old[:n] == new[:n]:
        return None
    lo, hi = 0, n  # the first differing offset is in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if old[lo:mid] == new[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def truncated_bodies(
    old: bytes, new: bytes, *, old_cut: bool, new_cut: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body markers of a pair where at least one side was cut (see the module doc)."""
    differs_at = _first_difference(old, new)
    consistent = (not old_cut or new_cut or len(new) >= len(old)) and (
        not new_cut or old_cut or len(old) >= len(new)
    )
    cut = "both" if old_cut and new_cut else "old" if old_cut else "new"
    info: dict[str, Any] = {"cut": cut, "size_old": len(old), "size_new": len(new)}
    if differs_at is not None:
        info["differs_at"] = differs_at
    equal = differs_at is None and consistent
    return (
        {"$truncated": {"prefix_equal": True, **info}},
        {"$truncated": {"prefix_equal": equal, **info}},
    )
