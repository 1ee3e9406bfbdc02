"""What a run still has to send: the sampled exchanges without a stored outcome, per side."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from shadowdiff.records import Exchange, Run
from shadowdiff.store import Store

__all__ = ["Work", "pending_work", "sampled"]


def sampled(exchange_id: int, fraction: float | None) -> bool:
    """Whether an exchange is in a sample of that fraction (deterministic, so resume agrees)."""
    if fraction is None or fraction >= 1:
        return True
    digest = hashlib.blake2b(str(exchange_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


@dataclass(frozen=True)
class Work:
    """One exchange still to send, and to which side(s)."""

    exchange: Exchange
    candidate: bool
    baseline: bool


def pending_work(
    store: Store, run: Run, baseline: Run | None, exchanges: Iterable[Exchange]
) -> list[Work]:
    """What has no stored outcome yet, per side (so a resume never sends twice)."""
    done = store.replayed_ids(run.id)
    base_done = store.replayed_ids(baseline.id) if baseline is not None else None
    work = []
    for ex in exchanges:
        cand = ex.id not in done
        base = base_done is not None and ex.id not in base_done
        if cand or base:
            work.append(Work(ex, cand, base))
    return work
