"""Picking one signature of a run by its id (`report --signature`, `accept --signature`).

An id is the 12 hex digits shown by `report` and `query`; a unique prefix will do. An id the
run does not have is an error naming the nearest ids the run does have.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Final

from shadowdiff.errors import ShadowdiffError

NEAREST: Final = 3


def nearest(known: Iterable[str], wanted: str) -> list[str]:
    """Up to NEAREST of `known` closest to `wanted`: ids it starts, then the most alike."""
    ids = sorted(set(known))
    starting = [k for k in ids if k.startswith(wanted[:4])]
    alike = difflib.get_close_matches(wanted, ids, n=NEAREST, cutoff=0.0)
    return list(dict.fromkeys(starting + alike))[:NEAREST]


def pick_signature(
    known: Iterable[str], wanted: str, run: str, error: type[ShadowdiffError]
) -> str:
    """The one id of `known` that is `wanted` or starts with it; else `error` (one line)."""
    ids = sorted(set(known))
    wanted = wanted.strip().lower()
    if wanted in ids:
        return wanted
    matches = [k for k in ids if wanted and k.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:NEAREST])
        raise error(
            f"signature {wanted!r} is ambiguous in run {run!r} ({shown}); give more digits",
            field="signature",
        )
    if not ids:
        raise error(f"signature {wanted!r}: run {run!r} has no differing signatures")
    raise error(
        f"signature {wanted!r} is not among the {len(ids)} signatures of run {run!r}; "
        f"nearest: {', '.join(nearest(ids, wanted))}",
        field="signature",
    )
